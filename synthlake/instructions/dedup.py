"""Exact and near-duplicate marking of instruction rows (MinHash LSH with datasketch).

Rows come in *keep order* (the first of a group is the one kept). A row whose normalized
text hash was seen before is an ``exact_duplicate`` of the first row with that hash; any
other row is looked up in a ``datasketch.MinHashLSH`` index of the rows kept so far and,
if a candidate's estimated Jaccard similarity reaches the threshold, it is a
``near_duplicate`` of the most similar one. Nothing is deleted: every row comes back with
``drop_reason``, ``duplicate_of`` and ``similarity``.

Signatures are computed here, vectorized, instead of with ``MinHash.update_batch`` per
row: that call hashes every shingle with SHA-1 in a Python loop and costs ~1 ms a row
(200k rows: minutes). Words are hashed by DuckDB (``hash()``, in C, on all cores),
combined into word n-gram shingles with numpy, and pushed through datasketch's own
permutations (``affine32`` scheme: MurmurHash3 finalizer, then ``a*h + b mod 2^32``) in
chunks; the result is bit-for-bit what ``MinHash(hashfunc=...).update_batch`` gives for
the same shingle hashes (a unit test checks it), and the LSH index, banding and Jaccard
estimate are datasketch's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from synthlake.errors import SettingsError

log = logging.getLogger(__name__)

DROP_REASONS = ("exact_duplicate", "near_duplicate")
PERM_BLOCK = 16  # permutations per numpy block: 16 x 2^20 shingles x 4 B = 64 MB
BATCH_ROWS = 16_384  # texts per batch from DuckDB: bounds the shingle arrays (~150 MB)
SCHEME = "affine32"
_WORDS_SQL = r"""
select list_transform(
    list_filter(
        string_split(regexp_replace(normalized_text, '[^\p{L}\p{N}]+', ' ', 'g'), ' '),
        lambda w: w <> ''
    ),
    lambda w: hash(w)
) as word_hashes
from rows
"""

DEDUP_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text_hash", pa.string()),
        ("n_words", pa.int64()),
        ("is_kept", pa.bool_()),
        ("drop_reason", pa.string()),
        ("duplicate_of", pa.string()),
        ("similarity", pa.float64()),
    ]
)


@dataclass(frozen=True, slots=True)
class DedupConfig:
    threshold: float = 0.8
    num_perm: int = 128
    shingle_words: int = 3
    seed: int = 1  # of datasketch's permutations; fixed so results are reproducible
    chunk_shingles: int = 1 << 20  # shingles per numpy block (see PERM_BLOCK)

    @classmethod
    def from_settings(cls, settings) -> DedupConfig:  # noqa: ANN001 - any Settings
        return cls(
            threshold=settings.dedup_minhash_threshold,
            num_perm=settings.dedup_num_perm,
            shingle_words=settings.dedup_shingle_words,
        )


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (datasketch's pre-mix for the affine32 scheme)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def permutations(config: DedupConfig) -> np.ndarray:
    """datasketch's (a, b) permutation parameters for this seed and size."""
    from datasketch import MinHash

    return MinHash(num_perm=config.num_perm, seed=config.seed, scheme=SCHEME).permutations


def word_hashes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(flat uint64 word hashes, offsets) of normalized texts, split and hashed in DuckDB."""
    words, offsets = [], [np.zeros(1, dtype=np.int64)]
    for batch_words, batch_offsets in iter_word_hashes(texts):
        words.append(batch_words)
        offsets.append(batch_offsets[1:] + offsets[-1][-1])
    if not words:
        return np.zeros(0, dtype=np.uint64), np.zeros(1, dtype=np.int64)
    return np.concatenate(words), np.concatenate(offsets)


def iter_word_hashes(
    texts: pa.Array, batch_rows: int = BATCH_ROWS
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``word_hashes`` in batches of ``batch_rows`` texts, in order (bounded memory)."""
    import duckdb

    with duckdb.connect() as con:
        con.register("rows", pa.table({"normalized_text": texts}))
        for batch in con.sql(_WORDS_SQL).arrow(batch_size=batch_rows):
            column = batch.column(0)
            if column.null_count:
                column = column.fill_null(pa.scalar([], column.type))
            flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.uint64, copy=False)
            offsets = np.asarray(column.offsets.to_numpy(), dtype=np.int64)
            yield flat, offsets - offsets[0]


def signatures_of(texts: pa.Array, config: DedupConfig) -> tuple[np.ndarray, np.ndarray]:
    """(MinHash signatures, word counts) of normalized texts, computed batch by batch."""
    sigs = np.empty((len(texts), config.num_perm), dtype=np.uint32)
    n_words = np.empty(len(texts), dtype=np.int64)
    row = 0
    for words, offsets in iter_word_hashes(texts):
        n = len(offsets) - 1
        shingles, shingle_offsets = shingle_hashes(words, offsets, config.shingle_words)
        sigs[row : row + n] = signatures(shingles, shingle_offsets, config)
        n_words[row : row + n] = np.diff(offsets)
        row += n
    return sigs, n_words


def shingle_hashes(words: np.ndarray, offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of each document's word n-grams, and per-document offsets.

    A document shorter than ``n`` words is one shingle of all its words; an empty one
    has none. The n-gram hash is a polynomial over the 64-bit word hashes (wrapping),
    folded to 32 bits.
    """
    lengths = np.diff(offsets)
    counts = np.where(lengths == 0, 0, np.maximum(lengths - n + 1, 1))
    starts = np.repeat(offsets[:-1], counts)
    doc_len = np.repeat(lengths, counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    positions = starts + (np.arange(counts.sum(), dtype=np.int64) - first)
    ends = starts + doc_len  # one past the document's last word
    acc = np.zeros(len(positions), dtype=np.uint64)
    k_mult = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for k in range(n):
            idx = positions + k
            inside = idx < ends
            word = np.where(inside, words[np.minimum(idx, len(words) - 1)], np.uint64(0))
            acc = acc * k_mult + np.where(inside, word + np.uint64(k + 1), np.uint64(0))
    folded = (acc ^ (acc >> np.uint64(32))).astype(np.uint32)
    shingle_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return folded, shingle_offsets


def signatures(
    shingles: np.ndarray, offsets: np.ndarray, config: DedupConfig, *, workers: int = 2
) -> np.ndarray:
    """MinHash signatures, shape (documents, num_perm), uint32; empty docs stay all-max.

    Computed permutation-major (a block of permutations x a block of shingles at a time):
    each document's shingles are then contiguous in memory for ``minimum.reduceat``, and
    the blocks bound the memory (about 4 bytes x PERM_BLOCK x chunk_shingles per worker).
    """
    a, b = permutations(config)
    n_docs = len(offsets) - 1
    out = np.full((config.num_perm, n_docs), np.iinfo(np.uint32).max, dtype=np.uint32)
    mixed = _fmix32(shingles)
    tasks = [
        (doc_lo, doc_hi, p)
        for doc_lo, doc_hi in _doc_blocks(offsets, config.chunk_shingles)
        for p in range(0, config.num_perm, PERM_BLOCK)
    ]

    buffers = threading.local()  # one scratch block per worker: no 64 MB allocation per task

    def block(doc_lo: int, doc_hi: int, p: int) -> None:
        lo, hi = offsets[doc_lo], offsets[doc_hi]
        if hi == lo:
            return
        local = offsets[doc_lo : doc_hi + 1] - lo
        nonempty = np.flatnonzero(np.diff(local) > 0)
        a_blk, b_blk = a[p : p + PERM_BLOCK, None], b[p : p + PERM_BLOCK, None]
        scratch = getattr(buffers, "block", None)
        if scratch is None or scratch.shape[1] < hi - lo:
            scratch = buffers.block = np.empty((PERM_BLOCK, hi - lo), dtype=np.uint32)
        phv = scratch[: len(a_blk), : hi - lo]
        with np.errstate(over="ignore"):
            np.multiply(a_blk, mixed[None, lo:hi], out=phv)
            phv += b_blk
        out[p : p + PERM_BLOCK, doc_lo + nonempty] = np.minimum.reduceat(
            phv, local[:-1][nonempty], axis=1
        )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda task: block(*task), tasks))
    return np.ascontiguousarray(out.T)


def _doc_blocks(offsets: np.ndarray, per_block: int) -> Iterator[tuple[int, int]]:
    """Ranges of documents holding about ``per_block`` shingles each."""
    n_docs = len(offsets) - 1
    lo = 0
    while lo < n_docs:
        target = offsets[lo] + per_block
        hi = int(np.searchsorted(offsets, target, side="right")) - 1
        hi = min(max(hi, lo + 1), n_docs)
        yield lo, hi
        lo = hi


class BandIndex:
    """A ``datasketch.MinHashLSH`` fed band keys computed for all rows at once.

    ``MinHashLSH.insert``/``query`` rebuild each band's key from the sketch on every call
    (a numpy byteswap per band, ~1.5 µs each, 9-30 bands per row, twice per row); here
    the keys come from one byteswap of the whole signature matrix and go into the
    index's own hash tables, in exactly the bytes ``MinHashLSH`` uses, so the index
    stays a plain datasketch LSH (``lsh.query(minhash)`` gives the same answers; a unit
    test checks it).
    """

    def __init__(self, lsh: object, sigs: np.ndarray) -> None:
        self.lsh = lsh
        self.tables = lsh.hashtables
        starts = [start for start, _ in lsh.hashranges]
        self.band_bytes = (lsh.hashranges[0][1] - lsh.hashranges[0][0]) * sigs.itemsize
        self.offsets = [start * sigs.itemsize for start in starts]
        self.row_bytes = sigs.shape[1] * sigs.itemsize
        self.raw = np.ascontiguousarray(sigs).byteswap().tobytes()

    def keys(self, i: int) -> list[bytes]:
        base, size = i * self.row_bytes, self.band_bytes
        return [self.raw[base + off : base + off + size] for off in self.offsets]

    def query(self, keys: list[bytes]) -> set[int]:
        found: set[int] = set()
        for key, table in zip(keys, self.tables, strict=True):
            found.update(table.get(key))
        return found

    def insert(self, i: int, keys: list[bytes]) -> None:
        self.lsh.keys.insert(i, *keys)
        for key, table in zip(keys, self.tables, strict=True):
            table.insert(key, i)


def deduplicate(rows: pa.Table, config: DedupConfig) -> pa.Table:
    """Mark duplicates in ``rows`` (id, normalized_text, text_hash), given in keep order."""
    from datasketch import MinHashLSH

    n = rows.num_rows
    ids = rows.column("id").to_pylist()
    hashes = rows.column("text_hash").to_pylist()
    sigs, n_words = signatures_of(rows.column("normalized_text").combine_chunks(), config)

    try:
        lsh = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm)
    except ValueError as exc:
        raise SettingsError(
            f"dedup_minhash_threshold={config.threshold} with dedup_num_perm={config.num_perm}: "
            f"{exc}; lower the threshold or raise the number of permutations"
        ) from None
    index = BandIndex(lsh, sigs)
    first_of_hash: dict[str, int] = {}
    reason: list[str | None] = [None] * n
    dup_of: list[str | None] = [None] * n
    similarity: list[float | None] = [None] * n
    for i in range(n):
        seen = first_of_hash.get(hashes[i])
        if seen is not None:
            kept = dup_of[seen] or ids[seen]  # point at the row that is kept
            reason[i], dup_of[i], similarity[i] = "exact_duplicate", kept, 1.0
            continue
        first_of_hash[hashes[i]] = i
        if n_words[i] == 0:
            continue  # nothing to shingle: exact matching only
        keys = index.keys(i)
        candidates = sorted(index.query(keys))  # sorted: ties go to the earliest row
        if candidates:
            scores = (sigs[candidates] == sigs[i]).mean(axis=1)
            best = int(np.argmax(scores))
            if scores[best] >= config.threshold:
                j = candidates[best]
                reason[i], dup_of[i], similarity[i] = "near_duplicate", ids[j], float(scores[best])
                continue
        index.insert(i, keys)
    out = pa.table(
        {
            "id": ids,
            "text_hash": hashes,
            "n_words": n_words.astype(np.int64),
            "is_kept": [r is None for r in reason],
            "drop_reason": reason,
            "duplicate_of": dup_of,
            "similarity": similarity,
        },
        schema=DEDUP_SCHEMA,
    )
    counts = {r: reason.count(r) for r in DROP_REASONS}
    log.info("dedup: read %d, kept %d, dropped %s", n, n - sum(counts.values()), counts)
    return out

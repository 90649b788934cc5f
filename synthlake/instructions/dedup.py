"""Exact and near-duplicate marking of instruction rows (MinHash LSH, datasketch's banding).

Rows have a *keep order* (the first of a group is the one kept): their ``keep_rank``
column, or the order they come in when there is none. A row whose text hash was seen
earlier in keep order is an ``exact_duplicate`` of the first row with that hash; any other
row is compared with the rows kept so far that share a MinHash LSH band with it and, if
a candidate's estimated Jaccard similarity reaches the threshold, it is a
``near_duplicate`` of the most similar one (the earliest on a tie). Nothing is deleted:
every row comes back with ``drop_reason``, ``duplicate_of`` and ``similarity``. The
verdicts are those of a ``datasketch.MinHashLSH`` fed the rows one by one in keep order
(insert the kept rows, query every row; a unit test checks it against datasketch). The
permutations and the banding are datasketch's, computed here (unit tests check them
equal), so that a run does not import datasketch and with it scipy.

Memory is bounded by the batch, not the table (at 760k rows the table's texts and
signatures would be about 0.5 GB and 0.4 GB; datatrove streams signatures to disk, and so
does this module):

1. The input is read once, in Arrow record batches of ``batch_rows`` rows (the dbt model
   hands over a DuckDB relation, read as a stream: the table is never loaded whole).
   Words are split and hashed by DuckDB (``hash()``, in C), combined into word n-gram shingles
   with numpy, and pushed through datasketch's permutations (``affine32`` scheme:
   MurmurHash3 finalizer, then ``a*h + b mod 2^32``) in blocks of ``chunk_shingles``;
   the result is bit-for-bit what ``MinHash(hashfunc=...).update_batch`` gives for the
   same shingle hashes (a unit test checks it). Each batch's signatures go to a
   temporary file, its 64-bit hash per LSH band to another, and its ids and text
   hashes to a third (Arrow IPC); what stays in memory per row is a 64-bit hash of the
   text hash, the word count and the keep rank (20 bytes). Rows signed before
   (``sign_rows``, stored by the incremental ``int_instructions_minhash``) bring their
   signature instead of their text, so a refresh signs only its new rows and still
   compares every row with every other.
2. Exact duplicates: rows sorted by text-hash hash, ties in keep order (equal strings are
   checked, read back from the keys' file for the rows whose hash repeats, so a 64-bit
   collision cannot merge two texts).
3. LSH buckets: per band (read back from its file, one band at a time), the band hashes
   of the rows that are not exact duplicates are sorted; a row whose every bucket holds
   only itself can neither match nor be matched, and is kept without more work. A second
   pass gives bucket ids to the other rows only (the ones sharing a bucket with another
   row: a few percent on real data), and they go through the sequential keep-order pass,
   with compact integer bucket ids in linked lists of int32 arrays instead of
   datasketch's dict of byte keys; a row's signature and its candidates' are read back
   from the temporary file only when it has candidates. A candidate counts only if one of
   its bands is equal to the row's, value for value (as in datasketch), so a 64-bit
   band-hash collision adds no candidate.
4. The result is a stream of record batches (``deduplicate_batches``), one per batch of
   the keys' file: ids and text hashes read back, verdicts from a few arrays per row.

What a run holds, measured at 760k rows (``bench/peers/dedup.py``; bench/README.md has
the figures): the interpreter with numpy, pyarrow and DuckDB, DuckDB's reading of the
input, one batch's words and signing (``chunk_shingles`` bounds the blocks: 2^16 shingles
took about 10 MB less than 2^18, at the same speed), and the per-row arrays above.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from array import array
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from synthlake.errors import SettingsError

log = logging.getLogger(__name__)

DROP_REASONS = ("exact_duplicate", "near_duplicate")
PERM_BLOCK = 16  # permutations per numpy block: 16 x chunk_shingles x 4 B per worker
BATCH_ROWS = 8_192  # rows per record batch read from the input
SCHEME = "affine32"
_WORDS = r"""
list_transform(
    list_filter(
        string_split(regexp_replace(normalized_text, '[^\p{L}\p{N}]+', ' ', 'g'), ' '),
        lambda w: w <> ''
    ),
    lambda w: hash(w)
)
"""
_WORDS_SQL = f"select {_WORDS} as word_hashes from rows"
_BATCH_SQL = f"select {_WORDS} as word_hashes, hash(text_hash) as hash_code from rows"

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
KEY_SCHEMA = pa.schema([("id", pa.string()), ("text_hash", pa.string())])
SIGNATURE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text_hash", pa.string()),
        ("n_words", pa.int32()),
        ("signature", pa.binary()),
        ("minhash_config", pa.string()),
    ]
)
_EXACT, _NEAR = 1, 2  # codes of DROP_REASONS (0: kept)
Rows = Any  # a pyarrow Table, an iterable of RecordBatches or a duckdb relation


@dataclass(frozen=True, slots=True)
class DedupConfig:
    threshold: float = 0.8
    num_perm: int = 128
    shingle_words: int = 3
    seed: int = 1  # of datasketch's permutations; fixed so results are reproducible
    chunk_shingles: int = 1 << 16  # shingles per numpy block (see PERM_BLOCK)
    batch_rows: int = BATCH_ROWS  # rows per batch read (bounds the per-batch arrays)

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
    """datasketch's (a, b) permutation parameters of the ``affine32`` scheme for this seed
    and size: ``MinHash(num_perm, seed, scheme="affine32").permutations`` (a unit test
    checks them equal). Drawn here, from the same seeded generator, because importing
    datasketch imports scipy: 60 MB of RSS (137 against 77 MB), for two small arrays."""
    gen = np.random.RandomState(config.seed)
    a = gen.randint(0, 1 << 31, config.num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, config.num_perm, dtype=np.uint32)
    return np.array([a, b])


def bands_of(config: DedupConfig) -> list[tuple[int, int]]:
    """datasketch's LSH band ranges (b bands of r permutations) for this threshold: the
    ``hashranges`` of ``MinHashLSH(threshold, num_perm)`` (a unit test checks them equal
    over a grid of settings), without importing datasketch (see ``permutations``)."""
    threshold, num_perm = config.threshold, config.num_perm
    if not 0.0 <= threshold <= 1.0:
        problem = "the threshold must be in [0.0, 1.0]"
    elif num_perm < 2:
        problem = "too few permutations"
    else:
        n_bands, rows = optimal_bands(threshold, num_perm)
        if n_bands >= 2:
            return [(k * rows, (k + 1) * rows) for k in range(n_bands)]
        problem = f"the number of bands is too small ({n_bands} < 2)"
    raise SettingsError(
        f"dedup_minhash_threshold={threshold} with dedup_num_perm={num_perm}: "
        f"{problem}; lower the threshold or raise the number of permutations"
    )


def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """The (bands, rows per band) that minimize the sum of the false positive and false
    negative probability masses around ``threshold``, equally weighted: datasketch's
    choice, the first minimum in (bands, rows) order.

    A pair of Jaccard similarity s shares a band with probability 1 - (1 - s^r)^b: a
    polynomial of degree b*r <= num_perm, which Gauss-Legendre quadrature with
    num_perm/2 + 1 nodes integrates exactly (datasketch asks scipy's adaptive ``quad``)."""
    pairs = np.array(
        [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)],
        dtype=np.float64,
    )
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)
    b, r = pairs[:, :1], pairs[:, 1:]

    def mass(lo: float, hi: float, above: bool) -> np.ndarray:
        s = (hi - lo) / 2 * nodes + (hi + lo) / 2
        shares_a_band = 1.0 - (1.0 - s[None, :] ** r) ** b
        values = 1.0 - shares_a_band if above else shares_a_band
        return (hi - lo) / 2 * (values @ weights)

    error = 0.5 * mass(0.0, threshold, False) + 0.5 * mass(threshold, 1.0, True)
    best = int(np.argmin(error))
    return int(pairs[best, 0]), int(pairs[best, 1])


def word_hashes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(flat uint64 word hashes, offsets) of normalized texts, split and hashed in DuckDB."""
    import duckdb

    with duckdb.connect() as con:
        con.register("rows", pa.table({"normalized_text": texts}))
        return _flatten_words(con.sql(_WORDS_SQL).to_arrow_table().column(0))


def _flatten_words(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    column = column.combine_chunks()
    if column.null_count:
        column = column.fill_null(pa.scalar([], column.type))
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.uint64, copy=False)
    offsets = np.asarray(column.offsets.to_numpy(), dtype=np.int64)
    return flat, offsets - offsets[0]


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
    shingles: np.ndarray,
    offsets: np.ndarray,
    config: DedupConfig,
    *,
    workers: int = 2,
    pool: ThreadPoolExecutor | None = None,
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

    buffers = threading.local()  # one scratch block per worker: no allocation per task

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

    if pool is None:
        with ThreadPoolExecutor(max_workers=workers) as own:
            list(own.map(lambda task: block(*task), tasks))
    else:
        list(pool.map(lambda task: block(*task), tasks))
    return np.ascontiguousarray(out.T)


def _doc_blocks(offsets: np.ndarray, per_block: int) -> Iterator[tuple[int, int]]:
    """Ranges of documents holding about ``per_block`` shingles (or words) each."""
    n_docs = len(offsets) - 1
    lo = 0
    while lo < n_docs:
        target = offsets[lo] + per_block
        hi = int(np.searchsorted(offsets, target, side="right")) - 1
        hi = min(max(hi, lo + 1), n_docs)
        yield lo, hi
        lo = hi


def band_hashes(sigs: np.ndarray, bands: list[tuple[int, int]]) -> np.ndarray:
    """One 64-bit hash per LSH band and row, shape (bands, rows): equal bands, equal hashes."""
    out = np.empty((len(bands), len(sigs)), dtype=np.uint64)
    mult = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for k, (start, end) in enumerate(bands):
            h = np.full(len(sigs), np.uint64(0xCBF29CE484222325 ^ k), dtype=np.uint64)
            for col in range(start, end):
                h ^= sigs[:, col].astype(np.uint64)
                h *= mult
                h ^= h >> np.uint64(29)
            out[k] = h
    return out


def _batches(rows: Rows, size: int) -> Iterator[pa.RecordBatch]:
    """Record batches of at most ``size`` rows, in order.

    A DuckDB relation is read with the words already split and hashed (and the text hash
    hashed) by its own DuckDB, in the scan: the texts never come over to Python.
    """
    import duckdb

    if isinstance(rows, duckdb.DuckDBPyRelation):
        rank = ", keep_rank" if "keep_rank" in rows.columns else ""
        if "signature" in rows.columns:  # signed before: no words to hash
            what = "n_words, signature"
        else:
            what = f"{_WORDS} as word_hashes"
        rows = rows.project(f"id, text_hash{rank}, {what}, hash(text_hash) as hash_code").arrow(
            batch_size=size
        )
    source = rows.to_batches(max_chunksize=size) if isinstance(rows, pa.Table) else rows
    for batch in source:
        for start in range(0, batch.num_rows, size):
            yield batch.slice(start, size)


class _KeyFile:
    """The rows' ids and text hashes, in read order, in an Arrow IPC temporary file.

    At 760k rows they are 60 MB that only the result and the exact-duplicate check need:
    the result reads them back batch by batch, the check only the rows it compares.
    """

    def __init__(self, spill_dir: str | os.PathLike[str] | None) -> None:
        self._file = tempfile.TemporaryFile(dir=spill_dir, prefix="synthlake-dedup-keys-")
        self._writer: Any = pa.ipc.new_file(self._file, KEY_SCHEMA)
        self._reader: Any = None
        self.blocks: list[int] = []  # rows per record batch

    def append(self, ids: pa.Array, text_hash: pa.Array) -> None:
        self._writer.write_batch(pa.record_batch([ids, text_hash], schema=KEY_SCHEMA))
        self.blocks.append(len(ids))

    def batches(self) -> Iterator[pa.RecordBatch]:
        reader = self._open()
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)

    def take(self, column: str, positions: np.ndarray) -> pa.Array:
        """The values of ``column`` at read ``positions`` (any order), in their order."""
        positions = np.asarray(positions, dtype=np.int64)
        order = np.argsort(positions, kind="stable")
        wanted = positions[order]
        reader = self._open()
        pieces = [pa.array([], KEY_SCHEMA.field(column).type)]
        start = 0
        for i, m in enumerate(self.blocks):
            lo, hi = np.searchsorted(wanted, [start, start + m])
            if hi > lo:
                values = reader.get_batch(i).column(column)
                pieces.append(values.take(pa.array(wanted[lo:hi] - start)))
            start += m
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return pa.concat_arrays(pieces).take(pa.array(inverse))

    def column(self, name: str) -> _KeyColumn:
        return _KeyColumn(self, name)

    def _open(self) -> Any:
        if self._reader is None:
            self._writer.close()
            self._file.flush()
            self._reader = pa.ipc.open_file(self._file)
        return self._reader

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True, slots=True)
class _KeyColumn:
    """One column of a ``_KeyFile``, with ``take`` as an Arrow array's."""

    keys: _KeyFile
    name: str

    def take(self, positions: np.ndarray) -> pa.Array:
        return self.keys.take(self.name, positions)


@dataclass(slots=True)
class _Scan:
    """What pass 1 keeps per row (in read order) and the signatures' temporary file."""

    hash_codes: np.ndarray
    n_words: np.ndarray
    keep_rank: np.ndarray | None
    band_blocks: list[int]  # rows per block of ``band_spill``, in read order
    spill: IO[bytes]  # signatures: (rows, num_perm) uint32, row after row
    band_spill: IO[bytes]  # band hashes: per block of rows, (n_bands, rows) uint64

    def band(self, k: int, n_bands: int) -> np.ndarray:
        """Band ``k``'s hash of every row (read order), read back from ``band_spill``."""
        out = np.empty(sum(self.band_blocks), dtype=np.uint64)
        fd = self.band_spill.fileno()
        file_pos = row = 0
        for m in self.band_blocks:
            raw = os.pread(fd, m * 8, file_pos + k * m * 8)
            out[row : row + m] = np.frombuffer(raw, dtype=np.uint64)
            file_pos += n_bands * m * 8
            row += m
        return out


class _LazyConnection:
    """An in-memory DuckDB connection opened on first use: rows that come with their words
    hashed (a relation) or their signatures never need one (each costs ~25 MB)."""

    def __init__(self) -> None:
        self._con: Any = None

    def __call__(self) -> Any:
        if self._con is None:
            import duckdb

            self._con = duckdb.connect()
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()


def _scan(
    rows: Rows,
    config: DedupConfig,
    bands: list[tuple[int, int]],
    spill: IO[bytes],
    band_spill: IO[bytes],
    keys: _KeyFile,
) -> tuple[_Scan, int]:
    """Pass 1: read the rows batch by batch; signatures to ``spill``, band hashes to
    ``band_spill``, ids and text hashes to ``keys``, compact per-row data in memory."""
    hash_codes: list[np.ndarray] = []
    n_words: list[np.ndarray] = []
    keep_rank: list[np.ndarray] = []
    band_blocks: list[int] = []
    n = 0

    def spill_bands(sigs: np.ndarray) -> None:
        band_hashes(sigs, bands).tofile(band_spill)
        band_blocks.append(len(sigs))

    con = _LazyConnection()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for batch in _batches(rows, config.batch_rows):
                m = batch.num_rows
                if m == 0:
                    continue
                names = batch.schema.names
                ids = batch.column(names.index("id")).cast(pa.string())
                text_hash = batch.column(names.index("text_hash")).cast(pa.string())
                keys.append(ids, text_hash)
                if "keep_rank" in names:
                    ranks = batch.column(names.index("keep_rank")).to_numpy(zero_copy_only=False)
                    keep_rank.append(ranks.astype(np.int64))
                if "signature" in names:  # signed by an earlier build (int_instructions_minhash)
                    if "hash_code" in names:
                        codes = batch.column(names.index("hash_code"))
                        codes = codes.to_numpy(zero_copy_only=False)
                    else:
                        codes = _hash_codes(text_hash, con())
                    hash_codes.append(codes.astype(np.uint64))
                    counts = batch.column(names.index("n_words"))
                    sigs = signature_matrix(batch.column(names.index("signature")), config, ids)
                    del batch
                    n_words.append(counts.to_numpy(zero_copy_only=False).astype(np.int32))
                    sigs.tofile(spill)
                    spill_bands(sigs)
                    n += m
                    continue
                word_column, codes = _words_of(batch, text_hash, con)
                hash_codes.append(codes.astype(np.uint64))
                del batch, ids, text_hash
                for counts, sigs in _sign(word_column, config, pool):
                    n_words.append(counts)
                    sigs.tofile(spill)
                    spill_bands(sigs)
                n += m
    finally:
        con.close()
    if keep_rank and sum(len(r) for r in keep_rank) != n:
        raise ValueError("keep_rank is missing from some of the record batches")
    scan = _Scan(
        hash_codes=_concat(hash_codes, np.uint64),
        n_words=_concat(n_words, np.int32),
        keep_rank=_concat(keep_rank, np.int64) if keep_rank else None,
        band_blocks=band_blocks,
        spill=spill,
        band_spill=band_spill,
    )
    return scan, n


def _words_of(
    batch: pa.RecordBatch, text_hash: pa.Array, connect: Any
) -> tuple[pa.ChunkedArray, np.ndarray]:
    """(word hashes per row, hash of the text hash) of a batch, hashed by DuckDB
    (``connect()`` gives the connection, for a batch that comes with its texts)."""
    names = batch.schema.names
    if "word_hashes" in names:  # hashed by the DuckDB that reads the table
        word_column = pa.chunked_array([batch.column(names.index("word_hashes"))])
        return word_column, batch.column(names.index("hash_code")).to_numpy(zero_copy_only=False)
    texts = batch.column(names.index("normalized_text"))
    con = connect()
    con.register("rows", pa.table({"normalized_text": texts, "text_hash": text_hash}))
    try:
        hashed = con.sql(_BATCH_SQL).to_arrow_table()
    finally:
        con.unregister("rows")
    return hashed.column(0), hashed.column(1).to_numpy()


def _hash_codes(text_hash: pa.Array, con: Any) -> np.ndarray:
    """DuckDB's ``hash()`` of each text hash (what a relation's scan computes)."""
    con.register("rows", pa.table({"text_hash": text_hash}))
    try:
        return con.sql("select hash(text_hash) from rows").to_arrow_table().column(0).to_numpy()
    finally:
        con.unregister("rows")


def _sign(
    word_column: pa.ChunkedArray, config: DedupConfig, pool: ThreadPoolExecutor
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(word counts, signatures) of consecutive blocks of rows, in order.

    Shingled and signed in blocks of about ``chunk_shingles`` words: bounded temporaries.
    """
    words, offsets = _flatten_words(word_column)
    for lo, hi in _doc_blocks(offsets, config.chunk_shingles):
        w_lo, w_hi = offsets[lo], offsets[hi]
        shingles, s_offsets = shingle_hashes(
            words[w_lo:w_hi], offsets[lo : hi + 1] - w_lo, config.shingle_words
        )
        counts = np.diff(offsets[lo : hi + 1]).astype(np.int32)
        yield counts, signatures(shingles, s_offsets, config, pool=pool)


def minhash_config(config: DedupConfig) -> str:
    """What a stored signature was made with: another value means it must be made again."""
    return f"{SCHEME}:seed={config.seed}:perm={config.num_perm}:words={config.shingle_words}"


def sign_rows(rows: Rows, config: DedupConfig) -> Iterator[pa.RecordBatch]:
    """MinHash signatures of ``rows`` (id, normalized_text, text_hash), batch by batch.

    Each batch is SIGNATURE_SCHEMA: the row's id and text hash, its word count and its
    signature as ``num_perm`` little-endian uint32 (bytes), with ``minhash_config``. What
    ``deduplicate`` computes for the same rows, stored so that a refresh signs only new
    rows (``int_instructions_minhash``).
    """
    import duckdb

    key = minhash_config(config)
    signed = 0
    with duckdb.connect() as con, ThreadPoolExecutor(max_workers=2) as pool:
        for batch in _batches(rows, config.batch_rows):
            if batch.num_rows == 0:
                continue
            signed += batch.num_rows
            names = batch.schema.names
            text_hash = batch.column(names.index("text_hash")).cast(pa.string())
            ids = batch.column(names.index("id")).cast(pa.string())
            word_column, _ = _words_of(batch, text_hash, lambda: con)
            del batch
            parts = list(_sign(word_column, config, pool))
            counts = np.concatenate([c for c, _ in parts])
            sigs = np.concatenate([g for _, g in parts]).astype("<u4", copy=False)
            width = config.num_perm * 4
            offsets = pa.array(np.arange(len(sigs) + 1, dtype=np.int32) * width, pa.int32())
            blobs = pa.BinaryArray.from_buffers(
                pa.binary(), len(sigs), [None, offsets.buffers()[1], pa.py_buffer(sigs.tobytes())]
            )
            yield pa.record_batch(
                [
                    ids,
                    text_hash,
                    pa.array(counts, pa.int32()),
                    blobs,
                    pa.array([key] * len(sigs), pa.string()),
                ],
                schema=SIGNATURE_SCHEMA,
            )
    log.info("minhash: signed %d rows", signed)


def signature_matrix(column: pa.Array, config: DedupConfig, ids: pa.Array) -> np.ndarray:
    """(rows, num_perm) uint32 from a column of stored signatures; a missing or
    wrong-sized one is an error naming the row (never a row silently left unmatched)."""
    width = config.num_perm * 4
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    lengths = pc.fill_null(pc.binary_length(column), -1).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(lengths != width)
    if len(bad):
        raise ValueError(
            f"row {ids[int(bad[0])].as_py()} has no stored MinHash signature of {width} bytes "
            f"({len(bad)} such rows in this batch): rebuild int_instructions_minhash"
        )
    column = column.cast(pa.binary())
    start = int(np.frombuffer(column.buffers()[1], dtype=np.int32)[column.offset])
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8)[start : start + width * len(column)]
    return data.view("<u4").reshape(len(column), config.num_perm).astype(np.uint32, copy=False)


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _first_of_hash(order: np.ndarray, codes: np.ndarray, text_hash: Any) -> np.ndarray:
    """For each row (read position), the first row in keep order with the same text hash.

    ``text_hash`` is read only where two codes are equal, through its ``take`` (an Arrow
    array, or a ``_KeyColumn`` that reads the rows back from the keys' file)."""
    n = len(order)
    index = _index_type(n)  # int32 below 2^31 rows: half the memory of the temporaries
    by_code = order.astype(index)[np.argsort(codes[order], kind="stable")]  # ties: keep order
    sorted_codes = codes[by_code]
    starts = np.ones(n, dtype=bool)
    np.not_equal(sorted_codes[1:], sorted_codes[:-1], out=starts[1:])
    del sorted_codes
    group_start = np.maximum.accumulate(np.where(starts, np.arange(n, dtype=index), 0))
    del starts
    first = np.empty(n, dtype=index)
    first[by_code] = by_code[group_start]
    del group_start, by_code
    # a 64-bit collision must not merge two different hashes: compare the strings
    later = np.flatnonzero(first != np.arange(n, dtype=index))
    if len(later):
        same = pc.equal(text_hash.take(later), text_hash.take(first[later]))
        same = same.to_numpy(zero_copy_only=False)
        if not same.all():
            first = _first_of_hash_slow(order, codes, text_hash, first, later[~same])
    return first


def _index_type(n: int) -> type:
    return np.int32 if n < 2**31 else np.int64


def _first_of_hash_slow(
    order: np.ndarray,
    codes: np.ndarray,
    text_hash: Any,
    first: np.ndarray,
    clashing: np.ndarray,
) -> np.ndarray:
    """Regroup the rows whose 64-bit code clashes, by their text hash strings."""
    clash_codes = np.unique(codes[clashing])
    rows = order[np.isin(codes[order], clash_codes)]  # keep order
    values = text_hash.take(rows).to_pylist()
    seen: dict[tuple[int, str | None], int] = {}
    for row, value in zip(rows.tolist(), values, strict=True):
        first[row] = seen.setdefault((int(codes[row]), value), row)
    return first


def _repeated(values: np.ndarray) -> np.ndarray:
    """Which values occur more than once (``np.unique``'s counts, with fewer temporaries)."""
    by_value = np.argsort(values)
    ordered = values[by_value]
    same = ordered[1:] == ordered[:-1]
    del ordered
    repeated = np.zeros(len(values), dtype=bool)
    repeated[by_value[1:][same]] = True
    repeated[by_value[:-1][same]] = True
    return repeated


def _read_each(spill: IO[bytes], rows: list[int], num_perm: int) -> np.ndarray:
    """Signatures of a few ``rows`` (read positions, any order), one read each."""
    row_bytes = num_perm * 4
    fd = spill.fileno()
    raw = b"".join(os.pread(fd, row_bytes, row * row_bytes) for row in rows)
    return np.frombuffer(raw, dtype=np.uint32).reshape(len(rows), num_perm)


def _near_duplicates(
    scan: _Scan,
    eligible: np.ndarray,
    rank: np.ndarray,
    bands: list[tuple[int, int]],
    config: DedupConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, kept row of each, similarity) of the near duplicates among ``eligible`` rows."""
    none = np.zeros(0, dtype=np.int64)
    elig = np.flatnonzero(eligible)  # read positions
    if len(elig) < 2:
        return none, none, np.zeros(0)
    # Two passes over the bands, each read back from disk one at a time: which eligible
    # rows share a bucket with another row in some band (a few percent), then the bucket
    # ids of those rows only (their bucket mates are among them), so no per-band array of
    # every row is held beyond the band being read.
    n_bands = len(bands)
    in_bucket = np.zeros(len(elig), dtype=bool)
    for k in range(n_bands):
        in_bucket |= _repeated(scan.band(k, n_bands)[elig])
    cand_rows = elig[in_bucket]
    if not len(cand_rows):
        return none, none, np.zeros(0)
    gids = np.full((n_bands, len(cand_rows)), -1, dtype=np.int32)  # < 2^31: bands x rows
    offset = 0
    for k in range(n_bands):
        _, inverse, counts = np.unique(
            scan.band(k, n_bands)[cand_rows], return_inverse=True, return_counts=True
        )
        shared = counts[inverse] >= 2
        gids[k, shared] = inverse[shared] + offset
        offset += len(counts)
    by_rank = np.argsort(rank[cand_rows], kind="stable")  # the sequential pass's order
    cand_rows, gids = cand_rows[by_rank], gids[:, by_rank]
    band_cols = bands[-1][1]
    band_width = bands[0][1] - bands[0][0]

    # The rows inserted so far, per bucket, as linked lists in two int32 arrays (a dict of
    # Python lists took 24 MB at 760k rows): ``head[g]`` is the last row inserted in
    # bucket g, ``link[i * n_bands + k]`` the row inserted before row i in its band-k
    # bucket (-1: none). Signatures are read from the temporary file only for a row that
    # has candidates, and for those candidates (at 760k rows, holding every candidate
    # row's signature took 30 MB).
    head = array("i", [-1]) * offset
    link = array("i", [-1]) * (len(cand_rows) * n_bands)
    read_pos = cand_rows.tolist()
    dup_rows: list[int] = []
    dup_of: list[int] = []
    dup_sim: list[float] = []
    gids = np.ascontiguousarray(gids.T)  # a row's buckets, contiguous
    for i in range(len(cand_rows)):
        row_gids = [(k, g) for k, g in enumerate(gids[i].tolist()) if g >= 0]
        found: set[int] = set()
        for k, g in row_gids:
            j = head[g]
            while j >= 0:
                found.add(j)
                j = link[j * n_bands + k]
        if found:
            candidates = sorted(found)  # keep order: ties go to the earliest row
            sigs = _read_each(scan.spill, [read_pos[c] for c in (i, *candidates)], config.num_perm)
            equal = sigs[1:] == sigs[0]
            same_band = (
                equal[:, :band_cols].reshape(len(candidates), n_bands, band_width).all(axis=2)
            ).any(axis=1)
            if same_band.any():
                if not same_band.all():  # a band-hash collision, not an LSH candidate
                    candidates = [c for c, ok in zip(candidates, same_band, strict=True) if ok]
                    equal = equal[same_band]
                scores = equal.mean(axis=1)
                best = int(np.argmax(scores))
                if scores[best] >= config.threshold:
                    dup_rows.append(i)
                    dup_of.append(candidates[best])
                    dup_sim.append(float(scores[best]))
                    continue
        for k, g in row_gids:
            link[i * n_bands + k] = head[g]
            head[g] = i
    rows_idx = np.asarray(dup_rows, dtype=np.int64)
    of_idx = np.asarray(dup_of, dtype=np.int64)
    return cand_rows[rows_idx], cand_rows[of_idx], np.asarray(dup_sim, dtype=np.float64)


def deduplicate(
    rows: Rows,
    config: DedupConfig,
    *,
    spill_dir: str | os.PathLike[str] | None = None,
) -> pa.Table:
    """``deduplicate_batches``, read into one table."""
    return deduplicate_batches(rows, config, spill_dir=spill_dir).read_all()


def deduplicate_batches(
    rows: Rows,
    config: DedupConfig,
    *,
    spill_dir: str | os.PathLike[str] | None = None,
) -> pa.RecordBatchReader:
    """Mark duplicates in ``rows`` (id, normalized_text, text_hash[, keep_rank]).

    ``rows`` is an Arrow table, any iterable of record batches (read once, batch by
    batch) or a DuckDB relation (read in batches, its words hashed by its own DuckDB).
    Rows signed before (``sign_rows``) come as (id, text_hash, n_words, signature
    [, keep_rank]) instead of their text: the verdicts are the same, without the signing.
    Without ``keep_rank`` the rows are in keep order. The result has one row per input
    row, in input order, as a stream of record batches (DEDUP_SCHEMA): every verdict is
    made before this returns, and the rows' ids and text hashes are read back from a
    temporary file as the stream is read. Temporary files go to ``spill_dir`` (the
    system's temporary folder by default); they have no name, so nothing is left behind.
    """
    bands = bands_of(config)
    keys = _KeyFile(spill_dir)
    try:
        with (
            tempfile.TemporaryFile(dir=spill_dir, prefix="synthlake-dedup-") as spill,
            tempfile.TemporaryFile(dir=spill_dir, prefix="synthlake-dedup-bands-") as band_spill,
        ):
            scan, n = _scan(rows, config, bands, spill, band_spill, keys)
            if n == 0:
                keys.close()
                return pa.RecordBatchReader.from_batches(DEDUP_SCHEMA, [])
            spill.flush()
            band_spill.flush()
            order = (
                np.arange(n, dtype=np.int64)
                if scan.keep_rank is None
                else np.argsort(scan.keep_rank, kind="stable")
            )
            rank = np.empty(n, dtype=np.int64)
            rank[order] = np.arange(n, dtype=np.int64)
            first = _first_of_hash(order, scan.hash_codes, keys.column("text_hash"))
            del order
            scan.hash_codes = np.zeros(0, dtype=np.uint64)  # not needed again: 6 MB at 760k
            is_first = first == np.arange(n)
            near_rows, near_of, near_sim = _near_duplicates(
                scan, is_first & (scan.n_words > 0), rank, bands, config
            )
            del rank
    except BaseException:
        keys.close()
        raise
    reason = np.where(is_first, 0, _EXACT).astype(np.int8)
    reason[near_rows] = _NEAR
    kept_row = np.arange(n, dtype=np.int64)  # the kept row each row points at
    kept_row[near_rows] = near_of
    kept_row = kept_row[first]  # an exact copy of a near duplicate points at the kept row
    del first
    similarity = np.where(is_first, np.nan, 1.0)
    similarity[near_rows] = near_sim
    counts = {r: int((reason == code).sum()) for code, r in enumerate(DROP_REASONS, start=1)}
    log.info("dedup: read %d, kept %d, dropped %s", n, int((reason == 0).sum()), counts)
    verdicts = _Verdicts(scan.n_words, reason, kept_row, similarity)
    return pa.RecordBatchReader.from_batches(DEDUP_SCHEMA, _result_batches(keys, verdicts))


@dataclass(frozen=True, slots=True)
class _Verdicts:
    """Per row, in read order: what the result says besides the row's id and text hash."""

    n_words: np.ndarray
    reason: np.ndarray  # 0 kept, else the code of its DROP_REASONS entry
    kept_row: np.ndarray  # read position of the kept row it duplicates (itself if kept)
    similarity: np.ndarray


def _result_batches(keys: _KeyFile, verdicts: _Verdicts) -> Iterator[pa.RecordBatch]:
    """The result, one batch per batch of the keys' file; closes the file at the end."""
    try:
        dropped = verdicts.reason != 0
        targets = np.unique(verdicts.kept_row[dropped])  # rows some other row duplicates
        target_ids = keys.take("id", targets)
        start = 0
        for batch in keys.batches():
            rows = slice(start, start + batch.num_rows)
            start += batch.num_rows
            kept = ~dropped[rows]
            target = np.searchsorted(targets, verdicts.kept_row[rows])
            yield pa.record_batch(
                [
                    batch.column(0),
                    batch.column(1),
                    pa.array(verdicts.n_words[rows], type=pa.int64()),
                    pa.array(kept),
                    pc.take(
                        pa.array(DROP_REASONS),
                        pa.array(verdicts.reason[rows] - 1, type=pa.int8(), mask=kept),
                    ),
                    target_ids.take(pa.array(np.where(kept, 0, target), mask=kept)),
                    pa.array(verdicts.similarity[rows], mask=kept),
                ],
                schema=DEDUP_SCHEMA,
            )
    finally:
        keys.close()

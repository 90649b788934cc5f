from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash, MinHashLSH

from synthlake.errors import SettingsError
from synthlake.instructions.dedup import (
    SCHEME,
    DedupConfig,
    bands_of,
    deduplicate,
    deduplicate_batches,
    minhash_config,
    permutations,
    shingle_hashes,
    sign_rows,
    signatures,
    word_hashes,
)
from synthlake.lake import content_hash

BASE = (
    "the library of millbrook reopened on monday after an eight month renovation with a "
    "larger children's section a quiet study room and solar panels on the roof that cover "
    "about a third of its electricity needs. librarians said more than three hundred people "
    "visited on the first day, many of them families with young children who came to see the "
    "new reading corner"
)


def table(texts: list[str]) -> pa.Table:
    return pa.table(
        {
            "id": [f"r{i}" for i in range(len(texts))],
            "normalized_text": texts,
            "text_hash": [content_hash(t) for t in texts],
        }
    )


def test_signatures_match_datasketch_bit_for_bit() -> None:
    config = DedupConfig(num_perm=64, shingle_words=3)
    texts = pa.array([BASE, "short text", "", BASE.replace("monday", "friday")])
    words, offsets = word_hashes(texts)
    shingles, s_offsets = shingle_hashes(words, offsets, config.shingle_words)
    ours = signatures(shingles, s_offsets, config)
    for doc in range(len(texts)):
        expected = MinHash(
            num_perm=64, seed=config.seed, scheme=SCHEME, hashfunc=lambda value: int(value)
        )
        expected.update_batch(shingles[s_offsets[doc] : s_offsets[doc + 1]].tolist())
        assert np.array_equal(ours[doc], expected.hashvalues), doc


@pytest.mark.parametrize("num_perm", [2, 16, 64, 128, 256])
def test_the_banding_is_datasketchs_for_every_threshold(num_perm: int) -> None:
    """bands_of computes what MinHashLSH chooses (with scipy's quad) without datasketch,
    including the settings it refuses; 0.025 steps over [0, 1]."""
    for threshold in np.round(np.arange(0.0, 1.0001, 0.025), 3).tolist():
        config = DedupConfig(threshold=threshold, num_perm=num_perm)
        try:
            expected = MinHashLSH(threshold=threshold, num_perm=num_perm).hashranges
        except ValueError:
            with pytest.raises(SettingsError, match=f"dedup_minhash_threshold={threshold}"):
                bands_of(config)
            continue
        assert bands_of(config) == [(int(a), int(b)) for a, b in expected], threshold


@pytest.mark.parametrize(("seed", "num_perm"), [(1, 128), (1, 256), (7, 16), (2026, 64)])
def test_the_permutations_are_datasketchs(seed: int, num_perm: int) -> None:
    expected = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
    ours = permutations(DedupConfig(num_perm=num_perm, seed=seed))
    assert ours.dtype == expected.dtype and np.array_equal(ours, expected)


def test_a_dedup_run_imports_neither_datasketch_nor_scipy() -> None:
    """The step's memory: datasketch's package imports scipy (60 MB of RSS), for parameters
    this module computes itself; ``synthlake``'s own settings (pydantic, 22 MB) are not
    needed either."""
    code = (
        "import sys, pyarrow as pa\n"
        "from synthlake.instructions.dedup import DedupConfig, deduplicate\n"
        "texts = ['a b c d e f', 'a b c d e f', 'a b c d e g', 'x y z']\n"
        "t = pa.table({'id': [str(i) for i in range(4)], 'normalized_text': texts,\n"
        "              'text_hash': texts})\n"
        "kept = deduplicate(t, DedupConfig()).column('is_kept').to_pylist()\n"
        "print(kept, sorted(m for m in sys.modules if m.split('.')[0] in\n"
        "                   ('datasketch', 'scipy', 'pydantic')\n"
        "              or m == 'synthlake.settings'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[True, False, True, True] []"


def test_shingles_are_word_ngrams_within_one_document() -> None:
    texts = pa.array(["a b c d", "a b c d", "b c d", "x"])
    words, offsets = word_hashes(texts)
    shingles, s_offsets = shingle_hashes(words, offsets, 3)
    assert list(np.diff(s_offsets)) == [2, 2, 1, 1]  # a short doc is one shingle
    assert list(shingles[0:2]) == list(shingles[2:4])  # same words, same shingles
    assert shingles[1] == shingles[4]  # "b c d" in doc 0 and doc 2


def test_exact_and_near_duplicates_point_at_the_kept_row() -> None:
    near = BASE.replace("monday", "tuesday")
    other = "write a python function that returns the nth fibonacci number using iteration"
    result = deduplicate(table([BASE, other, BASE, near, near]), DedupConfig()).to_pylist()
    by_id = {r["id"]: r for r in result}
    assert by_id["r0"]["is_kept"] and by_id["r1"]["is_kept"]
    assert (by_id["r2"]["drop_reason"], by_id["r2"]["duplicate_of"]) == ("exact_duplicate", "r0")
    assert (by_id["r3"]["drop_reason"], by_id["r3"]["duplicate_of"]) == ("near_duplicate", "r0")
    assert 0.8 <= by_id["r3"]["similarity"] < 1.0
    # an exact copy of a near-duplicate points at the row that is kept, not at the copy
    assert (by_id["r4"]["drop_reason"], by_id["r4"]["duplicate_of"]) == ("exact_duplicate", "r0")
    assert by_id["r0"]["drop_reason"] is None and by_id["r0"]["duplicate_of"] is None


@pytest.mark.parametrize(
    ("threshold", "near_is_dropped"),
    [(0.5, True), (0.95, False)],
)
def test_threshold_decides(threshold: float, near_is_dropped: bool) -> None:
    near = BASE.replace("monday", "tuesday").replace("quiet", "silent")
    result = deduplicate(table([BASE, near]), DedupConfig(threshold=threshold)).to_pylist()
    assert (result[1]["drop_reason"] == "near_duplicate") is near_is_dropped


def test_empty_and_symbol_only_texts_are_matched_exactly_only() -> None:
    result = deduplicate(table(["", "?!", "", "ok then"]), DedupConfig()).to_pylist()
    assert [r["drop_reason"] for r in result] == [None, None, "exact_duplicate", None]
    assert [r["n_words"] for r in result] == [0, 0, 0, 2]


def test_empty_input_keeps_the_schema() -> None:
    result = deduplicate(table([]), DedupConfig())
    assert result.num_rows == 0 and "drop_reason" in result.column_names


def test_a_threshold_that_leaves_no_bands_is_a_settings_error() -> None:
    from synthlake.errors import SettingsError

    with pytest.raises(SettingsError, match="dedup_minhash_threshold=0.99"):
        deduplicate(table([BASE]), DedupConfig(threshold=0.99))


def _corpus(n: int, seed: int) -> list[str]:
    """Made-up words; exact copies, near copies (1-4 words changed), copies of copies."""
    rng = np.random.default_rng(seed)
    vocab = [
        "".join(rng.choice(list("aeioubcdfglmnprstvz"), size=rng.integers(2, 8)))
        for _ in range(400)
    ]
    texts: list[str] = []
    for _ in range(n):
        pick = rng.random()
        if texts and pick < 0.1:
            texts.append(texts[rng.integers(len(texts))])
        elif texts and pick < 0.4:
            words = texts[rng.integers(len(texts))].split(" ")
            for _ in range(rng.integers(1, 5)):
                words[rng.integers(len(words))] = vocab[rng.integers(len(vocab))]
            texts.append(" ".join(words))
        elif pick < 0.45:
            texts.append(["", "?!", "yes"][rng.integers(3)])
        else:
            texts.append(
                " ".join(vocab[k] for k in rng.integers(0, len(vocab), rng.integers(30, 80)))
            )
    return texts


def _datasketch_verdicts(texts: list[str], config: DedupConfig) -> list[tuple]:
    """The reference: a datasketch MinHashLSH fed the rows one by one in keep order."""
    from datasketch import LeanMinHash, MinHashLSH

    words, offsets = word_hashes(pa.array(texts, pa.string()))
    shingles, s_offsets = shingle_hashes(words, offsets, config.shingle_words)
    sigs = signatures(shingles, s_offsets, config)
    lsh = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm)
    first: dict[str, int] = {}
    verdicts: list[tuple] = []
    for i, text in enumerate(texts):
        seen = first.setdefault(content_hash(text), i)
        if seen != i:
            kept = verdicts[seen][1] or f"r{seen}"
            verdicts.append(("exact_duplicate", kept, 1.0))
            continue
        verdicts.append((None, None, None))
        if offsets[i + 1] == offsets[i]:
            continue
        sketch = LeanMinHash(seed=config.seed, hashvalues=sigs[i], scheme=SCHEME)
        candidates = sorted(lsh.query(sketch))
        if candidates:
            scores = (sigs[candidates] == sigs[i]).mean(axis=1)
            best = int(np.argmax(scores))
            if scores[best] >= config.threshold:
                verdicts[i] = ("near_duplicate", f"r{candidates[best]}", float(scores[best]))
                continue
        lsh.insert(i, sketch)
    return verdicts


def _verdicts(result: pa.Table) -> list[tuple]:
    return list(
        zip(
            result.column("drop_reason").to_pylist(),
            result.column("duplicate_of").to_pylist(),
            result.column("similarity").to_pylist(),
            strict=True,
        )
    )


@pytest.mark.parametrize(("batch_rows", "chunk_shingles"), [(8192, 1 << 18), (7, 50), (1, 1)])
def test_verdicts_are_datasketch_lsh_verdicts_whatever_the_batches(
    batch_rows: int, chunk_shingles: int
) -> None:
    texts = _corpus(400, seed=3)
    expected = _datasketch_verdicts(texts, DedupConfig())
    assert sum(v[0] == "near_duplicate" for v in expected) > 25  # the corpus has near copies
    config = DedupConfig(batch_rows=batch_rows, chunk_shingles=chunk_shingles)
    assert _verdicts(deduplicate(table(texts), config)) == expected


def test_a_near_duplicate_pair_split_across_two_batches_is_found() -> None:
    near = BASE.replace("monday", "tuesday")
    filler = [f"row number {k} says something else entirely about topic {k}" for k in range(5)]
    texts = [BASE, *filler, near, BASE]  # batches of 2: BASE in the first, near in the fourth
    result = deduplicate(table(texts), DedupConfig(batch_rows=2)).to_pylist()
    assert (result[6]["drop_reason"], result[6]["duplicate_of"]) == ("near_duplicate", "r0")
    assert (result[7]["drop_reason"], result[7]["duplicate_of"]) == ("exact_duplicate", "r0")
    assert sum(r["is_kept"] for r in result) == 6


def test_keep_rank_decides_which_row_is_kept_and_rows_come_back_in_input_order() -> None:
    near = BASE.replace("monday", "tuesday")
    rows = table([near, "something unrelated to libraries", BASE, BASE]).append_column(
        "keep_rank", pa.array([3, 2, 1, 4], pa.int64())
    )
    result = deduplicate(rows, DedupConfig()).to_pylist()
    assert [r["id"] for r in result] == ["r0", "r1", "r2", "r3"]
    assert result[2]["is_kept"] and result[1]["is_kept"]  # rank 1 wins although it is third
    assert (result[0]["drop_reason"], result[0]["duplicate_of"]) == ("near_duplicate", "r2")
    assert (result[3]["drop_reason"], result[3]["duplicate_of"]) == ("exact_duplicate", "r2")


@pytest.mark.parametrize("as_relation", [True, False])
def test_a_duckdb_relation_or_its_batch_reader_is_read_batch_by_batch(as_relation: bool) -> None:
    import duckdb

    texts = _corpus(300, seed=5)
    expected = _datasketch_verdicts(texts, DedupConfig())
    with duckdb.connect() as con:
        con.register("input", table(texts).append_column("keep_rank", pa.array(range(300))))
        relation = con.sql(
            "select * from input order by hash(id)"  # a table order that is not keep order
        )
        rows = relation if as_relation else relation.arrow(batch_size=16)
        result = deduplicate(rows, DedupConfig(batch_rows=16) if as_relation else DedupConfig())
    assert result.column("id").to_pylist() != [f"r{i}" for i in range(300)]  # table order
    by_id = {row["id"]: row for row in result.to_pylist()}
    assert [
        (
            by_id[f"r{i}"]["drop_reason"],
            by_id[f"r{i}"]["duplicate_of"],
            by_id[f"r{i}"]["similarity"],
        )
        for i in range(300)
    ] == expected


@pytest.mark.parametrize("as_relation", [True, False])
def test_rows_signed_before_get_the_verdicts_of_their_texts(as_relation: bool) -> None:
    """int_instructions_minhash stores sign_rows' output; dedup then reads no text."""
    import duckdb

    texts = _corpus(300, seed=7)
    config = DedupConfig(batch_rows=32, chunk_shingles=500)
    ranked = table(texts).append_column("keep_rank", pa.array(range(300, 0, -1), pa.int64()))
    expected = deduplicate(ranked, config)
    signed = pa.Table.from_batches(list(sign_rows(table(texts), config)))
    assert signed.num_rows == 300
    assert set(signed.column("minhash_config").to_pylist()) == {minhash_config(config)}
    words, offsets = word_hashes(pa.array(texts, pa.string()))
    shingles, s_offsets = shingle_hashes(words, offsets, config.shingle_words)
    stored = np.frombuffer(b"".join(signed.column("signature").to_pylist()), dtype="<u4")
    assert np.array_equal(stored.reshape(300, -1), signatures(shingles, s_offsets, config))
    rows = signed.drop_columns(["minhash_config"]).append_column(
        "keep_rank", ranked.column("keep_rank")
    )
    if as_relation:
        with duckdb.connect() as con:
            con.register("signed", rows)
            result = deduplicate(con.sql("select * from signed"), config)
    else:
        result = deduplicate(rows, config)
    assert result.equals(expected)


def test_a_row_without_its_stored_signature_is_an_error_naming_it() -> None:
    config = DedupConfig()
    signed = pa.Table.from_batches(list(sign_rows(table([BASE, "another text here"]), config)))
    broken = signed.set_column(3, "signature", pa.array([signed["signature"][0].as_py(), None]))
    with pytest.raises(ValueError, match="row r1 has no stored MinHash signature"):
        deduplicate(broken.drop_columns(["minhash_config"]), config)


def test_a_band_hash_collision_adds_no_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every band of every row hashed alike: only rows with a truly equal band compare."""
    from synthlake.instructions import dedup

    texts = _corpus(300, seed=7)
    expected = _datasketch_verdicts(texts, DedupConfig())

    def colliding(sigs: np.ndarray, bands: list[tuple[int, int]]) -> np.ndarray:
        return np.zeros((len(bands), len(sigs)), dtype=np.uint64)

    monkeypatch.setattr(dedup, "band_hashes", colliding)
    assert _verdicts(deduplicate(table(texts), DedupConfig(batch_rows=50))) == expected


def test_a_text_hash_code_collision_does_not_merge_two_texts() -> None:
    from synthlake.instructions.dedup import _first_of_hash

    hashes = pa.chunked_array([["h-a", "h-b"], ["h-a", "h-c", "h-b"]])
    codes = np.zeros(5, dtype=np.uint64)  # one 64-bit code for all: a collision
    first = _first_of_hash(np.arange(5), codes, hashes)
    assert first.tolist() == [0, 1, 0, 3, 1]


def test_the_result_streams_in_the_batches_read_and_leaves_no_file(tmp_path) -> None:
    """What the dbt model returns: one result batch per batch read, equal to the table
    ``deduplicate`` gives; the temporary files (signatures, bands, ids) have no name."""
    texts = _corpus(300, seed=11)
    config = DedupConfig(batch_rows=64)
    reader = deduplicate_batches(table(texts), config, spill_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # unnamed, even while the stream is open
    batches = list(reader)
    assert [b.num_rows for b in batches] == [64, 64, 64, 64, 44]
    streamed = pa.Table.from_batches(batches)
    assert streamed.equals(deduplicate(table(texts), config))
    assert [
        (r["drop_reason"], r["duplicate_of"], r["similarity"]) for r in streamed.to_pylist()
    ] == (_datasketch_verdicts(texts, config))
    assert list(tmp_path.iterdir()) == []


def test_an_empty_stream_has_the_schema() -> None:
    reader = deduplicate_batches(table([]), DedupConfig())
    assert reader.schema == deduplicate(table([]), DedupConfig()).schema
    assert reader.read_all().num_rows == 0


def test_ids_and_text_hashes_read_back_from_their_file_in_any_order(tmp_path) -> None:
    """The exact-duplicate check and the result's duplicate_of read rows back by position."""
    from synthlake.instructions.dedup import _KeyFile

    keys = _KeyFile(tmp_path)
    ids = [f"id{i}" for i in range(23)]
    for lo in range(0, 23, 5):
        part = pa.array(ids[lo : lo + 5])
        keys.append(part, pa.array([f"h{i}" for i in range(lo, min(lo + 5, 23))]))
    positions = np.array([22, 0, 7, 7, 13, 4, 5])
    assert keys.take("id", positions).to_pylist() == [ids[p] for p in positions]
    assert keys.column("text_hash").take(np.array([3, 21])).to_pylist() == ["h3", "h21"]
    assert keys.take("id", np.array([], dtype=np.int64)).to_pylist() == []
    assert [b.num_rows for b in keys.batches()] == [5, 5, 5, 5, 3]
    keys.close()

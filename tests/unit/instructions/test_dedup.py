from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash

from synthlake.instructions.dedup import (
    SCHEME,
    DedupConfig,
    deduplicate,
    shingle_hashes,
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


def test_band_index_is_a_plain_datasketch_lsh() -> None:
    from datasketch import LeanMinHash, MinHashLSH

    from synthlake.instructions.dedup import BandIndex

    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**32, size=(1, 128), dtype=np.uint32)
    sigs = np.repeat(base, 40, axis=0)
    noise = rng.random(sigs.shape) < np.linspace(0, 0.9, 40)[:, None]  # ever more different
    sigs[noise] = rng.integers(0, 2**32, size=int(noise.sum()), dtype=np.uint32)
    ours = MinHashLSH(threshold=0.5, num_perm=128)
    index = BandIndex(ours, sigs)
    theirs = MinHashLSH(threshold=0.5, num_perm=128)
    for i in range(0, 40, 2):  # every other row indexed, the rest queried
        index.insert(i, index.keys(i))
        theirs.insert(i, LeanMinHash(seed=1, hashvalues=sigs[i], scheme=SCHEME))
    for i in range(1, 40, 2):
        sketch = LeanMinHash(seed=1, hashvalues=sigs[i], scheme=SCHEME)
        assert index.query(index.keys(i)) == set(theirs.query(sketch)) == set(ours.query(sketch))
    assert index.query(index.keys(1)) and not index.query(index.keys(39))

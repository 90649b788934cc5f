"""The documented queries (export/mongo_queries.py) on hand-made documents and results."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pymongo.collection import Collection
from pymongo.database import Database
from synthlake.export import mongo_queries as q

REMOVED = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def pair(_id: str, language: str = "it", **fields: Any) -> dict[str, Any]:
    return {"_id": _id, "question": "q", "answer": "a", "language": language, **fields}


DOCS = [
    pair("a", similarity=[0.8, 0.9], tags=["arte", "roma"], toxicity=0.1, insult=0.2),
    pair("b", similarity=[0.71, 0.7], tags=["roma", "roma"], toxicity=0.3, insult=0.0),
    pair("c", "en", similarity=[0.2], tags=["ue"], toxicity=None),
    pair("d", "en", similarity=[], tags=[]),
    pair("e", "fr"),  # no similarity, no tags, no scores
    pair("f", similarity=[0.95], tags=["roma"], toxicity=0.9, removed_at=REMOVED),
    pair("g", similarity=[0.75, 0.8, 0.99], tags=["arte", "ue", "roma"], toxicity=0.2, insult=0.4),
]


@pytest.fixture
def pairs(mongo_db: Database[dict[str, Any]]) -> Collection[dict[str, Any]]:
    collection = mongo_db["news_qa"]
    collection.insert_many(DOCS)
    return collection


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0.7, ["a", "g"]),  # b has 0.7 (not above), c is low, d empty, e none, f removed
        (0.5, ["a", "b", "g"]),
        (0.75, ["a"]),  # g has 0.75, which is not above 0.75
        (0.99, []),
    ],
)
def test_every_source_similarity_above(
    pairs: Collection[dict[str, Any]], threshold: float, expected: list[str]
) -> None:
    assert [d["_id"] for d in q.every_source_similarity_above(pairs, threshold)] == expected


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0.7, ["a", "b", "g"]),  # b: 0.71 is above although 0.7 is not
        (0.9, ["g"]),  # a's 0.9 is not above 0.9
        (0.1, ["a", "b", "c", "g"]),
    ],
)
def test_any_source_similarity_above(
    pairs: Collection[dict[str, Any]], threshold: float, expected: list[str]
) -> None:
    assert [d["_id"] for d in q.any_source_similarity_above(pairs, threshold)] == expected


def test_every_is_stricter_than_any_and_ignores_empty_arrays(
    pairs: Collection[dict[str, Any]],
) -> None:
    # the bare $not/$elemMatch would also return d (empty) and e (no similarity)
    bare = {"similarity": {"$not": {"$elemMatch": {"$lte": 0.7}}}, **q.LIVE}
    assert sorted(d["_id"] for d in pairs.find(bare)) == ["a", "d", "e", "g"]
    assert pairs.count_documents(q.every_source_similarity_filter(0.7)) == 2


def test_counts_by_language(pairs: Collection[dict[str, Any]]) -> None:
    # it: a, b, g (f is removed); en: c, d; fr: e
    assert q.counts_by_language(pairs) == [("it", 3), ("en", 2), ("fr", 1)]


def test_average_toxicity(pairs: Collection[dict[str, Any]]) -> None:
    result = q.average_toxicity(pairs)
    # scored: a 0.1, b 0.3, g 0.2 (c is null, d/e have none, f removed) -> 0.6 / 3
    assert result["scored"] == 3
    assert result["toxicity"] == pytest.approx(0.2)
    assert result["insult"] == pytest.approx((0.2 + 0.0 + 0.4) / 3)
    assert result["threat"] is None  # no pair has it
    assert set(result) == {"scored", *q.TOXICITY_FIELDS}


def test_average_toxicity_of_an_empty_collection(mongo_db: Database[dict[str, Any]]) -> None:
    result = q.average_toxicity(mongo_db["empty"])
    assert result["scored"] == 0 and result["toxicity"] is None


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        # roma: a, b (twice there, counted once), g -> 3 (f is removed); arte: a, g; ue: c, g
        (2, [("roma", 3), ("arte", 2)]),
        (5, [("roma", 3), ("arte", 2), ("ue", 2)]),
        (1, [("roma", 3)]),
    ],
)
def test_top_tags(
    pairs: Collection[dict[str, Any]], n: int, expected: list[tuple[str, int]]
) -> None:
    assert q.top_tags(pairs, n) == expected


def test_top_tags_rejects_a_non_positive_n(pairs: Collection[dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="n must be at least 1"):
        q.top_tags(pairs, 0)

"""The documented MongoDB queries on the exported QA pairs (README, section MongoDB).

Each query exists twice: a ``*_filter`` / ``*_pipeline`` function that returns the plain
query document, for people who paste it into ``mongosh`` or another driver, and a function
that runs it on a pymongo collection. Documents flagged ``removed_at`` (export with
``SYNTHLAKE_MONGODB_REMOVAL=flag``) are left out of every query.

*Every* versus *any*: the original study's query ``{"similarity": {"$elemMatch": {"$gt":
0.7}}}`` returns pairs where **at least one** source is similar enough, although it was
described as "all similarity scores above the threshold". Both are here, named for what
they do. "Every" is written as "no element at or below the threshold", which alone would
also match a missing or empty ``similarity``; hence the extra non-empty array condition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from synthlake.export.mongo import TOXICITY_FIELDS

if TYPE_CHECKING:
    from pymongo.collection import Collection
    from pymongo.cursor import Cursor

LIVE: dict[str, Any] = {"removed_at": {"$exists": False}}


def every_source_similarity_filter(threshold: float) -> dict[str, Any]:
    """Pairs whose similarity to **every** source is above ``threshold`` (strictly)."""
    return {
        **LIVE,
        "similarity.0": {"$exists": True},  # a non-empty array: [] has no element 0
        "similarity": {"$type": "array", "$not": {"$elemMatch": {"$lte": threshold}}},
    }


def any_source_similarity_filter(threshold: float) -> dict[str, Any]:
    """Pairs whose similarity to **at least one** source is above ``threshold``."""
    return {**LIVE, "similarity": {"$elemMatch": {"$gt": threshold}}}


def every_source_similarity_above(
    collection: Collection, threshold: float = 0.7, projection: dict[str, Any] | None = None
) -> Cursor:
    """QA pairs none of whose sources is at or below ``threshold`` (hallucination filter)."""
    return collection.find(every_source_similarity_filter(threshold), projection).sort("_id", 1)


def any_source_similarity_above(
    collection: Collection, threshold: float = 0.7, projection: dict[str, Any] | None = None
) -> Cursor:
    """QA pairs with at least one source above ``threshold`` (the study's original query)."""
    return collection.find(any_source_similarity_filter(threshold), projection).sort("_id", 1)


def counts_by_language_pipeline() -> list[dict[str, Any]]:
    return [
        {"$match": LIVE},
        {"$group": {"_id": "$language", "count": {"$sum": 1}}},
        {"$sort": {"count": -1, "_id": 1}},
    ]


def counts_by_language(collection: Collection) -> list[tuple[str, int]]:
    """(language, number of pairs), most frequent first, ties by language code."""
    return [
        (row["_id"], row["count"]) for row in collection.aggregate(counts_by_language_pipeline())
    ]


def average_toxicity_pipeline() -> list[dict[str, Any]]:
    averages = {name: {"$avg": f"${name}"} for name in TOXICITY_FIELDS}
    scored = {"$sum": {"$cond": [{"$isNumber": "$toxicity"}, 1, 0]}}
    return [{"$match": LIVE}, {"$group": {"_id": None, "scored": scored, **averages}}]


def average_toxicity(collection: Collection) -> dict[str, float | int | None]:
    """Mean of each of the 7 Detoxify scores over the scored pairs, and how many were scored.

    Unscored pairs (null or absent scores) are not counted as zero: ``$avg`` skips them.
    With no scored pair, every mean is ``None`` and ``scored`` is 0.
    """
    rows = list(collection.aggregate(average_toxicity_pipeline()))
    if not rows:
        return {"scored": 0, **{name: None for name in TOXICITY_FIELDS}}
    row = rows[0]
    return {"scored": row["scored"], **{name: row[name] for name in TOXICITY_FIELDS}}


def top_tags_pipeline(n: int) -> list[dict[str, Any]]:
    return [
        {"$match": {**LIVE, "tags.0": {"$exists": True}}},
        {"$unwind": "$tags"},
        {"$group": {"_id": {"pair": "$_id", "tag": "$tags"}}},  # a repeated tag counts once
        {"$group": {"_id": "$_id.tag", "count": {"$sum": 1}}},
        {"$sort": {"count": -1, "_id": 1}},
        {"$limit": n},
    ]


def top_tags(collection: Collection, n: int = 10) -> list[tuple[str, int]]:
    """The ``n`` tags on most pairs (a tag counted once per pair it is on), ties by name."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return [(row["_id"], row["count"]) for row in collection.aggregate(top_tags_pipeline(n))]

"""Exact and near-duplicate articles, found before clustering, with the mapping kept.

Three kinds of duplicate, strongest first:

- ``same_url``: the same page under URL variants staging did not merge (``http``/``https``,
  ``www.``/``m.`` hosts, a trailing slash);
- ``same_content_hash``: the same text (staging's hash of title/subtitle/body, or the body
  alone once case, accents, punctuation and agency datelines are normalized away);
- ``near_duplicate``: a syndicated copy, e.g. an agency story another outlet republished
  with a new headline and credit line: MinHash over word 5-gram shingles, candidates from
  LSH, kept when the estimated Jaccard similarity reaches ``news_near_dup_threshold``.

Duplicate relations are closed transitively (union-find), and each group keeps one
canonical article: the earliest published (then outlet, then id), so the choice does not
depend on row order. Every article keeps a row in the mapping: the canonical points at
itself, a copy at its canonical, with the reason of its strongest direct relation to a
member of the group (the group may have been joined through another member). MinHash + LSH
(datasketch) keeps this sub-quadratic: each article is compared only with the candidates
LSH buckets it with.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from synthlake.news_integration.text import normalize_for_hash, normalized_shingles, url_key

log = logging.getLogger(__name__)

NUM_PERM = 128
MIN_SHINGLES = 8  # bodies shorter than this are too short for a meaningful Jaccard estimate

DUPLICATES_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("canonical_article_id", pa.string()),
        ("is_canonical", pa.bool_()),
        ("duplicate_reason", pa.string()),  # null for a canonical article
        ("near_dup_jaccard", pa.float64()),  # of the relation behind the reason (1 for a hash)
        ("duplicate_group_size", pa.int32()),
    ]
)
REASONS = ("same_url", "same_content_hash", "near_duplicate")


@dataclass(slots=True)
class _Doc:
    article_id: str
    url_key: str
    content_hash: str
    body_hash: str
    sort_key: tuple
    minhash: Any  # datasketch.LeanMinHash, None for a too-short body


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@functools.cache
def _template() -> Any:
    # What MinHash(seed=1) draws: its permutations drawn once, not for each of thousands
    # of articles (that was a tenth of the step's time).
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=1)


def _minhash(normalized: str) -> Any:
    """The MinHash of a body already through ``normalize_for_hash``."""
    from datasketch import LeanMinHash, MinHash

    grams = normalized_shingles(normalized)
    if len(grams) < MIN_SHINGLES:
        return None
    template = _template()
    sketch = MinHash(
        num_perm=NUM_PERM, seed=1, permutations=template.permutations, scheme=template.scheme
    )
    sketch.update_batch([g.encode("utf-8") for g in sorted(grams)])
    return LeanMinHash(sketch)


def _sort_key(published: datetime | None, outlet: str | None, article_id: str) -> tuple:
    # Earliest first; an article without a date sorts after every dated one.
    stamp = published.timestamp() if published is not None else float("inf")
    return (stamp, outlet or "", article_id)


def find_duplicates(articles: pa.Table, near_dup_threshold: float = 0.8) -> pa.Table:
    """The duplicate mapping (``DUPLICATES_SCHEMA``), one row per input article.

    ``articles`` needs id (or article_id), url, outlet, content, content_hash and
    published_at. An article without published_at sorts after every dated one when the
    canonical copy is chosen (the ingestion time is never taken as a publication time).
    """
    if articles.num_rows == 0:
        return DUPLICATES_SCHEMA.empty_table()
    if not 0.0 < near_dup_threshold <= 1.0:
        raise ValueError(f"near_dup_threshold must be in (0, 1], got {near_dup_threshold}")
    id_col = "article_id" if "article_id" in articles.column_names else "id"
    data = articles.to_pydict()
    published = data.get("published_at") or [None] * articles.num_rows
    normalized = [normalize_for_hash(content) for content in data["content"]]
    docs = [
        _Doc(
            article_id=data[id_col][i],
            url_key=url_key(data["url"][i]),
            content_hash=data["content_hash"][i] or "",
            body_hash=hashlib.sha256(normalized[i].encode()).hexdigest(),
            sort_key=_sort_key(published[i], data["outlet"][i], data[id_col][i]),
            minhash=_minhash(normalized[i]),
        )
        for i in range(articles.num_rows)
    ]
    # Process in a canonical order so that union-find roots, and so ties, never depend on
    # the order rows arrived in.
    order = sorted(range(len(docs)), key=lambda i: docs[i].sort_key)
    docs = [docs[i] for i in order]
    groups = _UnionFind(len(docs))
    # the strongest direct relation of each article: (rank in REASONS, reason, jaccard)
    links: dict[int, tuple[int, str, float | None]] = {}

    def link(i: int, j: int, reason: str, jaccard: float | None) -> None:
        groups.union(i, j)
        rank = REASONS.index(reason)
        for k in (i, j):
            if k not in links or rank < links[k][0]:
                links[k] = (rank, reason, jaccard)

    for attr, reason in (
        ("url_key", "same_url"),
        ("content_hash", "same_content_hash"),
        ("body_hash", "same_content_hash"),
    ):
        first: dict[str, int] = {}
        for i, doc in enumerate(docs):
            value = getattr(doc, attr)
            if not value:
                continue
            if value in first:
                link(first[value], i, reason, 1.0 if reason != "same_url" else None)
            else:
                first[value] = i
    for i, j, jaccard in _near_duplicate_pairs(docs, near_dup_threshold):
        link(i, j, "near_duplicate", jaccard)

    members: dict[int, list[int]] = {}
    for i in range(len(docs)):
        members.setdefault(groups.find(i), []).append(i)
    rows = []
    for group in members.values():
        canonical = min(group, key=lambda i: docs[i].sort_key)
        for i in group:
            reason, jaccard = (None, None) if i == canonical else links[i][1:]
            rows.append(
                {
                    "article_id": docs[i].article_id,
                    "canonical_article_id": docs[canonical].article_id,
                    "is_canonical": i == canonical,
                    "duplicate_reason": reason,
                    "near_dup_jaccard": jaccard,
                    "duplicate_group_size": len(group),
                }
            )
    rows.sort(key=lambda r: r["article_id"])
    counts = Counter(r["duplicate_reason"] for r in rows if r["duplicate_reason"])
    log.info(
        "news dedup: read %d, kept %d, %s",
        len(rows),
        sum(r["is_canonical"] for r in rows),
        ", ".join(f"dropped_{k} {v}" for k, v in sorted(counts.items())) or "no duplicates",
    )
    return pa.Table.from_pylist(rows, schema=DUPLICATES_SCHEMA)


def _near_duplicate_pairs(docs: list[_Doc], threshold: float) -> list[tuple[int, int, float]]:
    """(i, j, estimated Jaccard) for pairs LSH proposes and the estimate confirms."""
    from datasketch import MinHashLSH

    sketched = [(i, d) for i, d in enumerate(docs) if d.minhash is not None]
    if len(sketched) < 2:
        return []
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    for i, doc in sketched:
        lsh.insert(str(i), doc.minhash)
    pairs = []
    for i, doc in sketched:
        for other in sorted(int(k) for k in lsh.query(doc.minhash)):
            if other > i:
                jaccard = float(doc.minhash.jaccard(docs[other].minhash))
                if jaccard >= threshold:
                    pairs.append((i, other, jaccard))
    return pairs


__all__ = ["DUPLICATES_SCHEMA", "REASONS", "find_duplicates"]

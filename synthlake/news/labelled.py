"""Labelled story sets: load them, and score a clustering against them.

A labelled set is an articles JSONL (the shape of ``data/sample/news/articles.jsonl``) and a
``stories.csv`` (``url,story_id``). It is used to tune ``news_cluster_distance_threshold``
(``bench/news_threshold.py``) and by the clustering tests.

Only the day of an article matters here (the clustering window is in days), so dates are
read by a small parser for the formats the sample uses (ISO 8601, "06 gennaio 2024, 18:54",
"9 Gennaio 2024") rather than through ingest's full normalization: synthlake must not
import from ``ingest/``.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import pyarrow as pa

from synthlake.lake import short_id

MONTHS = {
    m: i + 1
    for i, m in enumerate(
        "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre "
        "novembre dicembre".split()
    )
}
_ITALIAN_DATE = re.compile(r"(\d{1,2})\s+([a-zA-Z]+)\s+(\d{4})(?:,?\s+(\d{1,2})[:.](\d{2}))?")


def parse_day(text: str | None) -> datetime | None:
    """ISO 8601 or an Italian "d mese yyyy[, hh:mm]" date, as an aware datetime (UTC)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    except ValueError:
        pass
    match = _ITALIAN_DATE.search(text)
    if not match or match.group(2).lower() not in MONTHS:
        return None
    day, month, year = int(match.group(1)), MONTHS[match.group(2).lower()], int(match.group(3))
    hour, minute = int(match.group(4) or 12), int(match.group(5) or 0)
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def load_labelled(articles_jsonl: Path, stories_csv: Path) -> pa.Table:
    """Articles with a ``story_id``: columns of ``stg_news__articles`` that the news stage uses.

    Lines without a body, and repeated URLs, are skipped (as ingest rejects them).
    """
    with stories_csv.open(newline="", encoding="utf-8") as handle:
        story = {row["url"]: row["story_id"] for row in csv.DictReader(handle)}
    rows = []
    seen: set[str] = set()
    for line in articles_jsonl.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        body = [p.strip() for p in record.get("body") or [] if p and p.strip()]
        if not body or record["url"] in seen or record["url"] not in story:
            continue
        seen.add(record["url"])
        tags = record.get("tags") or []
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",") if t.strip()]
        rows.append(
            {
                "id": record["url"],
                "url": record["url"],
                "outlet": record.get("outlet") or "",
                "title": record["title"],
                "subtitle": record.get("subtitle") or None,
                "content": "\n\n".join(body),
                "content_hash": short_id(record["title"], "\n\n".join(body)),
                "tags": tags,
                "published_at": parse_day(record.get("date")),
                "story_id": story[record["url"]],
            }
        )
    return pa.Table.from_pylist(rows)


@dataclass(frozen=True, slots=True)
class PairScores:
    precision: float
    recall: float
    f1: float
    ari: float
    true_pairs: int
    predicted_pairs: int
    clusters: int
    stories: int


def score_clustering(truth: list[str], predicted: list[str]) -> PairScores:
    """Pairwise precision/recall/F1 (pairs in one cluster) and the adjusted Rand index."""
    from sklearn.metrics import adjusted_rand_score

    if len(truth) != len(predicted):
        raise ValueError("truth and predicted must be aligned")
    same_true = {(i, j) for i, j in combinations(range(len(truth)), 2) if truth[i] == truth[j]}
    same_pred = {
        (i, j) for i, j in combinations(range(len(truth)), 2) if predicted[i] == predicted[j]
    }
    hits = len(same_true & same_pred)
    precision = hits / len(same_pred) if same_pred else 1.0
    recall = hits / len(same_true) if same_true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairScores(
        precision=precision,
        recall=recall,
        f1=f1,
        ari=float(adjusted_rand_score(truth, predicted)),
        true_pairs=len(same_true),
        predicted_pairs=len(same_pred),
        clusters=len(Counter(predicted)),
        stories=len(Counter(truth)),
    )


__all__ = ["PairScores", "load_labelled", "parse_day", "score_clustering"]

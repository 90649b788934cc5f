"""Labelled story sets: load them, and score a clustering against them.

A labelled set is an articles JSONL (the shape of ``data/sample/news/articles.jsonl``) and a
``stories.csv`` (``url,story_id``). It is used to tune ``news_cluster_distance_threshold``
(``bench/news_threshold.py``) and by the clustering tests.

Only the day of an article matters here (the clustering window is in days), so dates are
read by a small parser for the shapes real crawls have (ISO 8601, "06 gennaio 2024, 18:54",
"9 Gennaio 2024", an agency dateline "TARVISIO,\n   06 gennaio 2024, 18:54") rather than
through ingest's full normalization: synthlake must not import from ``ingest/``. As ingest
does, an archive snapshot (``https://web.archive.org/web/<14 digits>/<original>``) is
stored under its original URL with the capture time beside it, and the event time comes
from the date text, else the date in the URL path, else the capture stamp (a date field
that holds only a 14-digit stamp is a capture time, not a publication date), else nothing:
``published_at_source`` is ``text``, ``url_path``, ``capture`` or ``none``.
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
from urllib.parse import urlsplit

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
_SNAPSHOT = re.compile(r"^https?://web\.archive\.org/web/(\d{14})(?:[a-z]{2}_)?/(https?://.+)$")
_STAMP = re.compile(r"^\s*(\d{14})\s*$")
_URL_DATE = re.compile(r"/(20\d\d)/(\d{1,2})/(\d{1,2})(?:/|$)")


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


def parse_stamp(stamp: str | None) -> datetime | None:
    """A 14-digit archive capture stamp (``20240109082917``, UTC) as an aware datetime."""
    match = _STAMP.match(stamp or "")
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def split_snapshot(url: str) -> tuple[str, str | None, datetime | None]:
    """(original URL, snapshot URL or None, capture time or None) of a possibly archived URL."""
    match = _SNAPSHOT.match(url.strip())
    if not match:
        return url, None, None
    return match.group(2), url, parse_stamp(match.group(1))


def url_path_day(url: str) -> datetime | None:
    """The ``/yyyy/mm/dd/`` date of a URL path (noon UTC), or None."""
    match = _URL_DATE.search(urlsplit(url).path)
    if not match:
        return None
    try:
        return datetime(*(int(g) for g in match.groups()), 12, tzinfo=UTC)
    except ValueError:
        return None


def event_time(
    date_text: str | None, url: str, captured_at: datetime | None = None
) -> tuple[datetime | None, str]:
    """(time, source): the date text, else the URL path date, else the capture stamp."""
    stamp = parse_stamp(date_text)
    if stamp is None:
        parsed = parse_day(date_text)
        if parsed is not None:
            return parsed, "text"
    from_path = url_path_day(url)
    if from_path is not None:
        return from_path, "url_path"
    capture = captured_at or stamp
    if capture is not None:
        return capture, "capture"
    return None, "none"


def outlet_of(url: str) -> str:
    """The outlet slug from the original host: ``www.ilpost.it`` -> ``ilpost``."""
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return host.split(".")[0] if host else ""


def load_labelled(articles_jsonl: Path, stories_csv: Path) -> pa.Table:
    """Articles with a ``story_id``: columns of ``stg_news__articles`` that the news stage uses.

    Lines without a body, and repeated URLs, are skipped (as ingest rejects them). An
    archived copy is keyed by its original URL (``stories.csv`` names that one).
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
        url, snapshot_url, captured_at = split_snapshot(record["url"])
        if not body or url in seen or url not in story:
            continue
        seen.add(url)
        published, source = event_time(record.get("date"), url, captured_at)
        tags = record.get("tags") or []
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",") if t.strip()]
        rows.append(
            {
                "id": url,
                "url": url,
                "snapshot_url": snapshot_url,
                "captured_at": captured_at,
                "outlet": record.get("outlet") or outlet_of(url),
                "title": record["title"],
                "subtitle": record.get("subtitle") or None,
                "content": "\n\n".join(body),
                "content_hash": short_id(record["title"], "\n\n".join(body)),
                "tags": tags,
                "published_at": published,
                "published_at_source": source,
                "story_id": story[url],
            }
        )
    return pa.Table.from_pylist(rows, schema=LABELLED_SCHEMA)


LABELLED_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("snapshot_url", pa.string()),
        ("captured_at", pa.timestamp("us", tz="UTC")),
        ("outlet", pa.string()),
        ("title", pa.string()),
        ("subtitle", pa.string()),
        ("content", pa.string()),
        ("content_hash", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("published_at", pa.timestamp("us", tz="UTC")),
        ("published_at_source", pa.string()),
        ("story_id", pa.string()),
    ]
)


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


__all__ = [
    "LABELLED_SCHEMA",
    "PairScores",
    "event_time",
    "load_labelled",
    "outlet_of",
    "parse_day",
    "parse_stamp",
    "score_clustering",
    "split_snapshot",
    "url_path_day",
]

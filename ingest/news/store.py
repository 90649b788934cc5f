"""Writing normalized articles to lake/raw/news, incrementally.

One article is one original URL (``article_id``), however many copies a batch holds: the
same page read from the outlet and from web archive snapshots, or listed twice. Which copy
wins, in a batch and against what the lake already holds:

- a copy read from the outlet itself beats any archive snapshot;
- among snapshots, the one with the **longest body** wins, and on equal length the
  **latest capture**; on a full tie, the first copy seen;
- the other copies of the batch are rejected as ``duplicate_url``, naming the kept one.

Against the stored version, the winner is merged field by field: a field the new copy lacks
(author, subtitle, tags) is kept from the stored one, and the stored event time is kept when
its source ranks higher (``text`` > ``url_path`` > ``capture`` > ``none``). A snapshot
whose body loses to the stored copy's (by the rule above) keeps the stored text. If the
merged row equals the stored one in every field it is ``unchanged``; if anything got better
(a date where there was none, a longer body, tags) it is written as a new version
(``updated``; staging keeps the newest).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from synthlake.ingest.news.dates import DATE_SOURCES
from synthlake.ingest.news.normalize import Article

from synthlake.errors import CorruptRawFile
from synthlake.lake import RAW_NEWS_SCHEMA, Lake, content_hash, now_utc
from synthlake.rejects import Reject, count_reasons, write_rejects

DATE_RANK = {"text": 3, "url_path": 2, "capture": 1, "none": 0}
# published_at_source values written before the event-time rework.
LEGACY_DATE_SOURCES = {"iso": "text", "rfc2822": "text", "italian_text": "text", "missing": "none"}
COMPARED = (
    "url",
    "outlet",
    "title",
    "subtitle",
    "author",
    "published_at",
    "published_at_source",
    "tags",
    "content_hash",
    "snapshot_url",
    "captured_at",
    "flags",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class StoreStats:
    read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    # Kept articles (new, updated, unchanged) by where their event time came from.
    published_at_sources: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)  # kept articles by flag
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.new + self.updated

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "read": self.read,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": dict(self.rejected),
            "published_at_sources": dict(self.published_at_sources),
            "flagged": dict(self.flagged),
            "files": list(self.files),
        }
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out

    def summary(self) -> str:
        """One line for people: counts, event-time sources (``none`` included), flags."""
        dates = ", ".join(f"{s}={self.published_at_sources.get(s, 0)}" for s in DATE_SOURCES)
        line = (
            f"{self.read} read, {self.new} new, {self.updated} updated, "
            f"{self.unchanged} unchanged, rejected {self.rejected or 0}; "
            f"event time from {dates}"
        )
        if self.flagged:
            line += f"; flagged {self.flagged}"
        return line


def latest_versions(lake: Lake, article_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """article_id -> its newest stored row (all columns), for the ids given."""
    wanted = sorted(set(article_ids))
    latest: dict[str, dict[str, Any]] = {}
    if not wanted:
        return latest
    for path in lake.raw_files("news"):
        try:
            table = pq.read_table(path, filters=[("article_id", "in", wanted)])
        except (pa.ArrowException, OSError) as exc:
            raise CorruptRawFile(path, str(exc)) from exc
        for row in table.to_pylist():
            current = latest.get(row["article_id"])
            if current is None or _newer(row, current):
                latest[row["article_id"]] = row
    return latest


def _newer(row: dict[str, Any], than: dict[str, Any]) -> bool:
    """Staging's order: the latest ``ingested_at``, then the smallest content hash."""
    a, b = row.get("ingested_at") or _EPOCH, than.get("ingested_at") or _EPOCH
    if a != b:
        return a > b
    return (row.get("content_hash") or "") < (than.get("content_hash") or "")


def _copy_key(is_original: bool, chars: int, captured_at: datetime | None) -> tuple:
    return (is_original, chars, captured_at or _EPOCH)


def _article_key(article: Article) -> tuple:
    return _copy_key(article.snapshot_url is None, len(article.content), article.captured_at)


def store_articles(
    lake: Lake,
    items: Iterable[Article | Reject],
    *,
    run_id: str,
) -> StoreStats:
    """Write new and changed articles and all rejects; returns what happened."""
    now = now_utc()
    stats = StoreStats()
    best: dict[str, Article] = {}  # article_id -> the winning copy so far
    rejects: list[Reject] = []
    for item in items:
        stats.read += 1
        if isinstance(item, Reject):
            rejects.append(item)
            continue
        kept = best.get(item.article_id)
        if kept is None:
            best[item.article_id] = item
            continue
        loser = item
        if _article_key(item) > _article_key(kept):
            best[item.article_id], loser, kept = item, kept, item
        rejects.append(_duplicate(loser, kept))

    previous = latest_versions(lake, best)
    rows: list[dict[str, object]] = []
    sources: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    for article_id, article in best.items():
        old = previous.get(article_id)
        merged = article if old is None else _merge(article, old)
        sources[merged.published_at_source] += 1
        flags.update(merged.flags)
        if old is None:
            stats.new += 1
        elif _same(merged, old):
            stats.unchanged += 1
            continue
        else:
            stats.updated += 1
        rows.append(_row(merged, run_id=run_id, now=now))

    path = lake.write_raw("news", pa.Table.from_pylist(rows, schema=RAW_NEWS_SCHEMA), run_id)
    if path is not None:
        stats.files.append(str(path))
    reject_path = write_rejects(lake, rejects, run_id=run_id)
    if reject_path is not None:
        stats.files.append(str(reject_path))
    stats.rejected = count_reasons(rejects)
    stats.published_at_sources = dict(sources)
    stats.flagged = dict(flags)
    return stats


def _duplicate(loser: Article, kept: Article) -> Reject:
    where = kept.snapshot_url or kept.locator
    detail = (
        f"{loser.url} appears again; one copy per article is kept: {kept.locator}"
        + (f" ({where})" if where != kept.locator else "")
        + " (a copy from the outlet beats a snapshot, then the longest body, then the latest "
        "capture)"
    )
    raw = {"url": loser.url, "title": loser.title, "snapshot_url": loser.snapshot_url}
    return Reject("news", loser.source, loser.locator, "duplicate_url", detail, raw)


def _date_source(value: str | None) -> str:
    value = value or "none"
    return LEGACY_DATE_SOURCES.get(value, value)


def _merge(new: Article, old: dict[str, Any]) -> Article:
    """``new`` with what it lacks (or has worse) taken from the stored row ``old``."""
    merged = replace(new, tags=list(new.tags), flags=list(new.flags))
    old_key = _copy_key(
        old.get("snapshot_url") is None, len(old.get("content") or ""), old.get("captured_at")
    )
    if new.snapshot_url is not None and old_key >= _article_key(new):
        merged.title, merged.content = old["title"], old["content"]
        merged.subtitle = old.get("subtitle")
        merged.snapshot_url, merged.captured_at = old.get("snapshot_url"), old.get("captured_at")
    merged.subtitle = merged.subtitle or old.get("subtitle")
    merged.author = merged.author or old.get("author")
    merged.tags = merged.tags or list(old.get("tags") or [])
    old_source = _date_source(old.get("published_at_source"))
    if DATE_RANK.get(old_source, 0) > DATE_RANK[merged.published_at_source]:
        merged.published_at = old.get("published_at")
        merged.published_at_source = old_source  # type: ignore[assignment]
        merged.published_at_text = old.get("published_at_text")
        merged.flags = list(old.get("flags") or [])
    merged.captured_at = merged.captured_at or old.get("captured_at")
    merged.content_hash = content_hash(merged.title, merged.subtitle, merged.content)
    return merged


def _same(article: Article, old: dict[str, Any]) -> bool:
    for name in COMPARED:
        mine, theirs = getattr(article, name), old.get(name)
        if name == "published_at_source":
            theirs = _date_source(theirs)
        if name in ("tags", "flags"):
            mine, theirs = list(mine or []), list(theirs or [])
        if mine != theirs:
            return False
    return True


def _row(article: Article, *, run_id: str, now) -> dict[str, object]:  # noqa: ANN001
    return {
        "article_id": article.article_id,
        "url": article.url,
        "outlet": article.outlet,
        "title": article.title,
        "subtitle": article.subtitle,
        "author": article.author,
        "published_at": article.published_at,
        "published_at_text": article.published_at_text,
        "published_at_source": article.published_at_source,
        "snapshot_url": article.snapshot_url,
        "captured_at": article.captured_at,
        "flags": list(article.flags),
        "tags": article.tags,
        "content": article.content,
        "source": article.source,
        "content_hash": article.content_hash,
        "ingested_at": now,
        "ingest_date": now.date().isoformat(),
        "run_id": run_id,
    }

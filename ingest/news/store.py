"""Writing normalized articles to lake/raw/news, incrementally.

An article already in the lake with the same content hash is skipped; one whose content
changed is written again (staging keeps the newest version); the same URL twice in one
batch is stored once and the repeat is rejected as ``duplicate_url``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa

from ingest.news.normalize import Article
from synthlake.lake import RAW_NEWS_SCHEMA, Lake, now_utc
from synthlake.rejects import Reject, count_reasons, write_rejects


@dataclass(slots=True)
class StoreStats:
    read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.new + self.updated

    def as_dict(self) -> dict[str, object]:
        return {
            "read": self.read,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": dict(self.rejected),
            "files": list(self.files),
        }


def known_articles(lake: Lake) -> dict[str, set[str]]:
    """article_id -> every content hash already stored for it."""
    table = lake.read_raw("news", columns=["article_id", "content_hash"])
    known: dict[str, set[str]] = {}
    for article_id, digest in zip(
        table.column("article_id").to_pylist(),
        table.column("content_hash").to_pylist(),
        strict=True,
    ):
        known.setdefault(article_id, set()).add(digest)
    return known


def store_articles(
    lake: Lake,
    items: Iterable[Article | Reject],
    *,
    run_id: str,
) -> StoreStats:
    """Write new and changed articles and all rejects; returns what happened."""
    now = now_utc()
    known = known_articles(lake)
    stats = StoreStats()
    seen: dict[str, str] = {}  # article_id -> locator of its first copy
    rows: list[dict[str, object]] = []
    rejects: list[Reject] = []
    for item in items:
        stats.read += 1
        if isinstance(item, Reject):
            rejects.append(item)
            continue
        if item.article_id in seen:
            detail = f"{item.url} appears again; the first copy ({seen[item.article_id]}) is kept"
            rejects.append(
                Reject(
                    "news",
                    item.source,
                    item.locator,
                    "duplicate_url",
                    detail,
                    {"url": item.url, "title": item.title},
                )
            )
            continue
        seen[item.article_id] = item.locator
        previous = known.get(item.article_id)
        if previous is not None and item.content_hash in previous:
            stats.unchanged += 1
            continue
        if previous is None:
            stats.new += 1
        else:
            stats.updated += 1
        rows.append(_row(item, run_id=run_id, now=now))

    path = lake.write_raw("news", pa.Table.from_pylist(rows, schema=RAW_NEWS_SCHEMA), run_id)
    if path is not None:
        stats.files.append(str(path))
    reject_path = write_rejects(lake, rejects, run_id=run_id)
    if reject_path is not None:
        stats.files.append(str(reject_path))
    stats.rejected = count_reasons(rejects)
    return stats


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
        "tags": article.tags,
        "content": article.content,
        "source": article.source,
        "content_hash": article.content_hash,
        "ingested_at": now,
        "ingest_date": now.date().isoformat(),
        "run_id": run_id,
    }

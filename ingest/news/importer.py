"""`synthlake ingest news --from FILE`: people bring their own crawls this way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ingest.files import InvalidRecord, iter_records
from ingest.news.normalize import Article, normalize_article
from ingest.news.store import StoreStats, store_articles
from synthlake.lake import Lake
from synthlake.progress import progress
from synthlake.rejects import Reject
from synthlake.settings import Settings


def read_news_file(path: Path, settings: Settings) -> Iterator[Article | Reject]:
    source = str(path)
    for locator, record in iter_records(path):
        if isinstance(record, InvalidRecord):
            yield Reject("news", source, locator, record.reason, record.detail, record.raw)
        else:
            yield normalize_article(record, source=source, locator=locator, tz=settings.tz)


def import_news_file(path: Path, lake: Lake, settings: Settings, *, run_id: str) -> StoreStats:
    """Normalize every record of ``path`` and store the new/changed articles in the lake."""
    records = progress(read_news_file(Path(path), settings), f"import {Path(path).name}")
    return store_articles(lake.ensure(), records, run_id=run_id)

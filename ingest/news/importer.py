"""`synthlake ingest news --from FILE`: people bring their own crawls this way.

A file that cannot hold articles at all fails once, with what to fix: a CSV without a body
column (``content``, ``body``, ``text``...) names the columns it has instead of rejecting
every row as ``empty_content``. A file with no rows is a warning, never a silent success.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from synthlake.ingest.files import InvalidRecord, csv_columns, iter_records
from synthlake.ingest.news.normalize import (
    BODY_KEYS,
    TITLE_KEYS,
    URL_KEYS,
    Article,
    normalize_article,
)
from synthlake.ingest.news.store import StoreStats, store_articles

from synthlake.errors import InputFileError
from synthlake.lake import Lake
from synthlake.progress_bar import progress
from synthlake.rejects import Reject
from synthlake.settings import Settings

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = {"url": URL_KEYS, "title": TITLE_KEYS, "content": BODY_KEYS}


def check_columns(path: Path) -> None:
    """Fail once when a CSV lacks a column every article needs (url, title, body)."""
    if Path(path).suffix.lower() != ".csv" or not Path(path).is_file():
        return
    columns = csv_columns(path)
    if not columns:
        return  # an empty file: a warning after the (empty) import
    for name, keys in REQUIRED_COLUMNS.items():
        if not set(columns) & set(keys):  # as normalize reads them: case matters
            raise InputFileError(
                f"{path} has no {name} column (one of: {', '.join(keys)}); its columns are: "
                f"{', '.join(columns)}"
            )


def read_news_file(
    path: Path, settings: Settings, *, now: datetime | None = None
) -> Iterator[Article | Reject]:
    source = str(path)
    now = now or datetime.now(UTC)
    for locator, record in iter_records(path):
        if isinstance(record, InvalidRecord):
            yield Reject("news", source, locator, record.reason, record.detail, record.raw)
        else:
            yield normalize_article(
                record,
                source=source,
                locator=locator,
                tz=settings.tz,
                max_chars=settings.news_max_article_chars,
                now=now,
            )


def import_news_file(path: Path, lake: Lake, settings: Settings, *, run_id: str) -> StoreStats:
    """Normalize every record of ``path`` and store the new/changed articles in the lake."""
    path = Path(path)
    check_columns(path)
    records = progress(read_news_file(path, settings), f"import {path.name}")
    stats = store_articles(lake.ensure(), records, run_id=run_id)
    if stats.read == 0:
        stats.warnings.append(f"{path}: 0 rows read (an empty file, or a CSV with only a header)")
    logger.info("news import %s: %s", path, stats.summary())
    for warning in stats.warnings:
        logger.warning("%s", warning)
    return stats

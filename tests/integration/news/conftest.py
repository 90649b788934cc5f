"""Fixtures of the news crawler tests: a local site on 127.0.0.1 and fast crawl settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from synthlake.lake import Lake
from synthlake.settings import Settings, load_settings
from tests.integration.news.site import FaultSite


@pytest.fixture
def site() -> Iterator[FaultSite]:
    with FaultSite() as server:
        yield server


def fast_settings(lake_root: Path, **overrides: object) -> Settings:
    """50 requests/s per host and millisecond backoffs: the logic of production, fast."""
    values: dict[str, object] = {
        "lake_root": lake_root,
        "news_requests_per_second_per_host": 50.0,
        "news_retry_backoff_s": 0.01,
        "news_timeout_s": 2.0,
        "news_max_retries": 2,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def crawl_settings(tmp_path: Path) -> Settings:
    return fast_settings(tmp_path / "lake")


@pytest.fixture
def crawl_lake(crawl_settings: Settings) -> Lake:
    return Lake.from_settings(crawl_settings).ensure()

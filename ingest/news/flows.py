"""Prefect flow ``ingest_news``: crawl the news outlets into the lake.

The flow only wires tasks; the crawl lives in :mod:`synthlake.ingest.news.crawl`. The crawl
task has no
Prefect retries: every request inside it is already retried (429/5xx/timeouts, with
backoff), and a failed page is a reject, not a failed task. A rerun is safe anyway, since
the crawl is incremental.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from synthlake.ingest.news.crawl import crawl_news
from synthlake.ingest.news.sample_site import serve_sample_site

from synthlake.lake import Lake, new_run_id
from synthlake.settings import Settings, load_settings


@task(name="crawl_outlets", cache_policy=NO_CACHE)
def crawl_outlets(
    settings: Settings,
    lake: Lake,
    run_id: str,
    outlets: list[str] | None = None,
    host_map: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Crawl the outlets; log the counters and every warning; return the stats as a dict."""
    logger = get_run_logger()
    stats = crawl_news(settings, lake, run_id=run_id, outlets=outlets, host_map=host_map)
    info = stats.as_dict()
    logger.info(
        "crawl: %s", {k: v for k, v in info.items() if k not in ("files", "outlets", "warnings")}
    )
    for name, counts in info["outlets"].items():
        logger.info("crawl %s: %s", name, counts)
    for warning in stats.warnings:
        logger.warning("%s", warning)
    return info


@flow(name="ingest_news")
def ingest_news(
    outlets: list[str] | None = None,
    lake_root: str | None = None,
    sample_site: bool = False,
) -> dict[str, Any]:
    """Crawl ANSA, Il Post and Open (or ``outlets``) into lake/raw/news.

    ``sample_site=True`` crawls the bundled saved site (data/sample/site) served on
    127.0.0.1 instead of the real sites; the stored URLs are the real ones either way.
    """
    settings = load_settings(**({"lake_root": Path(lake_root)} if lake_root else {}))
    lake = Lake.from_settings(settings).ensure()
    run_id = new_run_id()
    with serve_sample_site() if sample_site else nullcontext(None) as host_map:
        return crawl_outlets(settings, lake, run_id, outlets, host_map)

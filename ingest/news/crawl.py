"""Crawl the news outlets into lake/raw/news: discovery, polite fetching, extraction, storage.

``crawl_news`` runs every selected outlet concurrently (one host each, so the per-host pace
holds while the crawl as a whole goes as fast as the hosts together allow):

1. discover article URLs from the outlet's feeds and listings (``discovery``);
2. skip URLs already in the lake, unless ``SYNTHLAKE_NEWS_REFETCH_AFTER_DAYS`` says they are
   due again (then the GET is conditional, and a 304 is "unchanged");
3. fetch each remaining page (``http.PoliteClient``) and extract it (the outlet's scraper);
4. pass every article through ``normalize.normalize_article`` and ``store.store_articles``,
   the same code the file import uses, so a crawled article and an imported one become the
   same row; the content hash tells an update from an unchanged page.

Every page that fails (fetch or parse) becomes a ``rejects`` row (domain ``news``, source =
the URL, a reason code). Nothing is dropped silently: for each outlet, every discovered URL is
accounted for as skipped, unchanged, stored, rejected or deferred (left for the next run by
the time budget or the per-outlet cap). An outlet that yields no article, or whose
extraction rate falls under ``SYNTHLAKE_NEWS_MIN_EXTRACTION_RATE``, is a warning.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from synthlake.ingest.news import ansa, ilpost
from synthlake.ingest.news import open as open_online
from synthlake.ingest.news.archive import original_url, site_of
from synthlake.ingest.news.discovery import OutletConfig, discover, load_outlets
from synthlake.ingest.news.extract import ExtractionFailed, Scraper
from synthlake.ingest.news.http import FetchFailed, PoliteClient, ValidatorStore
from synthlake.ingest.news.normalize import Article, canonical_url, normalize_article
from synthlake.ingest.news.store import store_articles

from synthlake.errors import SettingsError
from synthlake.lake import Lake
from synthlake.rejects import Reject
from synthlake.settings import Settings

logger = logging.getLogger(__name__)

SCRAPERS: dict[str, Scraper] = {
    scraper.outlet: scraper for scraper in (ansa.SCRAPER, ilpost.SCRAPER, open_online.SCRAPER)
}
VALIDATORS_FILE = "news_http.json"
WORKERS_PER_OUTLET = 2  # one fetching while the other parses; the host sees one at a time

T = TypeVar("T")


@dataclass(slots=True)
class OutletStats:
    discovered: int = 0  # unique article URLs named by feeds and listings
    feeds: int = 0
    listing_pages: int = 0
    too_old: int = 0
    skipped_known: int = 0  # already in the lake, not due for a refetch
    fetched: int = 0  # article pages that came back 2xx
    not_modified: int = 0  # article refetches answered 304
    extracted: int = 0  # fetched pages that became an article
    rejected: int = 0  # discovered URLs that ended as a reject
    deferred: int = 0  # left for the next run (time budget, per-outlet cap)
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def extraction_rate(self) -> float | None:
        return self.extracted / self.fetched if self.fetched else None

    @property
    def unaccounted(self) -> int:
        """Discovered URLs with no outcome; always 0 unless there is a bug."""
        return self.discovered - (
            self.skipped_known
            + self.not_modified
            + self.rejected
            + self.deferred
            + self.new
            + self.updated
            + self.unchanged
        )

    def as_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}
        out["extraction_rate"] = self.extraction_rate
        return out


@dataclass(slots=True)
class CrawlStats:
    requests: int = 0  # every HTTP request sent: robots, feeds, listings, articles, retries
    retries: int = 0
    fetched: int = 0
    not_modified: int = 0  # all 304s (feeds and listings included)
    skipped_known: int = 0
    deferred: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    # Stored articles by where their event time came from, and by flag (as StoreStats).
    published_at_sources: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    outlets: dict[str, OutletStats] = field(default_factory=dict)
    requests_by_host: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def written(self) -> int:
        return self.new + self.updated

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "fetched": self.fetched,
            "not_modified": self.not_modified,
            "skipped_known": self.skipped_known,
            "deferred": self.deferred,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": dict(self.rejected),
            "published_at_sources": dict(self.published_at_sources),
            "flagged": dict(self.flagged),
            "warnings": list(self.warnings),
            "outlets": {name: o.as_dict() for name, o in self.outlets.items()},
            "requests_by_host": dict(self.requests_by_host),
            "files": list(self.files),
            "seconds": round(self.seconds, 3),
        }


def select_outlets(settings: Settings, outlets: list[str] | None = None) -> list[OutletConfig]:
    """The outlets to crawl: ``outlets`` if given, else ``SYNTHLAKE_NEWS_OUTLETS``."""
    configured = load_outlets()
    wanted = outlets if outlets is not None else settings.news_outlets.split(",")
    names = [n.strip().lower() for n in wanted if n.strip()]
    if names == ["all"]:
        names = [n for n in configured if n in SCRAPERS]
    unknown = [n for n in names if n not in configured or n not in SCRAPERS]
    if unknown:
        known = ", ".join(n for n in configured if n in SCRAPERS)
        raise SettingsError(
            f"unknown news outlet(s) {', '.join(unknown)}; SYNTHLAKE_NEWS_OUTLETS takes 'all' "
            f"or a comma list of: {known}"
        )
    return [configured[n] for n in dict.fromkeys(names)]


def known_urls(lake: Lake) -> dict[str, datetime]:
    """URL -> when it was last stored, for every article in the lake."""
    table = lake.read_raw("news", columns=["url", "ingested_at"])
    latest: dict[str, datetime] = {}
    for url, when in zip(
        table.column("url").to_pylist(), table.column("ingested_at").to_pylist(), strict=True
    ):
        if url and (url not in latest or (when and when > latest[url])):
            latest[url] = when
    return latest


def crawl_news(
    settings: Settings,
    lake: Lake,
    *,
    run_id: str,
    outlets: list[str] | None = None,
    host_map: dict[str, str] | None = None,
    now: datetime | None = None,
) -> CrawlStats:
    """Crawl the selected outlets into ``lake``; returns what happened (see module docstring).

    ``host_map`` ({host: base URL}) sends a host's requests elsewhere (the sample site, a
    mirror); stored URLs stay the real ones. ``now`` fixes the clock for the age limit.
    """
    configs = select_outlets(settings, outlets)
    crawler = _Crawler(settings, lake.ensure(), run_id, host_map or {}, now or datetime.now(UTC))
    return _run_sync(lambda: crawler.run(configs))


def _run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """``asyncio.run``, also from code that already runs inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name="crawl_news")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class _Crawler:
    def __init__(
        self,
        settings: Settings,
        lake: Lake,
        run_id: str,
        host_map: dict[str, str],
        now: datetime,
    ) -> None:
        self.settings = settings
        self.lake = lake
        self.run_id = run_id
        self.host_map = host_map
        self.now = now
        self.known = known_urls(lake)
        self.validators = ValidatorStore.load(lake.cache / VALIDATORS_FILE)
        self.stats = CrawlStats()
        self.rejected: Counter[str] = Counter()
        self._store_lock = asyncio.Lock()
        self._deadline: float | None = None

    async def run(self, configs: list[OutletConfig]) -> CrawlStats:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        if self.settings.news_time_budget_s is not None:
            self._deadline = loop.time() + self.settings.news_time_budget_s
        async with PoliteClient(
            self.settings, host_map=self.host_map, validators=self.validators
        ) as client:
            results = await asyncio.gather(
                *(self._outlet(config, client) for config in configs), return_exceptions=True
            )
            counters = client.counters
            robots_problems = dict(client.robots.problems)
        self.validators.save()
        for config, result in zip(configs, results, strict=True):
            if isinstance(result, BaseException):
                # One outlet's bug must not lose the others' work; it is loud instead.
                logger.error("crawl of %s failed", config.outlet, exc_info=result)
                self.stats.warnings.append(
                    f"{config.outlet}: crawl failed with {type(result).__name__}: {result}"
                )
        stats = self.stats
        stats.requests = counters.requests
        stats.retries = counters.retries
        stats.not_modified = counters.not_modified
        stats.requests_by_host = dict(counters.by_host)
        stats.rejected = dict(self.rejected)
        for origin, problem in robots_problems.items():
            stats.warnings.append(f"robots.txt of {origin} unavailable ({problem}): host skipped")
        stats.seconds = time.perf_counter() - started
        logger.info(
            "news crawl: requests=%d retries=%d fetched=%d not_modified=%d skipped_known=%d "
            "new=%d updated=%d unchanged=%d deferred=%d rejected=%s",
            stats.requests,
            stats.retries,
            stats.fetched,
            stats.not_modified,
            stats.skipped_known,
            stats.new,
            stats.updated,
            stats.unchanged,
            stats.deferred,
            stats.rejected,
        )
        for warning in stats.warnings:
            logger.warning("news crawl: %s", warning)
        return stats

    # --- one outlet ------------------------------------------------------------------------------

    async def _outlet(self, config: OutletConfig, client: PoliteClient) -> None:
        scraper = SCRAPERS[config.outlet]
        ostats = self.stats.outlets.setdefault(config.outlet, OutletStats())
        cutoff = (
            (self.now - timedelta(days=self.settings.news_max_age_days)).date()
            if self.settings.news_max_age_days is not None
            else None
        )
        found = await discover(
            config,
            scraper,
            client,
            max_pages=self.settings.news_max_listing_pages,
            cutoff=cutoff,
        )
        ostats.discovered = len(found.found)
        ostats.feeds, ostats.listing_pages = found.feeds, found.listing_pages
        ostats.too_old = found.too_old
        self.stats.warnings.extend(found.warnings)

        targets: list[tuple[str, str, bool]] = []  # (url, found via, conditional)
        for url, item in found.found.items():
            alias = (self.validators.get(url) or {}).get("alias")
            # A snapshot URL is stored under its original page's URL.
            original = canonical_url(original_url(url)) or url
            stored_at = (
                self.known.get(url)
                or self.known.get(original)
                or (self.known.get(alias) if alias else None)
            )
            if stored_at is not None and not self._refetch_due(stored_at):
                ostats.skipped_known += 1
                continue
            targets.append((url, item.via, stored_at is not None))
        cap = self.settings.news_max_articles_per_outlet
        if cap is not None and len(targets) > cap:
            ostats.deferred += len(targets) - cap
            targets = targets[:cap]

        queue: asyncio.Queue[tuple[str, str, bool]] = asyncio.Queue()
        for target in targets:
            queue.put_nowait(target)
        items: list[Article | Reject] = list(found.rejects)
        workers = [
            asyncio.create_task(self._worker(queue, scraper, client, ostats, items))
            for _ in range(min(WORKERS_PER_OUTLET, max(1, len(targets))))
        ]
        await asyncio.gather(*workers)

        async with self._store_lock:
            stored = await asyncio.to_thread(store_articles, self.lake, items, run_id=self.run_id)
        ostats.new, ostats.updated, ostats.unchanged = stored.new, stored.updated, stored.unchanged
        # Unchanged also counts 304s, which never reached the store.
        ostats.unchanged += ostats.not_modified
        # Article-level rejects: the store also rejects a second URL that turned out to be
        # the same article (same canonical URL) as ``duplicate_url``.
        ostats.rejected = sum(stored.rejected.values()) - len(found.rejects)
        self.rejected.update(stored.rejected)
        for total, counts in (
            (self.stats.published_at_sources, stored.published_at_sources),
            (self.stats.flagged, stored.flagged),
        ):
            for key, n in counts.items():
                total[key] = total.get(key, 0) + n
        self.stats.files.extend(stored.files)
        self._add_up(config, ostats)

    def _refetch_due(self, stored_at: datetime) -> bool:
        days = self.settings.news_refetch_after_days
        return days is not None and stored_at <= self.now - timedelta(days=days)

    async def _worker(
        self,
        queue: asyncio.Queue[tuple[str, str, bool]],
        scraper: Scraper,
        client: PoliteClient,
        ostats: OutletStats,
        items: list[Article | Reject],
    ) -> None:
        loop = asyncio.get_running_loop()
        while not queue.empty():
            url, via, conditional = queue.get_nowait()
            if self._deadline is not None and loop.time() >= self._deadline:
                ostats.deferred += 1
                continue
            item = await self._article(url, via, conditional, scraper, client, ostats)
            if item is not None:
                items.append(item)

    async def _article(
        self,
        url: str,
        via: str,
        conditional: bool,
        scraper: Scraper,
        client: PoliteClient,
        ostats: OutletStats,
    ) -> Article | Reject | None:
        try:
            page = await client.fetch(
                url,
                conditional=conditional,
                remember=self.settings.news_refetch_after_days is not None,
                same_site=site_of(url, scraper.domain),
            )
        except FetchFailed as exc:
            return _page_reject(url, exc.reason, exc.detail, exc.status)
        if page.not_modified:
            ostats.not_modified += 1
            return None
        ostats.fetched += 1
        self.stats.fetched += 1
        try:
            extracted = await asyncio.to_thread(
                lambda: scraper.extract(page.text(), page.final_url)
            )
        except ExtractionFailed as exc:
            return _page_reject(url, exc.reason, exc.detail, page.status)
        if not scraper.owns(extracted.url):
            extracted.url = page.final_url
        item = normalize_article(
            extracted.as_record(),
            source=via,
            locator=url,
            tz=self.settings.tz,
            max_chars=self.settings.news_max_article_chars,
        )
        if isinstance(item, Reject):
            # Keep the URL as the source, as for every other page that fails.
            item.source, item.locator = url, "article"
            return item
        ostats.extracted += 1
        if item.url != url:
            # Remember where this URL led, so that the next run knows it is stored.
            self.validators.update(url, alias=item.url)
        return item

    def _add_up(self, config: OutletConfig, ostats: OutletStats) -> None:
        stats = self.stats
        stats.skipped_known += ostats.skipped_known
        stats.deferred += ostats.deferred
        stats.new += ostats.new
        stats.updated += ostats.updated
        stats.unchanged += ostats.unchanged
        name = config.outlet
        if ostats.discovered == 0:
            stats.warnings.append(
                f"{name}: no article found in its feeds and listings (did the site change its "
                "HTML, or is the seed's rss_urls/listing_urls out of date?)"
            )
        rate = ostats.extraction_rate
        if rate is not None and rate < self.settings.news_min_extraction_rate:
            stats.warnings.append(
                f"{name}: only {ostats.extracted} of {ostats.fetched} fetched pages became "
                f"articles ({rate:.0%} < SYNTHLAKE_NEWS_MIN_EXTRACTION_RATE="
                f"{self.settings.news_min_extraction_rate:.0%}); the site may have changed"
            )
        if ostats.unaccounted:
            stats.warnings.append(
                f"{name}: {ostats.unaccounted} discovered URLs have no outcome (a bug)"
            )


def _page_reject(url: str, reason: str, detail: str, status: int | None) -> Reject:
    return Reject("news", url, "article", reason, detail, {"url": url, "status": status})

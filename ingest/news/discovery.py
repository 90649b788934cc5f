"""Finding article URLs: each outlet's RSS feeds and listing pages, from seeds/news_outlets.csv.

The seed gives per outlet ``rss_urls`` and ``listing_urls`` (space-separated). Feeds are
parsed with feedparser; listings are followed through their pagination (``rel=next`` or a
"Successiva" link) up to ``SYNTHLAKE_NEWS_MAX_LISTING_PAGES`` pages, and stop early once a
page lists nothing newer than ``SYNTHLAKE_NEWS_MAX_AGE_DAYS``. Only URLs on the outlet's own
domain that look like its articles are kept, canonical and once each, however many listings
name them.

Feeds and listings are fetched conditionally: their validators and the links they held are
kept, so a 304 still yields the links. A feed or listing that fails is a reject (with the
reason) and a warning, and its links are *not* borrowed from anywhere else.
"""

from __future__ import annotations

import asyncio
import csv
import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import feedparser
from synthlake.ingest.news.archive import site_of
from synthlake.ingest.news.extract import Scraper, parse_html
from synthlake.ingest.news.http import FetchFailed, Page, PoliteClient
from synthlake.ingest.news.normalize import OUTLETS_SEED, canonical_url

from synthlake.errors import SettingsError
from synthlake.rejects import Reject

logger = logging.getLogger(__name__)

SourceKind = Literal["feed", "listing"]


@dataclass(frozen=True, slots=True)
class OutletConfig:
    """One row of seeds/news_outlets.csv."""

    outlet: str
    name: str
    domain: str
    homepage: str
    rss_urls: tuple[str, ...] = ()
    listing_urls: tuple[str, ...] = ()


def load_outlets(seed: Path = OUTLETS_SEED) -> dict[str, OutletConfig]:
    """The outlets of the seed, by slug; a malformed seed is a SettingsError naming it."""
    try:
        with Path(seed).open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise SettingsError(f"cannot read the outlets seed {seed}: {exc}") from exc
    outlets: dict[str, OutletConfig] = {}
    for number, row in enumerate(rows, start=2):
        try:
            slug = row["outlet"].strip().lower()
            outlets[slug] = OutletConfig(
                outlet=slug,
                name=row["name"].strip(),
                domain=row["domain"].strip().lower(),
                homepage=row["homepage"].strip(),
                rss_urls=tuple((row.get("rss_urls") or "").split()),
                listing_urls=tuple((row.get("listing_urls") or "").split()),
            )
        except (KeyError, AttributeError) as exc:
            raise SettingsError(f"{seed}:{number}: missing column {exc}") from exc
    return outlets


@dataclass(slots=True)
class Found:
    """An article URL and where it was first seen."""

    url: str
    via: str
    day: date | None = None


@dataclass(slots=True)
class Discovery:
    outlet: str
    found: dict[str, Found] = field(default_factory=dict)
    feeds: int = 0
    listing_pages: int = 0
    not_modified: int = 0
    too_old: int = 0
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, url: str, via: str, day: date | None) -> bool:
        if url in self.found:
            return False
        self.found[url] = Found(url, via, day)
        return True


# --- parsing --------------------------------------------------------------------------------------


def feed_links(content: bytes, scraper: Scraper) -> tuple[list[tuple[str, date | None]], str]:
    """(article URL, entry date) of a feed, and feedparser's complaint if it has no entries."""
    parsed = feedparser.parse(content)
    links: dict[str, date | None] = {}
    for entry in parsed.entries:
        raw = entry.get("link") or (entry.get("id") if entry.get("guidislink") else None)
        url = canonical_url(raw) if raw else None
        if not url or not scraper.is_article_url(url):
            continue
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        day = date(stamp.tm_year, stamp.tm_mon, stamp.tm_mday) if stamp else None
        links.setdefault(url, day)
    problem = ""
    if not parsed.entries:
        problem = str(parsed.get("bozo_exception") or "no entries")
    return list(links.items()), problem


def listing_links(html: str, url: str, scraper: Scraper) -> tuple[list[str], str | None]:
    soup = parse_html(html)
    return scraper.listing_links(soup, url), scraper.next_page(soup, url)


# --- crawling -------------------------------------------------------------------------------------


async def discover(
    config: OutletConfig,
    scraper: Scraper,
    client: PoliteClient,
    *,
    max_pages: int,
    cutoff: date | None = None,
) -> Discovery:
    """Every article URL the outlet's feeds and listings name (within the depth/age limits)."""
    result = Discovery(config.outlet)
    for feed_url in config.rss_urls:
        await _read_feed(feed_url, scraper, client, result, cutoff)
    for listing_url in config.listing_urls:
        await _read_listing(listing_url, scraper, client, result, max_pages, cutoff)
    return result


async def _fetch_source(
    url: str, kind: SourceKind, scraper: Scraper, client: PoliteClient, result: Discovery
) -> Page | None:
    cached = client.validators.get(url) or {}
    try:
        page = await client.fetch(
            url,
            conditional="links" in cached,
            remember=True,
            same_site=site_of(url, scraper.domain),
        )
    except FetchFailed as exc:
        result.rejects.append(_reject(url, kind, exc.reason, exc.detail, exc.status))
        result.warnings.append(
            f"{result.outlet}: {kind} {url} failed ({exc.reason}); its articles were not "
            "discovered this run"
        )
        return None
    if page.not_modified:
        result.not_modified += 1
    return page


async def _read_feed(
    url: str, scraper: Scraper, client: PoliteClient, result: Discovery, cutoff: date | None
) -> None:
    page = await _fetch_source(url, "feed", scraper, client, result)
    if page is None:
        return
    result.feeds += 1
    if page.not_modified:
        links = [
            (u, date.fromisoformat(d) if d else None)
            for u, d in client.validators.get(url)["links"]
        ]
    else:
        links, problem = await asyncio.to_thread(feed_links, page.content, scraper)
        if problem and not links:
            result.rejects.append(_reject(url, "feed", "parse_bad_feed", problem, page.status))
            result.warnings.append(f"{result.outlet}: feed {url} has no usable entries ({problem})")
        client.validators.update(
            url, links=[(u, d.isoformat() if d else None) for u, d in links], next=None
        )
    for link, day in links:
        day = scraper.url_date(link) or day
        if cutoff is not None and day is not None and day < cutoff:
            result.too_old += 1
            continue
        result.add(link, url, day)


async def _read_listing(
    first: str,
    scraper: Scraper,
    client: PoliteClient,
    result: Discovery,
    max_pages: int,
    cutoff: date | None,
) -> None:
    url: str | None = first
    visited: set[str] = set()
    for _ in range(max_pages):
        if url is None or url in visited:
            return
        visited.add(url)
        page = await _fetch_source(url, "listing", scraper, client, result)
        if page is None:
            return  # pagination stops at a failed page; nothing is reused in its place
        result.listing_pages += 1
        if page.not_modified:
            entry = client.validators.get(url) or {}
            links, next_url = list(entry.get("links") or []), entry.get("next")
        else:
            links, next_url = await asyncio.to_thread(listing_links, page.text(), url, scraper)
            client.validators.update(url, links=links, next=next_url)
            if not links:
                result.rejects.append(
                    _reject(url, "listing", "parse_no_links", "no article links", page.status)
                )
                result.warnings.append(
                    f"{result.outlet}: listing {url} links to no article (did the site change "
                    "its HTML?)"
                )
        fresh = 0
        for link in links:
            day = scraper.url_date(link)
            if cutoff is not None and day is not None and day < cutoff:
                result.too_old += 1
                continue
            fresh += 1
            result.add(link, url, day)
        if links and not fresh:
            return  # everything on this page is older than the age limit: so are later pages
        url = next_url


def _reject(url: str, kind: SourceKind, reason: str, detail: str, status: int | None) -> Reject:
    return Reject("news", url, kind, reason, detail, {"url": url, "kind": kind, "status": status})

"""Which URLs are articles, what listings and feeds yield, and the outlets seed."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from synthlake.ingest.news import ansa, ilpost
from synthlake.ingest.news import open as open_online
from synthlake.ingest.news.crawl import select_outlets
from synthlake.ingest.news.discovery import feed_links, listing_links, load_outlets
from synthlake.ingest.news.extract import Scraper
from synthlake.ingest.news.normalize import OUTLETS_SEED

from synthlake.errors import SettingsError
from synthlake.settings import load_settings
from tests.unit.ingest.news.samples import SITE, sample_records

SCRAPERS: dict[str, Scraper] = {
    "ansa": ansa.SCRAPER,
    "ilpost": ilpost.SCRAPER,
    "open": open_online.SCRAPER,
}
UUID = "d39a7c15-b82e-4f61-9c0d-6e4f18a2b7c9"


@pytest.mark.parametrize(
    ("outlet", "url", "expected"),
    [
        ("ansa", f"https://www.ansa.it/campania/notizie/2024/01/02/botti_{UUID}.html", True),
        ("ansa", f"https://www.ansa.it/sito/notizie/sport/calcio/2024/01/07/x-y_{UUID}.html", True),
        ("ansa", f"https://ansa.it/sito/notizie/cronaca/2024/01/12/a_{UUID}.html", True),
        ("ansa", f"https://www.ansa.it/sito/videogallery/italia/2024/01/10/v_{UUID}.html", False),
        ("ansa", f"https://ansabrasil.com.br/brasil/noticias/2024/01/10/n_{UUID}.html", False),
        ("ansa", f"https://www.ansabrasil.it/sito/notizie/2024/01/10/n_{UUID}.html", False),
        ("ansa", "https://www.ansa.it/sito/notizie/cronaca/cronaca.shtml", False),
        ("ansa", "https://www.ansa.it/campania/notizie/2024/01/02/senza-uuid.html", False),
        ("ilpost", "https://www.ilpost.it/2024/01/03/quadrantidi-stelle-cadenti-gennaio/", True),
        ("ilpost", "https://www.ilpost.it/2024/01/03/quadrantidi", True),
        ("ilpost", "https://www.ilpost.it/2024/01/03/", False),  # a day archive
        ("ilpost", "https://www.ilpost.it/tag/scienza/", False),
        ("ilpost", "https://www.ilpost.it/italia/page/2/", False),
        ("ilpost", "ftp://www.ilpost.it/2024/01/03/a/", False),
        ("open", "https://www.open.online/2024/01/09/sciopero-treni-lombardia/", True),
        ("open", "https://www.open.online/c/attualita/", False),
        ("open", "https://www.ilpost.it/2024/01/09/sciopero-treni-lombardia/", False),
    ],
)
def test_is_article_url(outlet: str, url: str, expected: bool) -> None:
    assert SCRAPERS[outlet].is_article_url(url) is expected


@pytest.mark.parametrize(
    ("outlet", "url", "expected"),
    [
        ("ansa", f"https://www.ansa.it/veneto/notizie/2024/01/03/x_{UUID}.html", date(2024, 1, 3)),
        ("ilpost", "https://www.ilpost.it/2024/01/11/neve/", date(2024, 1, 11)),
        ("open", "https://www.open.online/2024/02/30/impossibile/", None),
    ],
)
def test_url_date(outlet: str, url: str, expected: date | None) -> None:
    assert SCRAPERS[outlet].url_date(url) == expected


def by_outlet() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for record in sample_records():
        out.setdefault(record["outlet"], set()).add(record["url"])
    return out


@pytest.mark.parametrize(
    ("outlet", "first", "second", "next_url"),
    [
        (
            "ansa",
            "www.ansa.it/sito/notizie/topnews/index.shtml",
            "www.ansa.it/sito/notizie/topnews/index_2.shtml",
            "https://www.ansa.it/sito/notizie/topnews/index_2.shtml",
        ),
        (
            "ilpost",
            "www.ilpost.it/italia/index.html",
            "www.ilpost.it/italia/page/2/index.html",
            "https://www.ilpost.it/italia/page/2/",
        ),
        (
            "open",
            "www.open.online/c/attualita/index.html",
            "www.open.online/c/attualita/page/2/index.html",
            "https://www.open.online/c/attualita/page/2/",
        ),
    ],
)
def test_listing_pages_list_every_article_and_paginate(
    outlet: str, first: str, second: str, next_url: str
) -> None:
    scraper = SCRAPERS[outlet]
    links1, next1 = listing_links(
        (SITE / first).read_text(encoding="utf-8"), "https://" + first.split("index.")[0], scraper
    )
    links2, next2 = listing_links((SITE / second).read_text(encoding="utf-8"), next_url, scraper)
    assert next1 == next_url
    assert next2 is None
    assert len(links1) == len(set(links1))
    # Both pages together name every sample article of the outlet, and nothing else.
    assert set(links1) | set(links2) == by_outlet()[outlet]


@pytest.mark.parametrize(
    ("outlet", "feed"),
    [
        ("ansa", "www.ansa.it/sito/ansait_rss.xml"),
        ("ilpost", "www.ilpost.it/feed/index.xml"),
        ("open", "www.open.online/feed/index.xml"),
    ],
)
def test_feeds_give_canonical_article_links_with_dates(outlet: str, feed: str) -> None:
    links, problem = feed_links((SITE / feed).read_bytes(), SCRAPERS[outlet])
    assert problem == ""
    assert len(links) == 8
    urls = {url for url, _ in links}
    assert urls <= by_outlet()[outlet]  # tracking parameters (Open's utm_*) are gone
    assert all(day is not None and day.year == 2024 for _, day in links)


def test_a_broken_feed_says_why() -> None:
    links, problem = feed_links(b"<html><body>Service Unavailable</body></html>", ansa.SCRAPER)
    assert links == []
    assert problem


def test_the_seed_configures_feeds_and_listings() -> None:
    outlets = load_outlets()
    assert set(outlets) == {"ansa", "ilpost", "open"}
    for outlet in outlets.values():
        assert outlet.rss_urls and outlet.listing_urls
        scraper = SCRAPERS[outlet.outlet]
        assert scraper.domain == outlet.domain
        assert all(scraper.owns(u) for u in (*outlet.rss_urls, *outlet.listing_urls))


def test_the_seed_keeps_the_columns_dbt_and_normalize_read() -> None:
    with OUTLETS_SEED.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames[:4] == ["outlet", "name", "domain", "homepage"]
    assert all(len(row) == len(reader.fieldnames) and None not in row for row in rows)


def test_select_outlets(tmp_path: Path) -> None:
    settings = load_settings(lake_root=tmp_path, news_outlets="open,ansa")
    assert [o.outlet for o in select_outlets(settings)] == ["open", "ansa"]
    assert [o.outlet for o in select_outlets(settings, ["ilpost"])] == ["ilpost"]
    assert len(select_outlets(load_settings(lake_root=tmp_path))) == 3
    with pytest.raises(SettingsError, match=r"unknown news outlet\(s\) repubblica.*ansa"):
        select_outlets(settings, ["repubblica"])


def test_bad_outlets_setting_is_named() -> None:
    with pytest.raises(SettingsError, match="SYNTHLAKE_NEWS_OUTLETS"):
        load_settings(news_outlets="ansa;ilpost")

"""``crawl_news`` on the saved sample site served on 127.0.0.1: the whole acquisition path."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from synthlake.ingest.news.crawl import crawl_news
from synthlake.ingest.news.importer import import_news_file

from synthlake.lake import Lake
from synthlake.settings import PROJECT_DIR, Settings
from tests.integration.news.conftest import fast_settings
from tests.integration.news.site import (
    FaultSite,
    hang,
    huge,
    in_turn,
    max_in_window,
    page,
    redirect,
)

SAMPLE = PROJECT_DIR / "data" / "sample"
ROW_FIELDS = (
    "article_id",
    "outlet",
    "title",
    "subtitle",
    "author",
    "published_at",
    "tags",
    "content",
    "content_hash",
)
LISTING_PATHS = {
    "/robots.txt",
    "/",
    "/sito/ansait_rss.xml",
    "/sito/notizie/topnews/index.shtml",
    "/sito/notizie/topnews/index_2.shtml",
    "/feed/",
    "/italia/",
    "/italia/page/2/",
    "/c/attualita/",
    "/c/attualita/page/2/",
}


def sample_urls() -> dict[str, dict]:
    records: dict[str, dict] = {}
    for line in (SAMPLE / "news" / "articles.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if any(p.strip() for p in record.get("body") or []):
            records.setdefault(record["url"], record)
    return records


def rows_by_url(lake: Lake) -> dict[str, dict]:
    return {row["url"]: row for row in lake.read_raw("news").to_pylist()}


def test_crawling_the_sample_site_stores_what_the_file_import_stores(
    site: FaultSite, crawl_settings: Settings, crawl_lake: Lake, tmp_path: Path
) -> None:
    stats = crawl_news(crawl_settings, crawl_lake, run_id="crawl1", host_map=site.host_map())

    assert (stats.new, stats.updated, stats.rejected, stats.warnings) == (40, 0, {}, [])
    assert {name: o.new for name, o in stats.outlets.items()} == {
        "ansa": 14,
        "ilpost": 13,
        "open": 13,
    }
    assert all(o.unaccounted == 0 and o.extraction_rate == 1.0 for o in stats.outlets.values())

    crawled = rows_by_url(crawl_lake)
    assert set(crawled) == set(sample_urls())  # the real canonical URLs
    imported_lake = Lake(tmp_path / "imported").ensure()
    import_news_file(
        SAMPLE / "news" / "articles.jsonl", imported_lake, crawl_settings, run_id="import"
    )
    imported = rows_by_url(imported_lake)
    for url, row in crawled.items():
        assert {f: row[f] for f in ROW_FIELDS} == {f: imported[url][f] for f in ROW_FIELDS}, url
        assert row["published_at"].tzinfo is not None

    # Every article was requested once, though feeds, homepages and listings repeat them.
    article_requests = [r for r in site.requests() if r.path not in LISTING_PATHS]
    assert len(article_requests) == 40
    assert len({(r.host, r.path) for r in article_requests}) == 40
    assert stats.requests == len(site.requests()) == 40 + 15
    assert {r.host: 0 for r in site.requests()} == {
        "www.ansa.it": 0,
        "www.ilpost.it": 0,
        "www.open.online": 0,
    }


def test_a_second_crawl_of_an_unchanged_site_makes_only_listing_requests(
    site: FaultSite, crawl_settings: Settings, crawl_lake: Lake
) -> None:
    crawl_news(crawl_settings, crawl_lake, run_id="first", host_map=site.host_map())
    files_before = sorted(crawl_lake.raw.rglob("*.parquet"))
    seen = len(site.requests())

    again = crawl_news(crawl_settings, crawl_lake, run_id="second", host_map=site.host_map())

    second = site.requests()[seen:]
    assert {r.path for r in second} <= LISTING_PATHS
    # Feeds and listings are asked conditionally and answered 304; only robots.txt is fetched.
    assert {(r.path == "/robots.txt", r.conditional, r.status) for r in second} == {
        (True, False, 200),
        (False, True, 304),
    }
    assert (again.new, again.updated, again.fetched, again.skipped_known) == (0, 0, 0, 40)
    assert sorted(crawl_lake.raw.rglob("*.parquet")) == files_before


def test_a_changed_article_is_stored_again_when_the_refresh_window_says_so(
    tmp_path: Path,
) -> None:
    root = tmp_path / "site"
    shutil.copytree(SAMPLE / "site", root)
    settings = fast_settings(tmp_path / "lake", news_refetch_after_days=0)
    lake = Lake.from_settings(settings).ensure()
    url = "https://www.ilpost.it/2024/01/05/venezia-bassa-marea-canali-asciutti/"
    page_file = root / "www.ilpost.it/2024/01/05/venezia-bassa-marea-canali-asciutti/index.html"
    with FaultSite(root) as site:
        crawl_news(settings, lake, run_id="first", host_map=site.host_map())
        html = page_file.read_text(encoding="utf-8")
        start = html.index('id="singleBody"')
        changed = html[:start] + html[start:].replace("<p>", "<p>Aggiornamento: ", 1)
        page_file.write_text(changed, encoding="utf-8")
        seen = len(site.requests())
        again = crawl_news(settings, lake, run_id="second", host_map=site.host_map())
        refetches = [r for r in site.requests()[seen:] if r.path not in LISTING_PATHS]

    assert (again.new, again.updated, again.unchanged) == (0, 1, 39)
    assert len(refetches) == 40 and all(r.conditional for r in refetches)
    assert sorted(r.status for r in refetches) == [200] + [304] * 39
    versions = [r for r in lake.read_raw("news").to_pylist() if r["url"] == url]
    assert len(versions) == 2  # the old version is kept; staging picks the newest
    assert len({v["content_hash"] for v in versions}) == 2


FAULTS = {
    # url suffix -> the reject reason it must end with (None: it must be stored)
    "a-404": "http_404",
    "a-503-then-ok": None,
    "a-timeout": "fetch_timeout",
    "a-loop": "redirect_loop",
    "a-huge": "too_large",
    "a-cp1252": None,
    "a-no-body": "parse_no_body",
    "a-robots": "robots_disallowed",
}
UUID = "0b1c2d3e-4f50-4a61-8b72-c3d4e5f60718"


def fault_url(name: str) -> str:
    folder = "riservato" if name == "a-robots" else "cronaca"
    return f"https://www.ansa.it/sito/notizie/{folder}/2024/01/13/{name}_{UUID}.html"


def ansa_page(title: str, body: str, *, url: str, encoding: str = "utf-8") -> bytes:
    paragraphs = f"<p>{body}</p>" if body else '<div class="video-player">Caricamento player</div>'
    return (
        f'<html><head><link rel="canonical" href="{url}"></head><body>'
        f'<article class="post-single"><h1 class="post-single-title">{title}</h1>'
        '<div class="details">ROMA, 13 gennaio 2024, 10:00</div>'
        f'<div class="post-single-text rich-text news-txt">{paragraphs}</div>'
        "</article></body></html>"
    ).encode(encoding)


def test_faults_are_quarantined_with_reasons_and_nothing_is_lost(tmp_path: Path) -> None:
    settings = fast_settings(
        tmp_path / "lake",
        news_timeout_s=0.3,
        news_max_retries=1,
        news_max_page_bytes=1_000_000,
        news_min_extraction_rate=0.99,
    )
    lake = Lake.from_settings(settings).ensure()
    with FaultSite() as site:
        # Page 1 of the ANSA listing also links to the faulty articles, one of them twice.
        listing = "https://www.ansa.it/sito/notizie/topnews/index.shtml"
        html = (SAMPLE / "site/www.ansa.it/sito/notizie/topnews/index.shtml").read_text()
        links = "".join(
            f'<h3 class="title"><a href="{fault_url(n)}">{n}</a></h3>' for n in [*FAULTS, "a-404"]
        )
        site.route(
            listing,
            page(
                html.replace('<section class="news-list">', '<section class="news-list">' + links)
            ),
        )
        site.route(
            "https://www.ansa.it/robots.txt",
            page("User-agent: *\nDisallow: /sito/notizie/riservato/\n", 200, "text/plain"),
        )
        site.route(fault_url("a-404"), page("not found", 404))
        site.route(
            fault_url("a-503-then-ok"),
            in_turn(
                page("busy", 503),
                page(
                    ansa_page(
                        "Torna il servizio",
                        "ROMA, 13 GEN - Tutto a posto.",
                        url=fault_url("a-503-then-ok"),
                    )
                ),
            ),
        )
        site.route(fault_url("a-timeout"), hang(1.0))
        site.route(fault_url("a-loop"), redirect(fault_url("a-loop")))
        site.route(fault_url("a-huge"), huge(10_000_000, declare_length=False))
        site.route(
            fault_url("a-cp1252"),
            page(
                ansa_page(
                    "Perché è già così",
                    "ROMA, 13 GEN - Città più bella.",
                    url=fault_url("a-cp1252"),
                    encoding="cp1252",
                ),
                content_type="text/html",
            ),
        )
        site.route(
            fault_url("a-no-body"), page(ansa_page("Solo video", "", url=fault_url("a-no-body")))
        )

        stats = crawl_news(
            settings, lake, run_id="faults", host_map=site.host_map(), outlets=["ansa"]
        )
        robots_hits = site.hits(fault_url("a-robots"))

    ansa_stats = stats.outlets["ansa"]
    assert ansa_stats.discovered == 14 + len(FAULTS)  # the repeated link counted once
    assert ansa_stats.unaccounted == 0
    assert (ansa_stats.new, ansa_stats.rejected) == (14 + 2, 6)
    assert stats.rejected == {
        "http_404": 1,
        "fetch_timeout": 1,
        "redirect_loop": 1,
        "too_large": 1,
        "parse_no_body": 1,
        "robots_disallowed": 1,
    }
    assert robots_hits == []

    rejects = {r["source"]: r for r in lake.read_raw("rejects").to_pylist()}
    for name, reason in FAULTS.items():
        if reason is not None:
            assert rejects[fault_url(name)]["reason"] == reason
            assert rejects[fault_url(name)]["domain"] == "news"
            assert rejects[fault_url(name)]["detail"]
    stored = rows_by_url(lake)
    assert stored[fault_url("a-cp1252")]["title"] == "Perché è già così"
    assert stored[fault_url("a-cp1252")]["content"] == "ROMA, 13 GEN - Città più bella."
    assert stored[fault_url("a-503-then-ok")]["published_at"] == datetime(
        2024, 1, 13, 9, 0, tzinfo=UTC
    )
    assert len(stored) == 16
    # 16 of 17 fetched pages became articles: under the 99% threshold set above, so it is loud.
    assert any("ansa: only 16 of 17" in w for w in stats.warnings)


def test_a_site_whose_html_changed_is_a_loud_warning(
    site: FaultSite, crawl_settings: Settings, crawl_lake: Lake
) -> None:
    empty = "<html><body><div class='x1a2b3'>Nuovo sito</div></body></html>"
    for url in ("https://www.ilpost.it/", "https://www.ilpost.it/italia/"):
        site.route(url, page(empty))
    site.route("https://www.ilpost.it/feed/", page(empty, content_type="application/rss+xml"))
    stats = crawl_news(crawl_settings, crawl_lake, run_id="r", host_map=site.host_map())
    assert stats.outlets["ilpost"].discovered == 0
    assert stats.outlets["open"].new == 13  # the other outlets are unaffected
    assert any(w.startswith("ilpost: no article found") for w in stats.warnings)
    assert any(
        "listing https://www.ilpost.it/italia/ links to no article" in w for w in stats.warnings
    )
    reasons = {(r["source"], r["reason"]) for r in crawl_lake.read_raw("rejects").to_pylist()}
    assert ("https://www.ilpost.it/feed/", "parse_bad_feed") in reasons


def test_a_failed_listing_page_is_not_replaced_by_another_pages_links(
    site: FaultSite, crawl_settings: Settings, crawl_lake: Lake
) -> None:
    site.route("https://www.open.online/c/attualita/page/2/", page("down", 500))
    stats = crawl_news(
        crawl_settings, crawl_lake, run_id="r", host_map=site.host_map(), outlets=["open"]
    )
    assert stats.outlets["open"].listing_pages == 2  # the homepage and page 1
    assert any(
        "listing https://www.open.online/c/attualita/page/2/ failed (http_500)" in w
        for w in stats.warnings
    )
    assert stats.rejected == {"http_500": 1}
    # Articles only page 2 named were not discovered, and are not stored from elsewhere.
    assert stats.outlets["open"].discovered == stats.outlets["open"].new < 13


def test_the_rate_limit_holds_per_host_at_the_server(tmp_path: Path) -> None:
    rate = 4.0
    settings = fast_settings(
        tmp_path / "lake", news_requests_per_second_per_host=rate, news_max_articles_per_outlet=4
    )
    lake = Lake.from_settings(settings).ensure()
    with FaultSite() as site:
        crawl_news(settings, lake, run_id="r", host_map=site.host_map(), outlets=["ansa", "ilpost"])
        ansa_times = [r.at for r in site.requests("www.ansa.it")]
        ilpost_times = [r.at for r in site.requests("www.ilpost.it")]
    assert len(ansa_times) == len(ilpost_times) == 5 + 4  # robots, feed, 3 listings, 4 articles
    assert max_in_window(ansa_times) <= rate
    assert max_in_window(ilpost_times) <= rate
    # The hosts were crawled at the same time, not one after the other.
    assert min(ilpost_times) < max(ansa_times) and min(ansa_times) < max(ilpost_times)
    assert max_in_window(ansa_times + ilpost_times) > rate


def test_the_time_budget_defers_articles_to_the_next_run(site: FaultSite, tmp_path: Path) -> None:
    settings = fast_settings(tmp_path / "lake", news_time_budget_s=0.2)
    lake = Lake.from_settings(settings).ensure()
    first = crawl_news(settings, lake, run_id="r1", host_map=site.host_map())
    # Pacing alone makes 40 articles + discovery take longer than 0.2 s.
    assert first.deferred > 0
    assert first.new + first.deferred == 40
    rest = crawl_news(fast_settings(tmp_path / "lake"), lake, run_id="r2", host_map=site.host_map())
    assert (rest.new, rest.skipped_known) == (first.deferred, first.new)


def test_the_age_and_depth_limits(site: FaultSite, tmp_path: Path) -> None:
    settings = fast_settings(tmp_path / "lake", news_max_age_days=4, news_max_listing_pages=1)
    lake = Lake.from_settings(settings).ensure()
    now = datetime(2024, 1, 13, 12, 0, tzinfo=UTC)  # cutoff: 9 January
    stats = crawl_news(settings, lake, run_id="r", host_map=site.host_map(), now=now)
    stored = rows_by_url(lake)
    assert stored and all(url.split("/2024/01/")[1][:2] >= "09" for url in stored)
    assert sum(o.too_old for o in stats.outlets.values()) > 0
    paths = {r.path for r in site.requests()}
    assert "/italia/page/2/" not in paths and "/c/attualita/page/2/" not in paths
    assert not any("/2024/01/0" in p and "/2024/01/09" not in p for p in paths)


@pytest.mark.parametrize("outlets", [["open"], ["ansa", "ilpost"]])
def test_only_the_chosen_outlets_are_crawled(
    site: FaultSite, crawl_settings: Settings, crawl_lake: Lake, outlets: list[str]
) -> None:
    stats = crawl_news(
        crawl_settings, crawl_lake, run_id="r", host_map=site.host_map(), outlets=outlets
    )
    assert sorted(stats.outlets) == sorted(outlets)
    assert {r.host.split(".")[1] for r in site.requests()} == {
        {"ansa": "ansa", "ilpost": "ilpost", "open": "open"}[o] for o in outlets
    }


def test_crawl_news_works_from_inside_a_running_event_loop(
    site: FaultSite, crawl_settings: Settings, crawl_lake: Lake
) -> None:
    """An async caller (an async Prefect flow, a notebook) gets the same result."""
    import asyncio

    async def caller() -> int:
        stats = crawl_news(
            crawl_settings, crawl_lake, run_id="r", host_map=site.host_map(), outlets=["open"]
        )
        return stats.new

    assert asyncio.run(caller()) == 13


def test_an_outlet_can_be_crawled_through_the_web_archive(
    site: FaultSite, crawl_settings: Settings, crawl_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing snapshot for a past day: its article links are snapshots too."""
    from synthlake.ingest.news import crawl as crawl_module
    from synthlake.ingest.news.discovery import OutletConfig

    wayback = "https://web.archive.org/web/20240109082917"
    articles = [u for u in sample_urls() if u.startswith("https://www.ilpost.it/")][:2]
    listing = "".join(f'<a href="/web/20240109082917/{u}">x</a>' for u in articles)
    site.route(
        f"{wayback}/https://www.ilpost.it/italia/", page(f"<html><body>{listing}</body></html>")
    )
    for url in articles:
        html = (SAMPLE / "site" / url.removeprefix("https://")).joinpath("index.html").read_text()
        site.route(f"{wayback}/{url}", page(html))
    config = OutletConfig(
        "ilpost",
        "Il Post",
        "ilpost.it",
        "https://www.ilpost.it/",
        listing_urls=(f"{wayback}/https://www.ilpost.it/italia/",),
    )
    monkeypatch.setattr(crawl_module, "load_outlets", lambda: {"ilpost": config})
    host_map = site.host_map() | {"web.archive.org": f"{site.base_url}/web.archive.org"}

    stats = crawl_news(
        crawl_settings, crawl_lake, run_id="r", host_map=host_map, outlets=["ilpost"]
    )

    assert (stats.new, stats.rejected) == (2, {})
    assert sum(stats.published_at_sources.values()) == 2
    stored = rows_by_url(crawl_lake)
    assert sorted(stored) == sorted(articles)  # the originals, not the snapshots
    for url, row in stored.items():
        assert row["outlet"] == "ilpost"
        assert row["snapshot_url"] == f"{wayback}/{url}"
        assert row["captured_at"].isoformat() == "2024-01-09T08:29:17+00:00"
    assert {r.host for r in site.requests()} == {"web.archive.org"}
    # The next run knows the articles are stored, although it finds them as snapshots.
    again = crawl_news(
        crawl_settings, crawl_lake, run_id="r2", host_map=host_map, outlets=["ilpost"]
    )
    assert (again.new, again.skipped_known) == (0, 2)

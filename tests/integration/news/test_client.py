"""The polite client against a real local server: retries, limits, robots.txt, encodings.

Counts and times are the server's: what it received, when it received it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from synthlake.ingest.news import ansa
from synthlake.ingest.news.http import FetchFailed, Page, PoliteClient

from synthlake.settings import Settings
from tests.integration.news.conftest import fast_settings
from tests.integration.news.site import FaultSite, hang, huge, in_turn, page, redirect

ARTICLE = (
    "https://www.ansa.it/campania/notizie/2024/01/02/botti-illegali-sequestrate-due-tonnellate-"
    "nel-napoletano_d39a7c15-b82e-4f61-9c0d-6e4f18a2b7c9.html"
)
ROBOTS = "https://www.ansa.it/robots.txt"
GOOD = "<html><body><p>ok</p></body></html>"


def fetch(
    settings: Settings, site: FaultSite, url: str, **options: Any
) -> tuple[Page | FetchFailed, PoliteClient]:
    async def go() -> tuple[Page | FetchFailed, PoliteClient]:
        async with PoliteClient(settings, host_map=site.host_map()) as client:
            try:
                return await client.fetch(url, **options), client
            except FetchFailed as exc:
                return exc, client

    return asyncio.run(go())


def test_robots_first_then_the_page_with_our_user_agent(
    site: FaultSite, crawl_settings: Settings
) -> None:
    result, _ = fetch(crawl_settings, site, ARTICLE)
    assert isinstance(result, Page) and result.status == 200
    assert result.final_url == ARTICLE
    assert [r.path for r in site.requests()] == ["/robots.txt", ARTICLE.split("ansa.it")[1]]
    assert {r.user_agent for r in site.requests()} == {crawl_settings.news_user_agent}
    assert crawl_settings.news_user_agent.startswith("synthlake/")


def test_429_with_retry_after_is_honoured(site: FaultSite, crawl_settings: Settings) -> None:
    url = "https://www.ansa.it/busy.html"
    site.route(url, in_turn(page("slow down", 429, headers={"Retry-After": "1"}), page(GOOD)))
    result, client = fetch(crawl_settings, site, url)
    assert isinstance(result, Page) and result.status == 200
    hits = site.hits(url)
    assert [h.status for h in hits] == [429, 200]
    assert hits[1].at - hits[0].at >= 1.0  # measured by the server
    assert client.counters.retries == 1


def test_503_then_success_retries_once(site: FaultSite, crawl_settings: Settings) -> None:
    url = "https://www.ansa.it/flaky.html"
    site.route(url, in_turn(page("down", 503), page(GOOD)))
    result, client = fetch(crawl_settings, site, url)
    assert isinstance(result, Page) and result.content == GOOD.encode()
    assert [h.status for h in site.hits(url)] == [503, 200]
    assert client.counters.retries == 1


def test_a_5xx_that_persists_fails_after_the_retries(
    site: FaultSite, crawl_settings: Settings
) -> None:
    url = "https://www.ansa.it/broken.html"
    site.route(url, page("boom", 500))
    result, client = fetch(crawl_settings, site, url)
    assert isinstance(result, FetchFailed)
    assert result.reason == "http_500"
    assert "3 attempts" in result.detail
    assert len(site.hits(url)) == crawl_settings.news_max_retries + 1 == 3
    assert client.counters.retries == 2


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_other_4xx_are_not_retried(site: FaultSite, crawl_settings: Settings, status: int) -> None:
    url = f"https://www.ansa.it/gone-{status}.html"
    site.route(url, page("no", status))
    result, client = fetch(crawl_settings, site, url)
    assert isinstance(result, FetchFailed) and result.reason == f"http_{status}"
    assert result.status == status
    assert len(site.hits(url)) == 1
    assert client.counters.retries == 0


def test_a_retry_after_longer_than_we_wait_fails_fast_and_spares_the_host(
    site: FaultSite, crawl_settings: Settings
) -> None:
    url = "https://www.ansa.it/later.html"
    site.route(url, page("come back tomorrow", 429, headers={"Retry-After": "86400"}))

    async def go() -> list[FetchFailed]:
        async with PoliteClient(crawl_settings, host_map=site.host_map()) as client:
            failures = []
            for target in (url, ARTICLE):
                try:
                    await client.fetch(target)
                except FetchFailed as exc:
                    failures.append(exc)
            return failures

    first, second = asyncio.run(go())
    assert first.reason == second.reason == "http_429"
    assert "Retry-After 86400s" in first.detail
    assert len(site.hits(url)) == 1
    assert site.hits(ARTICLE) == []  # the host asked us to stay away


def test_a_hanging_server_is_a_timeout(site: FaultSite, tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, news_timeout_s=0.3, news_max_retries=1)
    url = "https://www.ansa.it/hang.html"
    site.route(url, hang(1.5))
    result, client = fetch(settings, site, url)
    assert isinstance(result, FetchFailed) and result.reason == "fetch_timeout"
    assert len(site.hits(url)) == 2
    assert client.counters.retries == 1


def test_a_redirect_loop_is_detected(site: FaultSite, crawl_settings: Settings) -> None:
    a, b = "https://www.ansa.it/loop-a.html", "https://www.ansa.it/loop-b.html"
    site.route(a, redirect("/www.ansa.it/loop-b.html"))  # the server's own path form
    site.route(b, redirect(a, 301))  # an absolute real URL
    result, _ = fetch(crawl_settings, site, a)
    assert isinstance(result, FetchFailed) and result.reason == "redirect_loop"
    assert f"{a} -> {b} -> {a}" in result.detail
    assert len(site.hits(a)) == 1 and len(site.hits(b)) == 1


def test_redirects_are_followed_to_the_real_url(site: FaultSite, crawl_settings: Settings) -> None:
    old = "https://www.ansa.it/vecchio-indirizzo.html"
    site.route(old, redirect(ARTICLE, 301))
    result, _ = fetch(crawl_settings, site, old)
    assert isinstance(result, Page) and result.final_url == ARTICLE
    assert b"post-single-title" in result.content


def test_too_many_redirects(site: FaultSite, tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, news_max_redirects=3)
    for n in range(6):
        site.route(f"https://www.ansa.it/r{n}", redirect(f"https://www.ansa.it/r{n + 1}"))
    result, _ = fetch(settings, site, "https://www.ansa.it/r0")
    assert isinstance(result, FetchFailed) and result.reason == "too_many_redirects"
    assert len(site.requests("www.ansa.it")) == 1 + 4  # robots.txt + the first 4 hops


def test_a_redirect_off_the_outlet_is_refused(site: FaultSite, crawl_settings: Settings) -> None:
    url = "https://www.ansa.it/fuori.html"
    site.route(
        url, redirect("https://www.ilpost.it/2024/01/03/quadrantidi-stelle-cadenti-gennaio/")
    )
    result, _ = fetch(crawl_settings, site, url, same_site="ansa.it")
    assert isinstance(result, FetchFailed) and result.reason == "redirect_offsite"
    assert site.requests("www.ilpost.it") == []


@pytest.mark.parametrize("declare_length", [True, False])
def test_a_10_mb_page_is_refused(site: FaultSite, tmp_path: Path, declare_length: bool) -> None:
    settings = fast_settings(tmp_path, news_max_page_bytes=1_000_000)
    url = "https://www.ansa.it/enorme.html"
    site.route(url, huge(10_000_000, declare_length=declare_length))
    result, client = fetch(settings, site, url)
    assert isinstance(result, FetchFailed) and result.reason == "too_large"
    assert "1000000" in result.detail
    assert len(site.hits(url)) == 1  # a permanent refusal: no retry
    assert client.counters.retries == 0


CP1252_TITLE = "Perché è già così: la città più bella"
CP1252_BODY = "Caffè, tè e più: l'università è già aperta."


def cp1252_article(declare: str) -> bytes:
    meta = '<meta charset="windows-1252">' if declare == "meta" else ""
    html = (
        f"<!DOCTYPE html><html><head>{meta}<title>{CP1252_TITLE} - Ansa.it</title></head><body>"
        f'<article class="post-single"><h1 class="post-single-title">{CP1252_TITLE}</h1>'
        '<div class="details">ROMA, 13 gennaio 2024, 10:00</div>'
        f'<div class="post-single-text rich-text news-txt"><p>{CP1252_BODY}</p></div>'
        "</article></body></html>"
    )
    return html.encode("cp1252")


@pytest.mark.parametrize(
    ("declare", "content_type"),
    [
        ("meta", "text/html"),
        ("header", "text/html; charset=windows-1252"),
        ("nowhere", "text/html"),
        ("nowhere", None),
    ],
)
def test_windows_1252_pages_keep_their_accents(
    site: FaultSite, crawl_settings: Settings, declare: str, content_type: str | None
) -> None:
    url = ARTICLE.replace("botti-illegali", "accenti")
    site.route(url, page(cp1252_article(declare), content_type=content_type))
    result, _ = fetch(crawl_settings, site, url)
    assert isinstance(result, Page)
    article = ansa.SCRAPER.extract(result.text(), result.final_url)
    assert article.title == CP1252_TITLE
    assert article.paragraphs == [CP1252_BODY]


def robots(text: str, status: int = 200) -> Callable:
    return page(text, status, "text/plain")


def test_robots_disallowed_paths_are_never_requested(
    site: FaultSite, crawl_settings: Settings
) -> None:
    site.route(ROBOTS, robots("User-agent: *\nDisallow: /campania/\n"))
    result, _ = fetch(crawl_settings, site, ARTICLE)
    assert isinstance(result, FetchFailed) and result.reason == "robots_disallowed"
    assert [r.path for r in site.requests()] == ["/robots.txt"]


def test_robots_unavailable_skips_the_host(site: FaultSite, crawl_settings: Settings) -> None:
    site.route(ROBOTS, robots("down", 503))
    result, client = fetch(crawl_settings, site, ARTICLE)
    assert isinstance(result, FetchFailed) and result.reason == "robots_unavailable"
    assert [r.path for r in site.requests()] == ["/robots.txt"] * 3  # retried, then given up
    assert "https://www.ansa.it" in client.robots.problems


def test_no_robots_txt_means_no_rules(site: FaultSite, crawl_settings: Settings) -> None:
    site.route(ROBOTS, robots("not here", 404))
    result, _ = fetch(crawl_settings, site, ARTICLE)
    assert isinstance(result, Page) and result.status == 200


def test_crawl_delay_slows_the_host_down(site: FaultSite, crawl_settings: Settings) -> None:
    site.route(ROBOTS, robots("User-agent: synthlake\nCrawl-delay: 1\nDisallow:\n"))

    async def go() -> None:
        async with PoliteClient(crawl_settings, host_map=site.host_map()) as client:
            await client.fetch(ARTICLE)
            await client.fetch("https://www.ansa.it/")

    asyncio.run(go())
    times = [r.at for r in site.requests("www.ansa.it")]
    assert len(times) == 3
    assert times[2] - times[1] >= 1.0  # 50 requests/s allowed, but the site asked for 1 s


def test_conditional_get_gets_a_304(site: FaultSite, crawl_settings: Settings) -> None:
    async def go() -> tuple[Page, Page, int]:
        async with PoliteClient(crawl_settings, host_map=site.host_map()) as client:
            first = await client.fetch(ARTICLE, remember=True)
            second = await client.fetch(ARTICLE, conditional=True)
            return first, second, client.counters.not_modified

    first, second, not_modified = asyncio.run(go())
    assert first.status == 200 and first.etag
    assert second.not_modified and second.content == b""
    assert not_modified == 1
    hits = site.hits(ARTICLE)
    assert [(h.status, h.conditional) for h in hits] == [(200, False), (304, True)]

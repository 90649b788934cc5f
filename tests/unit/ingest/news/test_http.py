"""The client's pure parts: decoding, Retry-After, host mapping, robots rules, validators."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from synthlake.ingest.news.http import (
    HostMapTransport,
    ValidatorStore,
    decode_html,
    parse_retry_after,
)
from synthlake.ingest.news.robots import agent_token, parse_robots

ACCENTED = "Perché è già più città"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (ACCENTED.encode("utf-8"), None),
        (ACCENTED.encode("utf-8"), "text/html; charset=UTF-8"),
        (b"\xef\xbb\xbf" + ACCENTED.encode("utf-8"), "text/html; charset=windows-1252"),
        (ACCENTED.encode("cp1252"), None),  # declared nowhere: not UTF-8, so windows-1252
        (ACCENTED.encode("cp1252"), "text/html; charset=windows-1252"),
        (ACCENTED.encode("cp1252"), "text/html; charset=ISO-8859-1"),  # means 1252 (WHATWG)
        (ACCENTED.encode("cp1252"), "text/html; charset=utf-8"),  # a wrong header
        (b'<meta charset="windows-1252">' + ACCENTED.encode("cp1252"), None),
        (
            b'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
            + ACCENTED.encode("cp1252"),
            "text/html",
        ),
        (ACCENTED.encode("utf-16"), "text/html; charset=utf-16"),
    ],
)
def test_decode_html(content: bytes, content_type: str | None) -> None:
    assert decode_html(content, content_type).endswith(ACCENTED)


def test_decode_html_never_raises() -> None:
    assert decode_html(b"\x81\x8d\xff caf\xe9", "text/html; charset=nonsense") != ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2026 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2026 07:27:00 GMT", 0.0),  # in the past: no wait
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2026, 10, 21, 7, 28, tzinfo=UTC)
    assert parse_retry_after(value, now) == expected


def test_host_map_unmaps_redirects_to_real_urls() -> None:
    transport = HostMapTransport(
        httpx.AsyncHTTPTransport(),
        {
            "www.ansa.it": "http://127.0.0.1:9/site/www.ansa.it",
            "www.ilpost.it": "http://127.0.0.1:9/site/www.ilpost.it/",
        },
    )
    real = httpx.URL("https://www.ansa.it/a")
    assert transport.unmap("http://127.0.0.1:9/site/www.ansa.it/b?x=1", real) == (
        "https://www.ansa.it/b?x=1"
    )
    assert transport.unmap("http://127.0.0.1:9/site/www.ilpost.it/2024/", real) == (
        "https://www.ilpost.it/2024/"
    )
    assert transport.unmap("https://elsewhere.example/z", real) == "https://elsewhere.example/z"
    assert transport.unmap("http://127.0.0.1:9/other/path", real) == "http://127.0.0.1:9/other/path"


def test_agent_token() -> None:
    assert agent_token("synthlake/0.1 (news dataset builder; +https://x)") == "synthlake"
    assert agent_token("MyBot") == "MyBot"


ROBOTS = """
User-agent: *
Disallow: /private/
Allow: /private/open.html
Disallow: /*?refresh_ce
Disallow: /*.pdf$

User-agent: synthlake
Disallow: /sito/riservato/
Crawl-delay: 2

User-agent: GPTBot
Disallow: /
"""


@pytest.mark.parametrize(
    ("agent", "path", "allowed"),
    [
        ("synthlake", "/sito/notizie/a.html", True),
        ("synthlake", "/sito/riservato/a.html", False),
        ("synthlake", "/private/x.html", True),  # its own group replaces the * group
        ("otherbot", "/private/x.html", False),
        ("otherbot", "/private/open.html", True),  # the longest rule wins, not the first
        ("otherbot", "/sito/a.html?refresh_ce=1", False),  # * is a wildcard
        ("otherbot", "/sito/a.html?page=2", True),
        ("otherbot", "/doc/a.pdf", False),  # $ anchors the end
        ("otherbot", "/doc/a.pdf.html", True),
        ("GPTBot", "/sito/notizie/a.html", False),
    ],
)
def test_robots_rules(agent: str, path: str, allowed: bool) -> None:
    rules = parse_robots(ROBOTS)
    assert rules.can_fetch(agent, "https://www.ansa.it" + path) is allowed


def test_robots_crawl_delay_is_per_agent() -> None:
    rules = parse_robots(ROBOTS)
    assert rules.crawl_delay("synthlake") == 2
    assert rules.crawl_delay("otherbot") is None


def test_validator_store_round_trip_and_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "news_http.json"
    store = ValidatorStore.load(path)
    store.update("https://www.ilpost.it/feed/", etag='"abc"', links=[["https://x/", None]])
    store.save()
    again = ValidatorStore.load(path)
    assert again.get("https://www.ilpost.it/feed/") == {
        "etag": '"abc"',
        "links": [["https://x/", None]],
    }
    path.write_text("{ half a file", encoding="utf-8")
    assert ValidatorStore.load(path).entries == {}  # a lost cache only costs full fetches

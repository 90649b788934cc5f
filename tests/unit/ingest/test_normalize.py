from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from synthlake.ingest.news.normalize import (
    Article,
    canonical_url,
    clean_paragraphs,
    normalize_article,
    parse_tags,
)

from synthlake.rejects import Reject

ROME = ZoneInfo("Europe/Rome")


def normalize(record: dict) -> Article | Reject:
    return normalize_article(record, source="test.jsonl", locator="line 1", tz=ROME)


def test_a_complete_record_becomes_an_article() -> None:
    article = normalize(
        {
            "url": "https://WWW.ANSA.IT/sito/notizie/2024/01/06/treni_ab12.html?utm_source=x#top",
            "title": "  Sciopero\u00a0dei   treni ",
            "subtitle": "",
            "author": "Redazione",
            "date": "ROMA, 06 gennaio 2024, 18:54",
            "tags": ["Cronaca", "cronaca", " Trasporti "],
            "body": ["ROMA, 06 GEN - Primo  paragrafo.", "Caricamento player", "Secondo."],
        }
    )
    assert isinstance(article, Article)
    assert article.url == "https://www.ansa.it/sito/notizie/2024/01/06/treni_ab12.html"
    assert article.outlet == "ansa"
    assert article.title == "Sciopero dei treni"
    assert article.subtitle is None
    assert article.tags == ["Cronaca", "Trasporti"]
    assert article.content == "ROMA, 06 GEN - Primo paragrafo.\n\nSecondo."
    assert article.published_at.isoformat() == "2024-01-06T18:54:00+01:00"
    assert article.published_at_source == "text"
    assert len(article.article_id) == 16


def test_same_url_same_id_and_content_change_changes_hash() -> None:
    base = {"url": "https://www.open.online/2024/01/01/a/", "title": "T", "content": "Uno."}
    first, again = normalize(base), normalize(base | {"url": base["url"] + "?utm_medium=rss"})
    changed = normalize(base | {"content": "Uno. Due."})
    assert first.article_id == again.article_id == changed.article_id
    assert first.content_hash == again.content_hash != changed.content_hash


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Politica, Scuola", ["Politica", "Scuola"]),
        ("Politica;Scuola | Bilancio", ["Politica", "Scuola", "Bilancio"]),
        ("Cronaca", ["Cronaca"]),  # a single tag is not split into characters
        (["Sport", None, ""], ["Sport"]),
        (None, []),
    ],
)
def test_tags_are_a_list(value: object, expected: list[str]) -> None:
    assert parse_tags(value) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Uno  due.\n\n\nTre\u200b quattro.", ["Uno due.", "Tre quattro."]),
        ("Riga uno.\nRiga due.", ["Riga uno.", "Riga due."]),
        (["  A ", "Riproduzione riservata © Copyright ANSA", "B"], ["A", "B"]),
        ("Caricamento player\n\nTesto.", ["Testo."]),
    ],
)
def test_paragraphs_are_clean_and_kept_apart(body: object, expected: list[str]) -> None:
    assert clean_paragraphs(body) == expected


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"title": "T", "content": "x"}, "missing_url"),
        ({"url": "ftp://x/y", "title": "T", "content": "x"}, "invalid_url"),
        ({"url": "https://www.ilpost.it/2024/01/01/a/", "content": "x"}, "missing_title"),
        ({"url": "https://www.ilpost.it/2024/01/01/a/", "title": "T", "body": []}, "empty_content"),
        (
            {"url": "https://www.ilpost.it/2024/01/01/a/", "title": "T", "content": "  \n "},
            "empty_content",
        ),
    ],
)
def test_unusable_records_are_rejected_with_a_reason(record: dict, reason: str) -> None:
    result = normalize(record)
    assert isinstance(result, Reject)
    assert result.reason == reason
    assert result.source == "test.jsonl" and result.locator == "line 1"


def test_outlet_from_the_record_or_the_domain() -> None:
    body = {"title": "T", "content": "x"}
    assert normalize(body | {"url": "https://www.ilpost.it/a/"}).outlet == "ilpost"
    assert normalize(body | {"url": "https://www.open.online/a/"}).outlet == "open"
    assert normalize(body | {"url": "https://www.ilpost.it/a/", "outlet": "Il Post"}).outlet == (
        "ilpost"
    )
    assert normalize(body | {"url": "https://www.example.org/a/"}).outlet == "example.org"


def test_missing_date_keeps_the_article() -> None:
    article = normalize({"url": "https://www.open.online/a/", "title": "T", "content": "x"})
    assert isinstance(article, Article)
    assert article.published_at is None and article.published_at_source == "none"


def test_canonical_url_keeps_meaningful_query() -> None:
    assert canonical_url("https://h.it/a?id=3&utm_campaign=z") == "https://h.it/a?id=3"
    assert canonical_url("mailto:x@y") is None


# --- archive snapshots, event times, bad fields, markup, size ---------------------------------

ILPOST_URL = "https://www.ilpost.it/2024/01/08/stato-invitalia-azionista-maggioranza-ex-ilva/"
SNAPSHOT = f"https://web.archive.org/web/20240109082917/{ILPOST_URL}"


@pytest.mark.parametrize(
    "url",
    [
        SNAPSHOT,
        f"https://web.archive.org/web/20240109082917id_/{ILPOST_URL}",
        f"http://web.archive.org/web/20240109082917/{ILPOST_URL.replace('https', 'http')}",
    ],
)
def test_a_snapshot_is_stored_as_its_original_article(url: str) -> None:
    article = normalize({"url": url, "title": "Ex Ilva", "content": "Testo."})
    assert isinstance(article, Article)
    assert article.url == ILPOST_URL
    assert article.outlet == "ilpost"
    assert (
        article.article_id
        == normalize({"url": ILPOST_URL, "title": "T", "content": "x"}).article_id
    )
    assert article.snapshot_url == url
    assert article.captured_at.isoformat() == "2024-01-09T08:29:17+00:00"
    # No date text: the URL path's day, not the capture a day later.
    assert article.published_at.isoformat() == "2024-01-08T00:00:00+01:00"
    assert article.published_at_source == "url_path"


def test_an_archive_host_given_as_outlet_is_not_an_outlet() -> None:
    article = normalize(
        {"url": SNAPSHOT, "outlet": "web.archive.org", "title": "T", "content": "x"}
    )
    assert article.outlet == "ilpost"


@pytest.mark.parametrize(
    ("date", "iso", "source"),
    [
        (
            "TARVISIO,\n                          06 gennaio 2024, 18:54",
            "2024-01-06T18:54:00+01:00",
            "text",
        ),
        ("02 gennaio 2024, 11:19", "2024-01-02T11:19:00+01:00", "text"),
        ("1 Gennaio 2024", "2024-01-01T00:00:00+01:00", "text"),
        ("20240109082917", "2024-01-08T00:00:00+01:00", "url_path"),
    ],
)
def test_real_date_fields(date: str, iso: str, source: str) -> None:
    article = normalize({"url": SNAPSHOT, "title": "T", "content": "x", "date": date})
    assert article.published_at.isoformat() == iso
    assert article.published_at_source == source
    assert article.captured_at.isoformat() == "2024-01-09T08:29:17+00:00"


def test_a_capture_stamp_is_the_event_time_only_when_nothing_else_is() -> None:
    article = normalize(
        {
            "url": "https://www.ansa.it/sito/notizie/neve.html",
            "title": "T",
            "content": "x",
            "date": "20240109082917",
        }
    )
    assert article.published_at_source == "capture"
    assert article.published_at.isoformat() == "2024-01-09T08:29:17+00:00"
    assert article.captured_at == article.published_at


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("content", 42),
        ("content", {"a": 1}),
        ("content", [1, 2]),
        ("tags", 5),
        ("title", ["a", "b"]),
        ("url", 7),
        ("outlet", 3.5),
    ],
)
def test_a_field_of_the_wrong_type_is_rejected_naming_it(field: str, value: object) -> None:
    record = {"url": "https://www.open.online/2024/01/01/a/", "title": "T", "content": "x"}
    result = normalize(record | {field: value})
    assert isinstance(result, Reject)
    assert result.reason == "invalid_field"
    assert f"'{field}'" in result.detail and "line 1" in result.detail


def test_html_fields_become_text() -> None:
    article = normalize(
        {
            "url": "https://www.open.online/2024/01/01/a/",
            "title": "<h1>Sciopero &amp; cortei</h1>",
            "subtitle": "Treni &quot;fermi&quot;",
            "content": (
                "<h1>Sciopero</h1><p>Primo&nbsp;paragrafo &amp; altro.</p>"
                "<script>alert('x')</script><style>p{}</style><p>Sec\x00ondo.</p>"
            ),
            "tags": ["<b>Treni</b>"],
        }
    )
    assert article.title == "Sciopero & cortei"
    assert article.subtitle == 'Treni "fermi"'
    assert article.content == "Sciopero\n\nPrimo paragrafo & altro.\n\nSecondo."
    assert article.tags == ["Treni"]


def test_control_characters_are_dropped_from_plain_text() -> None:
    article = normalize(
        {"url": "https://www.open.online/a/", "title": "Ti\x00tolo\x1b", "content": "Uno\x00 due."}
    )
    assert article.title == "Titolo" and article.content == "Uno due."


def test_an_article_over_the_cap_is_rejected() -> None:
    record = {"url": "https://www.open.online/a/", "title": "T", "content": "parola " * 40_000}
    result = normalize_article(
        record, source="f.jsonl", locator="line 9", tz=ROME, max_chars=200_000
    )
    assert isinstance(result, Reject) and result.reason == "too_large"
    assert "line 9" in result.detail and "200,000" in result.detail
    assert isinstance(
        normalize_article(record, source="f.jsonl", locator="line 9", tz=ROME, max_chars=300_000),
        Article,
    )

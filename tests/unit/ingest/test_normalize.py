from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from ingest.news.normalize import (
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
    assert article.published_at_source == "italian_text"
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
    assert article.published_at is None and article.published_at_source == "missing"


def test_canonical_url_keeps_meaningful_query() -> None:
    assert canonical_url("https://h.it/a?id=3&utm_campaign=z") == "https://h.it/a?id=3"
    assert canonical_url("mailto:x@y") is None

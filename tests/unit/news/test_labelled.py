"""Labelled story sets: archive snapshots and every date shape of a real crawl."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from synthlake.news_integration.labelled import event_time, load_labelled, split_snapshot

ORIGINAL = "https://www.ilpost.it/2024/01/08/slug/"
SNAPSHOT = f"https://web.archive.org/web/20240109082917/{ORIGINAL}"


def test_a_snapshot_url_gives_the_original_url_and_the_capture_time() -> None:
    assert split_snapshot(SNAPSHOT) == (
        ORIGINAL,
        SNAPSHOT,
        datetime(2024, 1, 9, 8, 29, 17, tzinfo=UTC),
    )
    assert split_snapshot(ORIGINAL) == (ORIGINAL, None, None)


@pytest.mark.parametrize(
    ("date", "url", "captured", "expected"),
    [
        (
            "TARVISIO,\n      06 gennaio 2024, 18:54",
            ORIGINAL,
            None,
            (datetime(2024, 1, 6, 18, 54, tzinfo=UTC), "text"),
        ),
        ("1 Gennaio 2024", ORIGINAL, None, (datetime(2024, 1, 1, 12, tzinfo=UTC), "text")),
        # a 14-digit stamp in the date field is a capture time: the URL path date comes first
        ("20240109082917", ORIGINAL, None, (datetime(2024, 1, 8, 12, tzinfo=UTC), "url_path")),
        (None, ORIGINAL, None, (datetime(2024, 1, 8, 12, tzinfo=UTC), "url_path")),
        (
            "20240109082917",
            "https://www.open.online/foto/slug/",
            None,
            (datetime(2024, 1, 9, 8, 29, 17, tzinfo=UTC), "capture"),
        ),
        (
            None,
            "https://www.open.online/foto/slug/",
            datetime(2024, 1, 10, tzinfo=UTC),
            (datetime(2024, 1, 10, tzinfo=UTC), "capture"),
        ),
        (None, "https://www.open.online/foto/slug/", None, (None, "none")),
    ],
)
def test_event_time_falls_back_from_text_to_url_path_to_capture(
    date: str | None, url: str, captured: datetime | None, expected: tuple
) -> None:
    assert event_time(date, url, captured) == expected


def test_load_labelled_keys_an_archived_copy_by_its_original_url(tmp_path: Path) -> None:
    articles = tmp_path / "articles.jsonl"
    records = [
        {"url": SNAPSHOT, "title": "Titolo", "date": "20240109082917", "body": ["Testo."]},
        {"url": "https://www.open.online/foto/x/", "title": "Foto", "body": ["Le immagini."]},
    ]
    articles.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    stories = tmp_path / "stories.csv"
    stories.write_text(f"url,story_id\n{ORIGINAL},a\nhttps://www.open.online/foto/x/,a\n")
    table = load_labelled(articles, stories).to_pylist()
    assert [(r["url"], r["outlet"], r["published_at_source"]) for r in table] == [
        (ORIGINAL, "ilpost", "url_path"),
        ("https://www.open.online/foto/x/", "open", "none"),
    ]
    assert table[0]["snapshot_url"] == SNAPSHOT
    assert table[1]["published_at"] is None

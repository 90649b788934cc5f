from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from synthlake.ingest.news.dates import event_time, parse_published

ROME = ZoneInfo("Europe/Rome")


@pytest.mark.parametrize(
    ("text", "expected", "source"),
    [
        ("06 gennaio 2024, 18:54", datetime(2024, 1, 6, 18, 54, tzinfo=ROME), "text"),
        ("ROMA, 06 gennaio 2024, 18:54", datetime(2024, 1, 6, 18, 54, tzinfo=ROME), "text"),
        (
            "  MILANO,\n   14 dicembre 2023,\n 15:50 ",
            datetime(2023, 12, 14, 15, 50, tzinfo=ROME),
            "text",
        ),
        ("1 Gennaio 2024", datetime(2024, 1, 1, tzinfo=ROME), "text"),
        ("3 AGOSTO 2024 alle 9.05", datetime(2024, 8, 3, 9, 5, tzinfo=ROME), "text"),
        (
            "2024-01-06T18:54:00+01:00",
            datetime(2024, 1, 6, 18, 54, tzinfo=timezone(timedelta(hours=1))),
            "text",
        ),
        ("2024-07-01T08:00:00Z", datetime(2024, 7, 1, 8, 0, tzinfo=UTC), "text"),
        ("2024-07-01 08:00:00", datetime(2024, 7, 1, 8, 0, tzinfo=ROME), "text"),
        (
            "Sat, 06 Jan 2024 18:54:00 +0100",
            datetime(2024, 1, 6, 18, 54, tzinfo=timezone(timedelta(hours=1))),
            "text",
        ),
    ],
)
def test_parses_the_shapes_sources_use(text: str, expected: datetime, source: str) -> None:
    parsed = parse_published(text, ROME)
    assert parsed.source == source
    assert parsed.value == expected
    assert parsed.value.tzinfo is not None


def test_summer_time_is_applied_for_naive_italian_dates() -> None:
    parsed = parse_published("15 luglio 2024, 12:00", ROME)
    assert parsed.value.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "ieri sera",
        "31 febbraio 2024",
        "12 brumaio 2024",
        "Ultimo aggiornamento: 5 minuti fa",
    ],
)
def test_unparseable_dates_are_missing_not_invented(text: str | None) -> None:
    parsed = parse_published(text, ROME)
    assert parsed.value is None
    assert parsed.source == "none"


# --- event time: date text, then URL path, then capture; never the ingestion time -----------

NOW = datetime(2024, 2, 1, 12, 0, tzinfo=UTC)
ILPOST = "https://www.ilpost.it/2024/01/08/ex-ilva/"
NO_DATE_URL = "https://www.ansa.it/sito/notizie/cronaca/neve.html"
CAPTURE = datetime(2024, 1, 9, 8, 29, 17, tzinfo=UTC)


def test_a_capture_stamp_in_the_date_field_is_a_capture_not_a_date() -> None:
    parsed = parse_published("20240109082917", ROME)
    assert parsed.source == "capture"
    assert parsed.value == CAPTURE


@pytest.mark.parametrize(
    ("date_text", "url", "captured", "expected", "source", "flags"),
    [
        # A dateline: city, newline, padding.
        (
            "TARVISIO,\n                          06 gennaio 2024, 18:54",
            ILPOST,
            CAPTURE,
            datetime(2024, 1, 6, 18, 54, tzinfo=ROME),
            "text",
            [],
        ),
        # The listing's capture stamp: the URL path's date is closer to publication.
        ("20240109082917", ILPOST, None, datetime(2024, 1, 8, tzinfo=ROME), "url_path", []),
        ("20240109082917", NO_DATE_URL, None, CAPTURE, "capture", []),
        (None, NO_DATE_URL, CAPTURE, CAPTURE, "capture", []),
        (None, NO_DATE_URL, None, None, "none", []),
        (
            "ieri sera",
            ILPOST,
            None,
            datetime(2024, 1, 8, tzinfo=ROME),
            "url_path",
            ["unparsed_date"],
        ),
        ("ieri sera", NO_DATE_URL, None, None, "none", ["unparsed_date"]),
        ("3 marzo 2031", NO_DATE_URL, CAPTURE, CAPTURE, "capture", ["future_date"]),
    ],
)
def test_event_time_order(
    date_text: str | None,
    url: str,
    captured: datetime | None,
    expected: datetime | None,
    source: str,
    flags: list[str],
) -> None:
    got = event_time(date_text, url=url, captured_at=captured, tz=ROME, now=NOW)
    assert (got.published_at, got.source, got.flags) == (expected, source, flags)
    if date_text == "20240109082917":
        assert got.captured_at == CAPTURE

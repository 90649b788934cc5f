from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ingest.news.dates import parse_published

ROME = ZoneInfo("Europe/Rome")


@pytest.mark.parametrize(
    ("text", "expected", "source"),
    [
        ("06 gennaio 2024, 18:54", datetime(2024, 1, 6, 18, 54, tzinfo=ROME), "italian_text"),
        ("ROMA, 06 gennaio 2024, 18:54", datetime(2024, 1, 6, 18, 54, tzinfo=ROME), "italian_text"),
        (
            "  MILANO,\n   14 dicembre 2023,\n 15:50 ",
            datetime(2023, 12, 14, 15, 50, tzinfo=ROME),
            "italian_text",
        ),
        ("1 Gennaio 2024", datetime(2024, 1, 1, tzinfo=ROME), "italian_text"),
        ("3 AGOSTO 2024 alle 9.05", datetime(2024, 8, 3, 9, 5, tzinfo=ROME), "italian_text"),
        (
            "2024-01-06T18:54:00+01:00",
            datetime(2024, 1, 6, 18, 54, tzinfo=timezone(timedelta(hours=1))),
            "iso",
        ),
        ("2024-07-01T08:00:00Z", datetime(2024, 7, 1, 8, 0, tzinfo=UTC), "iso"),
        ("2024-07-01 08:00:00", datetime(2024, 7, 1, 8, 0, tzinfo=ROME), "iso"),
        (
            "Sat, 06 Jan 2024 18:54:00 +0100",
            datetime(2024, 1, 6, 18, 54, tzinfo=timezone(timedelta(hours=1))),
            "rfc2822",
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
    assert parsed.source == "missing"

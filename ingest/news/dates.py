"""Publication dates of Italian news, as timezone-aware datetimes.

Sources give dates in three shapes: ISO 8601 from page metadata (JSON-LD
``datePublished``, ``article:published_time``, ``<time datetime>``), RFC 2822 from RSS
``pubDate``, and Italian text as printed on the page ("ROMA, 06 gennaio 2024, 18:54",
"1 Gennaio 2024"). dateutil's fuzzy parser does not know Italian month names and happily
invents a date from stray digits, so the Italian form is matched by a strict pattern here.
Naive values are read in the outlet's zone (Europe/Rome by default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from email.utils import parsedate_to_datetime
from typing import Literal
from zoneinfo import ZoneInfo

DateSource = Literal["iso", "rfc2822", "italian_text", "missing"]

ITALIAN_MONTHS = {
    name: number
    for number, name in enumerate(
        (
            "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre "
            "novembre dicembre"
        ).split(),
        start=1,
    )
}
# Three-letter forms appear in datelines ("ROMA, 06 GEN").
ITALIAN_MONTHS.update({name[:3]: number for name, number in list(ITALIAN_MONTHS.items())})

_ITALIAN = re.compile(
    r"(?<!\d)(?P<day>\d{1,2})\s+(?P<month>[a-zà-ü]+)\.?\s+(?P<year>\d{4})"
    r"(?:[\s,]*(?:alle|ore|-)?\s*(?P<hour>\d{1,2})[:.](?P<minute>\d{2}))?",
    re.IGNORECASE,
)
_ISO_HINT = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class ParsedDate:
    value: datetime | None
    source: DateSource


def parse_published(text: object, tz: ZoneInfo) -> ParsedDate:
    """Parse a publication date; ``ParsedDate(None, 'missing')`` when nothing fits."""
    if isinstance(text, datetime):
        return ParsedDate(_aware(text, tz), "iso")
    if isinstance(text, date):
        return ParsedDate(datetime.combine(text, time(), tz), "iso")
    if not isinstance(text, str) or not text.strip():
        return ParsedDate(None, "missing")
    raw = " ".join(text.split())
    if _ISO_HINT.match(raw):
        try:
            return ParsedDate(_aware(datetime.fromisoformat(raw.replace(" ", "T", 1)), tz), "iso")
        except ValueError:
            pass
    match = _ITALIAN.search(raw)
    if match:
        parsed = _from_italian(match, tz)
        if parsed is not None:
            return ParsedDate(parsed, "italian_text")
    try:
        return ParsedDate(_aware(parsedate_to_datetime(raw), tz), "rfc2822")
    except (TypeError, ValueError, IndexError):
        return ParsedDate(None, "missing")


def _from_italian(match: re.Match[str], tz: ZoneInfo) -> datetime | None:
    month = ITALIAN_MONTHS.get(match["month"].lower())
    if month is None:
        return None
    hour = int(match["hour"]) if match["hour"] else 0
    minute = int(match["minute"]) if match["minute"] else 0
    try:
        return datetime(int(match["year"]), month, int(match["day"]), hour, minute, tzinfo=tz)
    except ValueError:
        return None


def _aware(value: datetime, tz: ZoneInfo) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)

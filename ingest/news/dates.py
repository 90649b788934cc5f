"""An article's event time (``published_at``) and where it came from.

Date fields arrive in four shapes: ISO 8601 from page metadata (JSON-LD ``datePublished``,
``article:published_time``, ``<time datetime>``), RFC 2822 from RSS ``pubDate``, Italian text
as printed on the page, datelines included ("TARVISIO,\\n      06 gennaio 2024, 18:54",
"1 Gennaio 2024"), and, in crawls read from a web archive, the archive's 14-digit capture
stamp ("20240109082917"), which is the time the *listing* page was captured: the same for
every article of that page and a day or more after publication. dateutil's fuzzy parser does
not know Italian month names and happily invents a date from stray digits, so the Italian
form is matched by a strict pattern here. Naive values are read in the outlet's zone
(Europe/Rome by default); capture stamps are UTC.

:func:`event_time` picks, in this order: the date text, the date in the original URL's path
(``/2024/01/08/``), the capture time; never the ingestion time. ``published_at_source``
says which (``text``, ``url_path``, ``capture``, ``none``). A date text that is not a date is
flagged ``unparsed_date``; one more than a day in the future is flagged ``future_date`` and
not used (the next source is). Both flags keep the row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from synthlake.ingest.news.archive import capture_time

DateSource = Literal["text", "url_path", "capture", "none"]
DATE_SOURCES: tuple[DateSource, ...] = ("text", "url_path", "capture", "none")
DateFlag = Literal["unparsed_date", "future_date"]
FUTURE_TOLERANCE = timedelta(days=1)

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
_URL_DATE = re.compile(r"/(?P<y>(?:19|20)\d{2})/(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:/|$)")


@dataclass(frozen=True, slots=True)
class ParsedDate:
    """What one date field holds: a date (``text``), a capture stamp, or nothing usable.

    ``unparsed`` is True when there was text that is neither.
    """

    value: datetime | None
    source: Literal["text", "capture", "none"]
    unparsed: bool = False


@dataclass(frozen=True, slots=True)
class EventTime:
    published_at: datetime | None
    source: DateSource
    captured_at: datetime | None
    flags: list[DateFlag] = field(default_factory=list)


def parse_published(text: object, tz: ZoneInfo) -> ParsedDate:
    """Parse one date field; ``ParsedDate(None, 'none')`` when it holds nothing usable."""
    if isinstance(text, datetime):
        return ParsedDate(_aware(text, tz), "text")
    if isinstance(text, date):
        return ParsedDate(datetime.combine(text, time(), tz), "text")
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)  # a capture stamp written as a JSON number
    if not isinstance(text, str) or not text.strip():
        return ParsedDate(None, "none", unparsed=text is not None and not isinstance(text, str))
    raw = " ".join(text.split())
    captured = capture_time(raw)
    if captured is not None:
        return ParsedDate(captured, "capture")
    if _ISO_HINT.match(raw):
        try:
            return ParsedDate(_aware(datetime.fromisoformat(raw.replace(" ", "T", 1)), tz), "text")
        except ValueError:
            pass
    match = _ITALIAN.search(raw)
    if match:
        parsed = _from_italian(match, tz)
        if parsed is not None:
            return ParsedDate(parsed, "text")
    try:
        return ParsedDate(_aware(parsedate_to_datetime(raw), tz), "text")
    except (TypeError, ValueError, IndexError):
        return ParsedDate(None, "none", unparsed=True)


def url_path_date(url: str, tz: ZoneInfo) -> datetime | None:
    """The ``/yyyy/mm/dd/`` date of a URL's path (midnight in ``tz``), if it has one."""
    match = _URL_DATE.search(urlsplit(url).path)
    if match is None:
        return None
    try:
        return datetime.combine(date(int(match["y"]), int(match["m"]), int(match["d"])), time(), tz)
    except ValueError:
        return None


def event_time(
    date_value: object,
    *,
    url: str,
    captured_at: datetime | None,
    tz: ZoneInfo,
    now: datetime | None = None,
) -> EventTime:
    """The article's event time: date text, then the URL's path date, then the capture.

    ``url`` is the *original* URL (never a snapshot's: its path starts with the stamp).
    A capture stamp found in the date field becomes ``captured_at`` when the URL gave none.
    """
    now = now or datetime.now(UTC)
    flags: list[DateFlag] = []
    parsed = parse_published(date_value, tz)
    if parsed.unparsed:
        flags.append("unparsed_date")
    text_value: datetime | None = None
    if parsed.source == "capture":
        captured_at = captured_at or parsed.value
    elif parsed.value is not None:
        if parsed.value > now + FUTURE_TOLERANCE:
            flags.append("future_date")
        else:
            text_value = parsed.value
    if text_value is not None:
        return EventTime(text_value, "text", captured_at, flags)
    from_url = url_path_date(url, tz)
    if from_url is not None and from_url <= now + FUTURE_TOLERANCE:
        return EventTime(from_url, "url_path", captured_at, flags)
    if captured_at is not None:
        return EventTime(captured_at, "capture", captured_at, flags)
    return EventTime(None, "none", None, flags)


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

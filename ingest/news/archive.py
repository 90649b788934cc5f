"""Web archive snapshot URLs: the article they hold, and when the archive captured it.

Crawls of past days often come from the Wayback Machine, whose URLs wrap the original::

    https://web.archive.org/web/20240109082917/https://www.ilpost.it/2024/01/08/slug/
    https://web.archive.org/web/20240109082917id_/https://www.ilpost.it/2024/01/08/slug/
    http://web.archive.org/web/20240109082917/www.ilpost.it/2024/01/08/slug/

The article is the *original* URL (its outlet, its identity: one article however many
snapshots were taken), the snapshot URL is where the copy was read, and the 14-digit stamp
is the capture time in UTC (the archive's clock), which is a day or more after publication
for a page captured from a listing. A stamp shorter than 14 digits (the archive accepts
them as "the capture nearest to") still unwraps the URL but gives no capture time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

ARCHIVE_HOSTS = frozenset({"web.archive.org", "wayback.archive.org"})

# /web/<stamp><modifier>/<original>; modifiers such as id_, im_, if_ change the rendering.
_SNAPSHOT_PATH = re.compile(
    r"^/web/(?P<stamp>\d{4,14})(?:[a-z]{2}_)?/+(?P<original>.+)$", re.IGNORECASE
)
_SCHEME = re.compile(r"^(https?):/+", re.IGNORECASE)
_STAMP = re.compile(r"^\d{14}$")


@dataclass(frozen=True, slots=True)
class Snapshot:
    original: str  # the archived page's own URL (not canonicalized)
    snapshot_url: str  # the archive URL, as given (stripped)
    captured_at: datetime | None  # from a full 14-digit stamp, UTC


def split_snapshot(url: str) -> Snapshot | None:
    """The parts of an archive snapshot URL, or None when ``url`` is not one."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        return None
    if (parts.hostname or "").lower() not in ARCHIVE_HOSTS:
        return None
    # Keep the original's own query string: it is part of the wrapped URL.
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    match = _SNAPSHOT_PATH.match(path)
    if match is None:
        return None
    original = match["original"]
    scheme = _SCHEME.match(original)
    if scheme:  # the archive squashes "https://" into "https:/" in some links
        original = f"{scheme[1].lower()}://{original[scheme.end() :]}"
    elif "://" not in original:
        original = f"http://{original}"
    else:
        return None  # another scheme (ftp://...) is not an article
    return Snapshot(original, text, capture_time(match["stamp"]))


def capture_time(stamp: str) -> datetime | None:
    """A 14-digit archive stamp (YYYYMMDDhhmmss, UTC) as a datetime; None otherwise."""
    if not _STAMP.match(stamp):
        return None
    try:
        return datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def original_url(url: str) -> str:
    """``url`` itself, or the original page of a snapshot URL."""
    snapshot = split_snapshot(url)
    return snapshot.original if snapshot is not None else url


def site_of(url: str, domain: str) -> str:
    """The registered domain a fetch of ``url`` must stay on: the archive's for a snapshot."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return "archive.org" if host in ARCHIVE_HOSTS else domain

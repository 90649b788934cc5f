"""Web archive snapshot URLs: the original page, the snapshot and the capture time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from synthlake.ingest.news.archive import original_url, split_snapshot

ORIGINAL = "https://www.ilpost.it/2024/01/08/stato-invitalia-azionista-maggioranza-ex-ilva/"
CAPTURED = datetime(2024, 1, 9, 8, 29, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "original", "captured"),
    [
        (f"https://web.archive.org/web/20240109082917/{ORIGINAL}", ORIGINAL, CAPTURED),
        (f"https://web.archive.org/web/20240109082917id_/{ORIGINAL}", ORIGINAL, CAPTURED),
        (f"http://web.archive.org/web/20240109082917/{ORIGINAL}", ORIGINAL, CAPTURED),
        (
            "https://web.archive.org/web/20240109082917/http://www.open.online/2024/01/07/b/",
            "http://www.open.online/2024/01/07/b/",
            CAPTURED,
        ),
        # The archive squashes the original's "//" in some links, or drops its scheme.
        (
            "https://web.archive.org/web/20240109082917/https:/www.ansa.it/a.html",
            "https://www.ansa.it/a.html",
            CAPTURED,
        ),
        (
            "https://web.archive.org/web/20240109082917/www.ansa.it/a.html?id=3",
            "http://www.ansa.it/a.html?id=3",
            CAPTURED,
        ),
        # A partial stamp still names the page, but no capture time.
        (f"https://web.archive.org/web/2024/{ORIGINAL}", ORIGINAL, None),
    ],
)
def test_snapshot_urls_give_the_original_and_the_capture(
    url: str, original: str, captured: datetime | None
) -> None:
    snapshot = split_snapshot(url)
    assert snapshot is not None
    assert snapshot.original == original
    assert snapshot.snapshot_url == url
    assert snapshot.captured_at == captured
    assert original_url(url) == original


@pytest.mark.parametrize(
    "url",
    [
        ORIGINAL,
        "https://web.archive.org/",
        "https://web.archive.org/web/*/https://www.ilpost.it/*",
        "https://example.org/web/20240109082917/https://www.ilpost.it/a/",
    ],
)
def test_other_urls_are_not_snapshots(url: str) -> None:
    assert split_snapshot(url) is None
    assert original_url(url) == url

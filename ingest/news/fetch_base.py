"""What the polite client (``http.py``) and robots.txt (``robots.py``) share.

The client fetches robots.txt through robots.py, and robots.py fetches through the client;
each imports only this module from the other side, so neither needs the other at import
time: :class:`FetchFailed` (the one fetch error, with its reason codes) and
:class:`RobotsFetcher`, the part of the client robots.py uses.
"""

from __future__ import annotations

from typing import Protocol

from synthlake.errors import FetchError


class FetchFailed(FetchError):
    """A page could not be fetched for good; ``reason`` is a short code for the rejects table.

    Codes: ``http_<status>``, ``fetch_timeout``, ``fetch_error``, ``robots_disallowed``,
    ``robots_unavailable``, ``too_large``, ``redirect_loop``, ``too_many_redirects``,
    ``redirect_offsite``, ``bad_redirect``.
    """

    def __init__(
        self, url: str, reason: str, detail: str = "", *, status: int | None = None
    ) -> None:
        super().__init__(url, reason)
        self.detail = detail or reason
        self.status = status
        self.args = (url, reason, self.detail)

    def __str__(self) -> str:
        return f"{self.url}: {self.reason} ({self.detail})"


class Fetched(Protocol):
    content: bytes


class Pacer(Protocol):
    def slow_down(self, interval: float) -> None: ...


class RobotsFetcher(Protocol):
    """What ``RobotsPolicy`` needs of the client (``http.PoliteClient`` is one)."""

    user_agent: str

    async def fetch(
        self, url: str, *, check_robots: bool = True, max_bytes: int | None = None
    ) -> Fetched: ...

    def pacer(self, host: str) -> Pacer: ...

"""A local site for the crawler tests: the saved sample pages plus routes that misbehave.

The server is ``synthlake.ingest.news.sample_site.SiteServer`` (threaded, 127.0.0.1, logs every
request
with its own clock); :class:`FaultSite` lets a test answer chosen ``(host, path)`` itself:
429 with Retry-After, 503 then 200, a hang, redirect loops, a 10 MB page, windows-1252 bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from synthlake.ingest.news.sample_site import SAMPLE_SITE, RequestRecord, SiteHandler, SiteServer

Responder = Callable[[SiteHandler], None]


class FaultHandler(SiteHandler):
    def respond(self, host: str, path: str, query: str) -> bool:
        route = self.server.routes.get((host, path))  # type: ignore[attr-defined]
        if route is None:
            return False
        route(self)
        return True


class FaultSite(SiteServer):
    def __init__(self, root: Path = SAMPLE_SITE, **kwargs: object) -> None:
        super().__init__(root, handler=FaultHandler, **kwargs)
        self.routes: dict[tuple[str, str], Responder] = {}

    def route(self, url: str, responder: Responder) -> None:
        """Answer the real ``url`` (``https://host/path``) with ``responder``."""
        host, _, path = url.removeprefix("https://").partition("/")
        self.routes[(host, "/" + path)] = responder

    def requests(self, host: str | None = None, path: str | None = None) -> list[RequestRecord]:
        return [
            r
            for r in self.log.snapshot()
            if (host is None or r.host == host) and (path is None or r.path == path)
        ]

    def hits(self, url: str) -> list[RequestRecord]:
        host, _, path = url.removeprefix("https://").partition("/")
        return self.requests(host, "/" + path)


# --- responders ---------------------------------------------------------------------------


def page(
    body: bytes | str,
    status: int = 200,
    content_type: str | None = "text/html; charset=utf-8",
    headers: dict[str, str] | None = None,
) -> Responder:
    data = body.encode("utf-8") if isinstance(body, str) else body

    def respond(handler: SiteHandler) -> None:
        handler.send_bytes(status, data, content_type, headers)

    return respond


def in_turn(*responders: Responder) -> Responder:
    """The first request gets the first answer, and so on; the last one repeats."""
    remaining = list(responders)

    def respond(handler: SiteHandler) -> None:
        current = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        current(handler)

    return respond


def hang(seconds: float) -> Responder:
    def respond(handler: SiteHandler) -> None:
        time.sleep(seconds)
        handler.send_bytes(200, b"<html>late</html>", "text/html")

    return respond


def redirect(location: str, status: int = 302) -> Responder:
    return page(b"", status, None, {"Location": location})


def huge(size: int, *, declare_length: bool) -> Responder:
    """``size`` bytes of HTML, with or without a Content-Length header."""

    def respond(handler: SiteHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        if declare_length:
            handler.send_header("Content-Length", str(size))
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        chunk = b"<p>" + b"x" * 65_530 + b"</p>"
        sent = 0
        while sent < size:
            handler.wfile.write(chunk[: size - sent])
            sent += len(chunk)

    return respond


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most requests that arrived within any ``window`` seconds (server clock)."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best

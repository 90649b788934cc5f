"""Serve saved news pages on 127.0.0.1 so the real scrapers can crawl them offline.

``data/sample/site/<host>/<path>`` is served as ``http://127.0.0.1:<port>/<host>/<path>``;
the crawler keeps working on ``https://<host>/<path>`` and a host map (what
:func:`serve_sample_site` yields) sends the requests here. A path ending in ``/`` is served
from ``index.html`` (or ``index.xml`` for feeds).

Like a real site, the server answers with ETag and Last-Modified and honours conditional
requests with 304, so an incremental crawl can be seen at the server. Every request is
logged (:class:`RequestRecord`, with the server's own clock), which is what tests and the
benchmark measure; ``latency_s`` delays each answer like a remote site would.

Built on ``http.server``'s ThreadingHTTPServer (not SimpleHTTPRequestHandler, which knows
neither host prefixes, ETags nor feeds' content types). :class:`SiteHandler` can be
subclassed to answer some paths itself (tests use that for faults).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from synthlake.settings import PROJECT_DIR

logger = logging.getLogger(__name__)

SAMPLE_SITE = PROJECT_DIR / "data" / "sample" / "site"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".shtml": "text/html; charset=utf-8",
    ".xml": "application/rss+xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}


@dataclass(slots=True)
class RequestRecord:
    """One request as the server saw it: logged on arrival (``at``: ``time.monotonic()``),
    ``status`` filled in when the answer starts (None while it has not)."""

    at: float
    host: str
    path: str
    conditional: bool
    user_agent: str
    status: int | None = None


@dataclass(slots=True)
class RequestLog:
    records: list[RequestRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: RequestRecord) -> None:
        with self.lock:
            self.records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self.lock:
            return list(self.records)

    def clear(self) -> None:
        with self.lock:
            self.records.clear()


class SiteHandler(BaseHTTPRequestHandler):
    """Serves ``<root>/<host>/<path>``; override :meth:`respond` to answer paths yourself."""

    server: SiteServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.arrived = time.monotonic()
        parts = urlsplit(self.path)
        segments = unquote(parts.path).lstrip("/").split("/", 1)
        host, rest = segments[0].lower(), "/" + (segments[1] if len(segments) > 1 else "")
        self.site_host, self.site_path = host, rest + (f"?{parts.query}" if parts.query else "")
        self.record = RequestRecord(
            at=self.arrived,
            host=host,
            path=self.site_path,
            conditional=bool(
                self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since")
            ),
            user_agent=self.headers.get("User-Agent", ""),
        )
        self.server.log.add(self.record)
        if self.server.latency_s:
            time.sleep(self.server.latency_s)
        try:
            if not self.respond(host, rest, parts.query):
                self.serve_file(host, rest)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to answer

    def respond(self, host: str, path: str, query: str) -> bool:
        """Answer ``host``/``path`` specially and return True, or return False to serve files."""
        return False

    def serve_file(self, host: str, path: str) -> None:
        file = self.server.file_for(host, path)
        if file is None:
            self.send_bytes(
                404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html; charset=utf-8"
            )
            return
        content = file.read_bytes()
        etag = '"' + hashlib.sha1(content).hexdigest()[:16] + '"'
        mtime = int(file.stat().st_mtime)
        headers = {
            "ETag": etag,
            "Last-Modified": formatdate(mtime, usegmt=True),
            "Cache-Control": "max-age=60",
        }
        if self._not_modified(etag, mtime):
            self.send_bytes(304, b"", None, headers)
            return
        self.send_bytes(
            200, content, CONTENT_TYPES.get(file.suffix, "application/octet-stream"), headers
        )

    def _not_modified(self, etag: str, mtime: int) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            return etag in [t.strip() for t in if_none_match.split(",")] or if_none_match == "*"
        since = self.headers.get("If-Modified-Since")
        if since:
            try:
                return mtime <= parsedate_to_datetime(since).timestamp()
            except (TypeError, ValueError):
                return False
        return False

    def send_bytes(
        self,
        status: int,
        content: bytes,
        content_type: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if content and status != 304:
            self.wfile.write(content)

    def send_response(self, code: int, message: str | None = None) -> None:
        record = getattr(self, "record", None)
        if record is not None:
            record.status = code
        super().send_response(code, message)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        logger.debug("sample site: " + format, *args)


class SiteServer(ThreadingHTTPServer):
    """A threaded server on 127.0.0.1 (port 0: a free one) over a folder of saved sites."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        root: Path = SAMPLE_SITE,
        *,
        handler: type[SiteHandler] = SiteHandler,
        latency_s: float = 0.0,
    ) -> None:
        self.root = Path(root).resolve()
        self.latency_s = latency_s
        self.log = RequestLog()
        super().__init__(("127.0.0.1", 0), handler)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def hosts(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and "." in p.name)

    def host_map(self, hosts: list[str] | None = None) -> dict[str, str]:
        """{host: base URL} for the crawler's ``host_map``."""
        return {host: f"{self.base_url}/{host}" for host in (hosts or self.hosts())}

    def file_for(self, host: str, path: str) -> Path | None:
        if not host or host.startswith("."):
            return None
        relative = path.lstrip("/")
        candidate = (self.root / host / relative).resolve()
        if not candidate.is_relative_to(self.root / host):
            return None  # ../ out of the site
        if candidate.is_dir() or path.endswith("/"):
            for index in ("index.html", "index.xml"):
                if (candidate / index).is_file():
                    return candidate / index
            return None
        return candidate if candidate.is_file() else None

    def start(self) -> SiteServer:
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="sample-site",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextmanager
def serve_sample_site(root: Path = SAMPLE_SITE, *, latency_s: float = 0.0) -> Iterator[dict]:
    """Serve ``root`` on 127.0.0.1 while the block runs; yields the crawler's host map.

    >>> with serve_sample_site() as host_map:
    ...     crawl_news(settings, lake, run_id=run_id, host_map=host_map)
    """
    if not Path(root).is_dir():
        raise FileNotFoundError(f"no sample site at {root} (run data/sample/site/build_site.py)")
    with SiteServer(root, latency_s=latency_s) as server:
        host_map = server.host_map()
        logger.info(
            "serving the sample site %s at %s for %s", root, server.base_url, ", ".join(host_map)
        )
        yield host_map

"""The polite HTTP client every news scraper fetches through.

One :class:`PoliteClient` per crawl, on httpx's async client. It sends a descriptive
User-Agent, obeys robots.txt (:mod:`synthlake.ingest.news.robots`, on ``urllib.robotparser``), paces
each host, bounds the requests in flight across hosts, times out, retries 429/5xx/timeouts
with jittered exponential backoff (tenacity) honouring ``Retry-After``, never retries other
4xx, refuses pages over a size cap, follows redirects itself (each hop is checked against
robots.txt and paced; a loop is an error), and sends conditional GETs (ETag/Last-Modified).

Three parts are written here rather than taken from a library, and why:

- **Host pacing.** aiolimiter spaces the moments its slots are *acquired*, but what a site
  sees is when requests *arrive*, and a request can arrive late (a new connection, a busy
  network) and so land less than one interval before the next. :class:`HostPacer` keeps one
  request per host in flight and starts the next one interval after the previous answer's
  headers came back: the server received that request before it answered, so two requests
  can never reach it less than one interval apart, whatever the delays. The price is one
  round trip per interval (at 50 ms latency and 1 request/s, 95% of the limit).
  ``Retry-After`` and robots.txt ``Crawl-delay`` push the next slot back for the whole host.
- **Validator store.** httpx has no HTTP cache and a full one is not needed: per URL we keep
  ETag/Last-Modified and, for listings and feeds, the article links they held, so a 304 can
  still feed discovery. It is a small JSON file in ``lake/cache/``.
- **Decoding.** Pages are decoded in a fixed order (HTTP charset, ``<meta charset>``, UTF-8,
  windows-1252). bs4's UnicodeDammit asks a statistical detector (charset-normalizer, which
  is installed here) before trying UTF-8 and windows-1252, and on short Italian pages it
  guesses wrong: the windows-1252 bytes of "Perché è già più città" come back as "Perché č
  giŕ piů cittŕ" (windows-1250). A fixed order is predictable and is what browsers do.

Host mapping: all code works on the real URLs (``https://www.ansa.it/...``); only
:class:`HostMapTransport` rewrites a mapped host's requests to another base URL (a mirror, the
bundled sample site, a test server) at send time, and rewrites redirects back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from synthlake.ingest.news.fetch_base import FetchFailed
from synthlake.ingest.news.robots import RobotsPolicy
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from synthlake.errors import SynthlakeError
from synthlake.settings import Settings

logger = logging.getLogger(__name__)

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
ACCEPT = "text/html,application/xhtml+xml,application/rss+xml,application/xml;q=0.9,*/*;q=0.5"
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# WHATWG: these labels mean windows-1252 in every browser.
_AS_CP1252 = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "us-ascii", "ascii", "cp819"}


class _Retryable(SynthlakeError):
    """A 429/5xx answer: worth another attempt after ``retry_after`` or a backoff."""

    transient = True

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class _RetryAfterTooLong(SynthlakeError):
    """A 429/503 whose ``Retry-After`` is longer than a crawl waits: the page fails."""

    def __init__(self, status: int, seconds: float) -> None:
        super().__init__(f"HTTP {status}, Retry-After {seconds:.0f}s")
        self.status = status
        self.seconds = seconds


@dataclass(slots=True)
class Page:
    """What a fetch returns: the body of a 2xx, or an empty 304."""

    url: str  # as requested
    final_url: str  # after redirects, always a real (unmapped) URL
    status: int
    content: bytes
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    def text(self) -> str:
        return decode_html(self.content, self.content_type)


# --- decoding --------------------------------------------------------------------------------


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", content_type, re.I)
    return match.group(1) if match else None


def decode_html(content: bytes, content_type: str | None = None) -> str:
    """Bytes of an HTML page to text: HTTP charset, ``<meta charset>``, UTF-8, windows-1252."""
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8", "replace")
    candidates = [charset_from_content_type(content_type)]
    meta = _META_CHARSET.search(content[:4096])
    candidates.append(meta.group(1).decode("ascii", "ignore") if meta else None)
    candidates += ["utf-8", "windows-1252"]
    for name in candidates:
        if not name:
            continue
        label = name.strip().lower()
        encoding = "windows-1252" if label in _AS_CP1252 else label
        try:
            return content.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return content.decode("utf-8", "replace")


# --- validators ------------------------------------------------------------------------------


@dataclass(slots=True)
class ValidatorStore:
    """ETag/Last-Modified (and a listing's links) per URL, kept in a JSON file between runs."""

    path: Path | None
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    dirty: bool = False

    @classmethod
    def load(cls, path: Path | None) -> ValidatorStore:
        if path is None or not path.is_file():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = data.get("entries", {})
            if not isinstance(entries, dict):
                raise ValueError("entries is not an object")
        except (OSError, ValueError) as exc:
            # Only an optimisation is lost: every page is fetched in full once more.
            logger.warning("ignoring unreadable HTTP validator cache %s: %s", path, exc)
            return cls(path)
        return cls(path, entries)

    def get(self, url: str) -> dict[str, Any] | None:
        return self.entries.get(url)

    def update(self, url: str, **values: Any) -> None:
        entry = self.entries.setdefault(url, {})
        entry.update({k: v for k, v in values.items()})
        self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps({"version": 1, "entries": self.entries}, ensure_ascii=False, indent=0),
            encoding="utf-8",
        )
        os.replace(tmp, self.path)
        self.dirty = False


# --- host mapping ------------------------------------------------------------------------------


class HostMapTransport(httpx.AsyncBaseTransport):
    """Send requests for mapped hosts to another base URL; map redirects back to real URLs.

    ``{"www.ansa.it": "http://127.0.0.1:8000/www.ansa.it"}`` sends
    ``https://www.ansa.it/a/b?c`` to ``http://127.0.0.1:8000/www.ansa.it/a/b?c``.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, host_map: dict[str, str]) -> None:
        self._inner = inner
        self._map = {host.lower(): httpx.URL(base.rstrip("/")) for host, base in host_map.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        base = self._map.get(request.url.host)
        if base is None:
            return await self._inner.handle_async_request(request)
        real = request.url
        target = base.copy_with(raw_path=base.raw_path.rstrip(b"/") + real.raw_path)
        request.url = target
        request.headers["Host"] = target.netloc.decode("ascii")
        request.headers["X-Forwarded-Host"] = real.host
        request.headers["X-Forwarded-Proto"] = real.scheme
        response = await self._inner.handle_async_request(request)
        location = response.headers.get("location")
        if location:
            response.headers["location"] = self.unmap(str(target.join(location)), real)
        return response

    def unmap(self, url: str, real: httpx.URL) -> str:
        """A URL on a mapped base back to the real site's URL (others unchanged)."""
        parsed = httpx.URL(url)
        for host, base in self._map.items():
            prefix = base.raw_path.rstrip(b"/")
            if parsed.netloc != base.netloc or parsed.scheme != base.scheme:
                continue
            path = parsed.raw_path
            if prefix and not (path == prefix or path.startswith(prefix + b"/")):
                continue
            rest = path[len(prefix) :] or b"/"
            scheme = real.scheme if host == real.host else "https"
            return f"{scheme}://{host}{rest.decode('ascii')}"
        return url

    async def aclose(self) -> None:
        await self._inner.aclose()


# --- pacing ---------------------------------------------------------------------------------------


class HostPacer:
    """One request at a time per host, each ``interval`` seconds after the last one's answer."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.lock = asyncio.Lock()
        self.blocked: tuple[str, str] | None = None  # (reason, detail) once a host says stop
        self._next_at = 0.0

    async def wait_turn(self) -> None:
        loop = asyncio.get_running_loop()
        while (delay := self._next_at - loop.time()) > 0:
            await asyncio.sleep(delay)

    def mark_answered(self, at: float) -> None:
        """The previous request was answered (or given up on) at loop time ``at``."""
        self._next_at = max(self._next_at, at + self.interval)

    def hold_off(self, seconds: float) -> None:
        """Nothing more to this host for ``seconds`` (Retry-After)."""
        now = asyncio.get_running_loop().time()
        self._next_at = max(self._next_at, now + seconds)

    def slow_down(self, interval: float) -> None:
        """Raise the interval (robots.txt Crawl-delay); never lowers it."""
        self.interval = max(self.interval, interval)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# --- the client ----------------------------------------------------------------------------------


@dataclass(slots=True)
class ClientCounters:
    requests: int = 0
    retries: int = 0
    not_modified: int = 0
    by_host: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)


class PoliteClient:
    """Fetch pages politely; use as ``async with PoliteClient(settings) as client``."""

    def __init__(
        self,
        settings: Settings,
        *,
        host_map: dict[str, str] | None = None,
        validators: ValidatorStore | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.user_agent = settings.news_user_agent
        self.interval = 1.0 / settings.news_requests_per_second_per_host
        self.max_bytes = settings.news_max_page_bytes
        self.max_redirects = settings.news_max_redirects
        self.timeout_s = settings.news_timeout_s
        self.validators = validators or ValidatorStore(None)
        self.counters = ClientCounters()
        self.host_map = {**settings.news_host_map, **(host_map or {})}
        inner = transport or httpx.AsyncHTTPTransport(retries=0)
        self._client = httpx.AsyncClient(
            transport=HostMapTransport(inner, self.host_map) if self.host_map else inner,
            headers={
                "User-Agent": self.user_agent,
                "Accept": ACCEPT,
                "Accept-Language": "it-IT,it;q=0.9,en;q=0.5",
            },
            timeout=httpx.Timeout(self.timeout_s),
            follow_redirects=False,
            # A proxy from the environment would also catch the mapped (local) hosts.
            trust_env=not self.host_map,
        )
        self._semaphore = asyncio.Semaphore(settings.news_concurrency)
        self._pacers: dict[str, HostPacer] = {}
        self.robots = RobotsPolicy(self)

    async def __aenter__(self) -> PoliteClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def pacer(self, host: str) -> HostPacer:
        pacer = self._pacers.get(host)
        if pacer is None:
            pacer = self._pacers[host] = HostPacer(self.interval)
        return pacer

    # --- public ------------------------------------------------------------------------------

    async def fetch(
        self,
        url: str,
        *,
        conditional: bool = False,
        remember: bool = False,
        check_robots: bool = True,
        same_site: str | None = None,
        max_bytes: int | None = None,
    ) -> Page:
        """GET ``url``; a 2xx or 304 comes back as a :class:`Page`, anything else raises.

        ``conditional`` sends the stored validators; ``remember`` stores the new ones;
        ``same_site`` (a registered domain) makes a redirect off that domain an error.
        """
        visited: list[str] = []
        current = url
        for hop in range(self.max_redirects + 1):
            if current in visited:
                chain = " -> ".join([*visited, current])
                raise FetchFailed(url, "redirect_loop", f"redirect loop: {chain}")
            visited.append(current)
            host = urlsplit(current).hostname or ""
            if same_site and not _on_domain(host, same_site):
                raise FetchFailed(
                    url, "redirect_offsite", f"redirected off {same_site} to {current}"
                )
            if check_robots:
                verdict = await self.robots.verdict(current)
                if verdict != "allowed":
                    raise FetchFailed(url, verdict, f"robots.txt of {host}: {verdict} {current}")
            headers = self._conditional_headers(url) if conditional and hop == 0 else {}
            status, response_headers, content = await self._get(current, headers, max_bytes)
            if status in REDIRECT_CODES:
                location = response_headers.get("location")
                if not location:
                    raise FetchFailed(url, "bad_redirect", f"HTTP {status} without Location")
                current = urljoin(current, location.strip())
                if urlsplit(current).scheme not in ("http", "https"):
                    raise FetchFailed(url, "bad_redirect", f"redirect to {current}")
                continue
            if status == 304:
                self.counters.not_modified += 1
                return Page(url, current, 304, b"")
            if not 200 <= status < 300:
                raise FetchFailed(
                    url, f"http_{status}", f"HTTP {status} for {current}", status=status
                )
            page = Page(
                url=url,
                final_url=current,
                status=status,
                content=content,
                content_type=response_headers.get("content-type", ""),
                etag=response_headers.get("etag"),
                last_modified=response_headers.get("last-modified"),
            )
            if remember and (page.etag or page.last_modified):
                self.validators.update(
                    url,
                    etag=page.etag,
                    last_modified=page.last_modified,
                    checked_at=datetime.now(UTC).isoformat(timespec="seconds"),
                )
            return page
        raise FetchFailed(
            url, "too_many_redirects", f"more than {self.max_redirects} redirects: {visited}"
        )

    # --- internals ------------------------------------------------------------------------------

    def _conditional_headers(self, url: str) -> dict[str, str]:
        entry = self.validators.get(url) or {}
        headers = {}
        if entry.get("etag"):
            headers["If-None-Match"] = entry["etag"]
        if entry.get("last_modified"):
            headers["If-Modified-Since"] = entry["last_modified"]
        return headers

    async def _get(
        self, url: str, headers: dict[str, str], max_bytes: int | None
    ) -> tuple[int, httpx.Headers, bytes]:
        """One URL with retries; raises FetchFailed once they are spent."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.news_max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(
                (_Retryable, httpx.TimeoutException, httpx.TransportError, TimeoutError)
            ),
            before_sleep=lambda state: self._before_sleep(url, state),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._send(url, headers, max_bytes or self.max_bytes)
        except _Retryable as exc:
            raise FetchFailed(
                url,
                f"http_{exc.status}",
                f"HTTP {exc.status} after {self.settings.news_max_retries + 1} attempts",
                status=exc.status,
            ) from None
        except _RetryAfterTooLong as exc:
            raise FetchFailed(
                url,
                f"http_{exc.status}",
                f"HTTP {exc.status} with Retry-After {exc.seconds:.0f}s, longer than "
                f"SYNTHLAKE_NEWS_RETRY_MAX_WAIT_S={self.settings.news_retry_max_wait_s:g}",
                status=exc.status,
            ) from None
        except (httpx.TimeoutException, TimeoutError):
            raise FetchFailed(
                url,
                "fetch_timeout",
                f"no complete answer within {self.timeout_s:g}s, "
                f"{self.settings.news_max_retries + 1} attempts",
            ) from None
        except httpx.TransportError as exc:
            raise FetchFailed(url, "fetch_error", f"{type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return exc.retry_after
        # Full jitter: uniform in [0, base * 2^(n-1)], so that many clients do not sync up.
        cap = self.settings.news_retry_backoff_s * 2 ** (state.attempt_number - 1)
        return random.uniform(0, min(cap, self.settings.news_retry_max_wait_s))

    def _before_sleep(self, url: str, state: RetryCallState) -> None:
        self.counters.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        logger.info("retrying %s after %r (attempt %d)", url, exc, state.attempt_number)

    async def _send(
        self, url: str, headers: dict[str, str], max_bytes: int
    ) -> tuple[int, httpx.Headers, bytes]:
        host = urlsplit(url).hostname or ""
        pacer = self.pacer(host)
        async with pacer.lock:
            if pacer.blocked is not None:
                raise FetchFailed(url, pacer.blocked[0], pacer.blocked[1])
            await pacer.wait_turn()
            loop = asyncio.get_running_loop()
            answered: list[float] = []  # when the response headers arrived
            try:
                async with self._semaphore:
                    self.counters.requests += 1
                    self.counters.by_host[host] += 1
                    async with asyncio.timeout(self.timeout_s * 2):
                        status, response_headers, content = await self._exchange(
                            url, headers, max_bytes, answered
                        )
            finally:
                # No answer (a timeout, a reset): the server may have got it until now.
                pacer.mark_answered(answered[0] if answered else loop.time())
            self.counters.by_status[status] += 1
            if status == 429 or status >= 500:
                retry_after = parse_retry_after(response_headers.get("retry-after"))
                if retry_after is not None:
                    if retry_after > self.settings.news_retry_max_wait_s:
                        # Asked to stay away longer than we will wait: leave the host alone
                        # for the rest of this crawl rather than come back early.
                        pacer.blocked = (
                            f"http_{status}",
                            f"{host} answered {status} with Retry-After {retry_after:.0f}s; "
                            "not contacted again in this crawl",
                        )
                        raise _RetryAfterTooLong(status, retry_after)
                    pacer.hold_off(retry_after)
                raise _Retryable(status, retry_after)
        return status, response_headers, content

    async def _exchange(
        self, url: str, headers: dict[str, str], max_bytes: int, answered: list[float]
    ) -> tuple[int, httpx.Headers, bytes]:
        async with self._client.stream("GET", url, headers=headers) as response:
            answered.append(asyncio.get_running_loop().time())
            status = response.status_code
            if not 200 <= status < 300:
                return status, response.headers, b""
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchFailed(
                    url,
                    "too_large",
                    f"Content-Length {declared} > {max_bytes} bytes "
                    "(SYNTHLAKE_NEWS_MAX_PAGE_BYTES)",
                    status=status,
                )
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchFailed(
                        url,
                        "too_large",
                        f"more than {max_bytes} bytes (SYNTHLAKE_NEWS_MAX_PAGE_BYTES)",
                        status=status,
                    )
            return status, response.headers, bytes(body)


def _on_domain(host: str, domain: str) -> bool:
    host, domain = host.lower(), domain.lower()
    return host == domain or host.endswith("." + domain)

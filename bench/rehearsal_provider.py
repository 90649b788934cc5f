"""A remote OpenAI-compatible provider stand-in, with real limits and faults (issue 17).

The rehearsal (``bench/rehearsal.py``) runs the real ``synthlake run`` against this server
instead of a hosted model. It runs in **its own process** (``StandinProvider`` starts and
restarts it), so it can be restarted mid-run and outlives a client killed with SIGKILL. It
speaks ``POST /v1/chat/completions`` and ``GET /v1/models`` like vLLM / OpenAI (the real
``openai`` SDK is the client) and behaves like a hosted provider:

- **latency** per request from a log-normal (median 0.6 s, p99 5 s by default);
- **limits** enforced server-side over a sliding 60 s window: requests per minute and
  tokens per minute (a request counts its prompt, about 4 bytes a token, plus its
  ``max_tokens``, as OpenAI counts it at admission). Over a limit: ``429`` with
  ``Retry-After`` (seconds) and ``retry-after-ms``, and the ``x-ratelimit-*`` headers
  OpenAI sends on every answer;
- **injected faults** on top of the limits: ~1% 429 with Retry-After, ~0.5% 5xx, ~0.2%
  requests held open until the client gives up (closes the connection);
- **answers** like a capable model for every synthlake LLM stage
  (``bench/rehearsal_model.py``), deterministic per request body, with ``usage`` tokens.

Latency and faults are drawn from a generator seeded by (seed, body hash, how many times
that body was seen), so a run is reproducible whatever the arrival order, and a retry of a
failed body gets a fresh draw.

**The ledger** (``<state_dir>``, survives restarts; one JSON line per event, written
through as it happens): ``paid.jsonl`` has every request answered 200 (hash of the body:
model + messages + params, tokens in/out, time), billed when generated, even if the client
had gone by then (``events.jsonl`` then notes it ``undelivered``);
``events.jsonl`` has every generation request (arrival, end, status, what happened:
``ok``, ``limit`` 429, ``injected`` 429, ``5xx``, ``hang``, ``gone``); ``server.json`` the
port and pid of the running process. ``StandinProvider.stats()`` reads them, running or
stopped: answered, paid twice (a body hash answered 200 more than once), tokens, the 429
(limit vs injected) / 5xx / hung counts, and the sustained admitted request rate over the
busy period against the RPM limit.

By hand::

    .venv/bin/python -m bench.rehearsal_provider --port 8765 --state-dir /tmp/p
    SYNTHLAKE_LLM=openai:rehearsal-model@http://127.0.0.1:8765/v1 \\
        OPENAI_API_KEY=rehearsal-key .venv/bin/synthlake llm "Hello?"
    .venv/bin/python -m bench.rehearsal_provider --stats --state-dir /tmp/p

From Python::

    with StandinProvider(tmp / "provider", rpm=3000) as provider:
        provider.base_url   # http://127.0.0.1:<port>/v1
        provider.restart()  # same port, same ledger
        provider.stats()

Stdlib only on the server side (fast to start, nothing of synthlake imported).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import math
import os
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

try:
    from bench.rehearsal_model import answer, apply_stop, rough_tokens
except ImportError:  # imported as a top-level module (``python bench/rehearsal.py``)
    from rehearsal_model import answer, apply_stop, rough_tokens  # type: ignore[no-redef]

__all__ = ["StandinProvider", "body_hash", "read_stats"]

ROOT = Path(__file__).resolve().parent.parent
WINDOW_S = 60.0  # the limits' sliding window
Z99 = 2.3263478740408408  # the standard normal's 99th percentile
PAID = "paid.jsonl"
EVENTS = "events.jsonl"
SERVER = "server.json"
BUSY_GAP_S = 10.0  # arrivals further apart than this split the busy period
STRAGGLERS = 20  # a stretch with fewer requests (or under 2% of them) is not a steady state
DEFAULT_MODEL = "rehearsal-model"


def body_hash(body: Any) -> str:
    """What a request is billed under: the canonical JSON of its body (model, messages,
    generation params)."""
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def answer_digest(text: str, tokens_in: int, tokens_out: int) -> str:
    """What a billed answer looks like to the client that stores it (its text and usage):
    ``bench/rehearsal.py`` matches the ledger against the answers a killed run had
    committed to its cache, to tell an answer the client kept from one it never stored."""
    key = f"{int(tokens_in)}:{int(tokens_out)}:{text}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def prompt_tokens(body: dict[str, Any]) -> int:
    return rough_tokens("".join(str(m.get("content") or "") for m in body.get("messages") or []))


def admission_tokens(body: dict[str, Any]) -> int:
    """Tokens a request takes from the tokens-per-minute limit: prompt + its output cap."""
    cap = body.get("max_tokens") or body.get("max_completion_tokens") or 0
    return prompt_tokens(body) + int(cap)


# --- the server process ----------------------------------------------------------------------
class _Ledger:
    """Append-only JSON lines, written through (one ``write`` per line, flushed)."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self._paid = (state_dir / PAID).open("a", encoding="utf-8", buffering=1)
        self._events = (state_dir / EVENTS).open("a", encoding="utf-8", buffering=1)

    def paid(self, record: dict[str, Any]) -> None:
        with self.lock:
            self._paid.write(json.dumps(record) + "\n")

    def event(self, record: dict[str, Any]) -> None:
        with self.lock:
            self._events.write(json.dumps(record) + "\n")


class _Limits:
    """Requests and tokens admitted over the last ``WINDOW_S`` seconds (wall clock, so a
    restarted process picks up where the last one left off)."""

    def __init__(self, rpm: int, tpm: int) -> None:
        self.rpm, self.tpm = rpm, tpm
        self.window: collections.deque[tuple[float, int]] = collections.deque()
        self.tokens = 0

    def _expire(self, now: float) -> None:
        while self.window and self.window[0][0] <= now - WINDOW_S:
            self.tokens -= self.window.popleft()[1]

    def admit(self, now: float, tokens: int) -> float | None:
        """Admit a request now, or return the seconds until it would fit."""
        self._expire(now)
        if len(self.window) >= self.rpm:
            return max(0.001, self.window[len(self.window) - self.rpm][0] + WINDOW_S - now)
        if self.tokens + tokens > self.tpm and self.window:
            freed, wait = self.tokens + tokens - self.tpm, 0.0
            for t, n in self.window:
                freed -= n
                wait = t + WINDOW_S - now
                if freed <= 0:
                    break
            return max(0.001, wait)
        self.window.append((now, tokens))
        self.tokens += tokens
        return None

    def release(self, now: float, tokens: int) -> None:
        """Take back a request admitted at ``now`` (it was refused after all)."""
        try:
            self.window.remove((now, tokens))
            self.tokens -= tokens
        except ValueError:
            pass

    def remaining(self, now: float) -> tuple[int, int]:
        self._expire(now)
        return max(0, self.rpm - len(self.window)), max(0, self.tpm - self.tokens)


class StandinServer:
    """The HTTP server of the stand-in (run in its own process by ``serve``)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        rpm: int,
        tpm: int,
        median_latency_s: float,
        p99_latency_s: float,
        fault_429: float,
        fault_5xx: float,
        fault_hang: float,
        seed: int,
        port: int,
        api_key: str | None,
        model: str = DEFAULT_MODEL,
        max_hold_s: float = 3600.0,
    ) -> None:
        self.state_dir = state_dir
        self.mu = math.log(median_latency_s) if median_latency_s > 0 else None
        self.sigma = (
            max(0.0, math.log(p99_latency_s / median_latency_s) / Z99)
            if median_latency_s > 0 and p99_latency_s > 0
            else 0.0
        )
        self.fault_429, self.fault_5xx, self.fault_hang = fault_429, fault_5xx, fault_hang
        self.seed = seed
        self.api_key = api_key
        self.model = model
        self.max_hold_s = max_hold_s
        self.limits = _Limits(rpm, tpm)
        self.lock = threading.Lock()
        self.seen: collections.Counter[str] = collections.Counter()
        self.stopping = threading.Event()
        self.ledger = _Ledger(state_dir)
        self._load_history()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def do_GET(self) -> None:  # noqa: N802
                owner.handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                owner.handle(self, "POST")

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 256

        self.httpd = Server(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]

    def _load_history(self) -> None:
        """Body counts (for the seeded draws) and the limit window, from earlier runs."""
        path = self.state_dir / EVENTS
        if not path.exists():
            return
        now = time.time()
        for record in read_jsonl(path):
            if "h" in record:
                self.seen[record["h"]] += 1
            if record.get("admitted") and record.get("t0", 0) > now - WINDOW_S:
                self.limits.window.append((record["t0"], int(record.get("adm", 0))))
                self.limits.tokens += int(record.get("adm", 0))
        self.limits.window = collections.deque(sorted(self.limits.window))

    # --- requests -------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        t0 = time.time()
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        path = h.path.split("?", 1)[0].rstrip("/")
        key = (h.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if self.api_key is not None and key != self.api_key:
            self._send(h, 401, _error("Incorrect API key provided.", "invalid_request_error"))
            return
        if method == "GET" and path == "/v1/models":
            data = [{"id": self.model, "object": "model", "owned_by": "rehearsal"}]
            self._send(h, 200, {"object": "list", "data": data})
            return
        if method != "POST" or path != "/v1/chat/completions":
            self._send(h, 404, _error(f"no route {method} {path}", "not_found"))
            return
        try:
            body = json.loads(raw.decode("utf-8"))
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                raise ValueError("not a chat body")
        except (UnicodeDecodeError, ValueError):
            self._send(h, 400, _error("the body is not a chat request", "invalid_request_error"))
            return
        self._generate(h, body, t0)

    def _generate(self, h: BaseHTTPRequestHandler, body: dict[str, Any], t0: float) -> None:
        digest = body_hash(body)
        adm = admission_tokens(body)
        with self.lock:
            wait = self.limits.admit(t0, adm)
            occurrence = self.seen[digest]
            self.seen[digest] += 1
            remaining = self.limits.remaining(t0)
        event: dict[str, Any] = {"t0": round(t0, 4), "h": digest, "adm": adm}
        limit_headers = {
            "x-ratelimit-limit-requests": str(self.limits.rpm),
            "x-ratelimit-limit-tokens": str(self.limits.tpm),
            "x-ratelimit-remaining-requests": str(remaining[0]),
            "x-ratelimit-remaining-tokens": str(remaining[1]),
        }
        if wait is not None:
            self._finish(event, "limit", 429)
            message = "Rate limit reached for requests per minute (or tokens per minute)."
            self._send(h, 429, _error(message, "requests"), limit_headers, retry_after=wait)
            return
        event["admitted"] = True
        rng = random.Random(f"{self.seed}:{digest}:{occurrence}")
        latency = math.exp(rng.gauss(self.mu, self.sigma)) if self.mu is not None else 0.0
        draw = rng.random()
        if draw < self.fault_429:
            # refused, so not counted against the limits, which still have room: the
            # headers say so, as a hosted provider's do on a 429 of its own congestion
            with self.lock:
                self.limits.release(t0, adm)
            del event["admitted"]
            self._finish(event, "injected", 429)
            retry_after = rng.uniform(0.5, 2.0)
            message = "The server is busy with other requests; please retry shortly."
            self._send(h, 429, _error(message, "requests"), limit_headers, retry_after=retry_after)
            return
        draw -= self.fault_429
        if draw < self.fault_5xx:
            status = rng.choice((500, 502, 503))
            if self._hold(h, min(latency, 1.0)):
                self._finish(event, "5xx", status)
                self._send(h, status, _error(f"upstream error {status}", "server_error"))
            else:
                self._finish(event, "gone", 0)
            return
        draw -= self.fault_5xx
        if draw < self.fault_hang:
            self._hold(h, self.max_hold_s)  # until the client gives up (or we stop)
            self._finish(event, "hang", 0)
            return
        text = answer(body)
        text = apply_stop(text, body.get("stop"))
        cap = body.get("max_tokens") or body.get("max_completion_tokens")
        finish = "stop"
        if cap is not None and rough_tokens(text) > int(cap):
            text, finish = text.encode("utf-8")[: int(cap) * 4].decode("utf-8", "ignore"), "length"
        if not self._hold(h, latency):
            self._finish(event, "gone", 0)  # the client left before the answer was ready
            return
        tokens_in, tokens_out = prompt_tokens(body), rough_tokens(text)
        payload = {
            "id": f"chatcmpl-{digest[:12]}-{occurrence}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": tokens_in,
                "completion_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            },
        }
        if self.stopping.is_set():
            return
        # Billed once generated, whether or not the client is still there to read it.
        record = {
            "t": round(time.time(), 4),
            "h": digest,
            "tin": tokens_in,
            "tout": tokens_out,
            "a": answer_digest(text, tokens_in, tokens_out),
        }
        self.ledger.paid(record)
        if not self._send(h, 200, payload, limit_headers):
            self.ledger.event({"undelivered": digest, "t": round(time.time(), 4)})
        self._finish(event, "ok", 200)

    def _hold(self, h: BaseHTTPRequestHandler, seconds: float) -> bool:
        """Wait ``seconds``; False when the client closed the connection meanwhile (or
        the server is stopping)."""
        deadline = time.monotonic() + seconds
        conn = h.connection
        while (left := deadline - time.monotonic()) > 0:
            if self.stopping.is_set():
                return False
            try:
                ready, _, _ = select.select([conn], [], [], min(left, 0.25))
                if ready and not conn.recv(1, socket.MSG_PEEK):
                    return False  # EOF: the client gave up
            except (OSError, ValueError):
                return False
        return not self.stopping.is_set()

    def _finish(self, event: dict[str, Any], what: str, status: int) -> None:
        event.update(t1=round(time.time(), 4), what=what, status=status)
        self.ledger.event(event)

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        retry_after: float | None = None,
    ) -> bool:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                h.send_header(name, value)
            if retry_after is not None:
                h.send_header("Retry-After", str(max(1, math.ceil(retry_after))))
                h.send_header("retry-after-ms", str(max(1, round(retry_after * 1000))))
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
            return True
        except OSError:
            return False

    # --- lifecycle ------------------------------------------------------------------------
    def serve(self, parent_pid: int | None = None) -> None:
        info = {"port": self.port, "pid": os.getpid(), "started": time.time()}
        tmp = self.state_dir / (SERVER + ".tmp")
        tmp.write_text(json.dumps(info))
        tmp.replace(self.state_dir / SERVER)
        self.ledger.event({"start": info["started"], "pid": info["pid"], "port": self.port})

        def stop(*_: Any) -> None:
            self.stopping.set()
            threading.Thread(target=self.httpd.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if parent_pid:
            threading.Thread(
                target=self._watch_parent, args=(parent_pid, stop), daemon=True
            ).start()
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self.stopping.set()
            self.httpd.server_close()
            with self.ledger.lock:  # no half-written line: exit between two writes
                os._exit(0)

    def _watch_parent(self, parent_pid: int, stop: Any) -> None:
        while not self.stopping.wait(1.0):
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                stop()
                return


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": None}}


# --- the controller ----------------------------------------------------------------------------
class StandinProvider:
    """Starts, stops and restarts the stand-in server process; reads its ledger."""

    def __init__(
        self,
        state_dir: Path,
        *,
        rpm: int = 3000,
        tpm: int = 3_000_000,
        median_latency_s: float = 0.6,
        p99_latency_s: float = 5.0,
        fault_429: float = 0.01,
        fault_5xx: float = 0.005,
        fault_hang: float = 0.002,
        seed: int = 17,
        port: int | None = None,
        api_key: str | None = "rehearsal-key",
        model: str = DEFAULT_MODEL,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.rpm, self.tpm = rpm, tpm
        self.options = {
            "rpm": rpm,
            "tpm": tpm,
            "median_latency_s": median_latency_s,
            "p99_latency_s": p99_latency_s,
            "fault_429": fault_429,
            "fault_5xx": fault_5xx,
            "fault_hang": fault_hang,
            "seed": seed,
        }
        self.api_key = api_key
        self.model = model
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the stand-in provider is not started")
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def command(self, port: int) -> list[str]:
        args = [sys.executable, "-m", "bench.rehearsal_provider", "--port", str(port)]
        args += ["--state-dir", str(self.state_dir), "--model", self.model]
        args += ["--parent-pid", str(os.getpid())]
        for name, value in self.options.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        args += ["--api-key", self.api_key or ""]
        return args

    def start(self, timeout_s: float = 20.0) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        info = self.state_dir / SERVER
        info.unlink(missing_ok=True)
        log = (self.state_dir / "server.log").open("ab")
        self._process = subprocess.Popen(
            self.command(self.port or 0),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C or a kill of the client's group spares it
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = (self.state_dir / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the stand-in provider exited at start:\n{tail}")
            try:
                data = json.loads(info.read_text())
            except (OSError, ValueError):
                time.sleep(0.05)
                continue
            if data.get("pid") == self._process.pid:
                self.port = int(data["port"])
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the stand-in provider did not start within {timeout_s:g} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Stop the server (requests in flight are dropped unanswered) and start it again
        on the same port, with the same ledger."""
        port = self.port
        self.stop()
        self.port = port
        for _ in range(50):  # the old socket may linger a moment
            try:
                self.start()
                return
            except RuntimeError as exc:
                if "Address already in use" not in str(exc):
                    raise
                time.sleep(0.1)
        self.start()

    def __enter__(self) -> StandinProvider:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        return read_stats(self.state_dir, rpm=self.rpm)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.endswith("\n"):  # a line still being written is left for later
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
    return out


def _segments(times: list[float]) -> list[list[float]]:
    """Sorted times cut where two are more than ``BUSY_GAP_S`` apart."""
    out: list[list[float]] = []
    for t in times:
        if out and t - out[-1][-1] <= BUSY_GAP_S:
            out[-1].append(t)
        else:
            out.append([t])
    return out


def read_stats(state_dir: Path, *, rpm: int | None = None) -> dict[str, Any]:
    """The ledger's figures (the server may be running or stopped).

    The *busy period* is made of the stretches where requests kept arriving (gaps under
    ``BUSY_GAP_S``): the wait for a last hung request, a server restart longer than that
    or the pause between two client runs do not count, while a client that idles between
    requests, or pauses for seconds after a 429, does. ``sustained_rpm`` is the admitted
    requests per minute in the steady state of each stretch (5% of its requests off each
    end: start-up, and the last retries trickling in; stretches of a few retries alone,
    like those after a hung request timed out, are left out); ``limit_share`` is it over the RPM
    limit (the issue's goal: >= 0.9). ``busy_rpm`` / ``busy_share``: the same over whole
    stretches, ends included.
    """
    state_dir = Path(state_dir)
    paid = read_jsonl(state_dir / PAID)
    records = read_jsonl(state_dir / EVENTS)
    events = [r for r in records if "h" in r]
    starts = [r for r in records if "start" in r]
    if rpm is None:
        rpm = 0
    counts = collections.Counter(r["h"] for r in paid)
    what = collections.Counter(r.get("what") for r in events)
    arrivals = sorted(r["t0"] for r in events)
    admitted = sorted(r["t0"] for r in events if r.get("admitted"))
    busy, steady_n, steady_s = 0.0, 0, 0.0
    for segment in _segments(arrivals):
        busy += segment[-1] - segment[0]
        inside = [t for t in admitted if segment[0] <= t <= segment[-1]]
        if len(inside) < max(STRAGGLERS, 0.02 * len(admitted)):
            continue  # retries trickling in after the flow (e.g. after a hung request)
        trim = len(inside) // 20  # the steady state: 5% off each end (start-up, stragglers)
        if len(inside) - 2 * trim >= 2:
            kept = inside[trim : len(inside) - trim]
            steady_n += len(kept) - 1
            steady_s += kept[-1] - kept[0]
    sustained = steady_n / steady_s * 60.0 if steady_s > 0 else 0.0
    busy_rpm = len(admitted) / busy * 60.0 if busy > 0 else 0.0
    ends = [r.get("t1", r["t0"]) for r in events]
    span = (max(ends) - arrivals[0]) if arrivals else 0.0
    peak, lo = 0, 0
    for hi, t in enumerate(admitted):
        while admitted[lo] <= t - WINDOW_S:
            lo += 1
        peak = max(peak, hi - lo + 1)
    return {
        "requests": len(events),
        "admitted": len(admitted),
        "answered": len(paid),
        "distinct_answered": len(counts),
        "paid_twice": sum(n - 1 for n in counts.values() if n > 1),
        "bodies_paid_twice": sum(1 for n in counts.values() if n > 1),
        "undelivered": sum(1 for r in records if "undelivered" in r),
        "tokens_in": sum(int(r.get("tin", 0)) for r in paid),
        "tokens_out": sum(int(r.get("tout", 0)) for r in paid),
        "http_429_limit": what["limit"],
        "http_429_injected": what["injected"],
        "http_5xx": what["5xx"],
        "hung": what["hang"],
        "gone": what["gone"],
        "starts": len(starts),
        "busy_s": round(busy, 3),
        "span_s": round(span, 3),
        "sustained_rpm": round(sustained, 1),
        "busy_rpm": round(busy_rpm, 1),
        "overall_rpm": round(len(admitted) / span * 60.0, 1) if span > 0 else 0.0,
        "peak_rpm": peak,
        "rpm_limit": rpm,
        "limit_share": round(sustained / rpm, 4) if rpm else None,
        "busy_share": round(busy_rpm / rpm, 4) if rpm else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rpm", type=int, default=3000)
    parser.add_argument("--tpm", type=int, default=3_000_000)
    parser.add_argument("--median-latency-s", type=float, default=0.6)
    parser.add_argument("--p99-latency-s", type=float, default=5.0)
    parser.add_argument("--fault-429", type=float, default=0.01)
    parser.add_argument("--fault-5xx", type=float, default=0.005)
    parser.add_argument("--fault-hang", type=float, default=0.002)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--api-key", default="rehearsal-key", help="'' accepts any key")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when it exits")
    parser.add_argument("--stats", action="store_true", help="print the ledger's figures")
    args = parser.parse_args(argv)
    if args.stats:
        print(json.dumps(read_stats(args.state_dir, rpm=args.rpm), indent=2))
        return 0
    server = StandinServer(
        args.state_dir,
        rpm=args.rpm,
        tpm=args.tpm,
        median_latency_s=args.median_latency_s,
        p99_latency_s=args.p99_latency_s,
        fault_429=args.fault_429,
        fault_5xx=args.fault_5xx,
        fault_hang=args.fault_hang,
        seed=args.seed,
        port=args.port,
        api_key=args.api_key or None,
        model=args.model,
    )
    print(f"stand-in provider on http://127.0.0.1:{server.port}/v1", flush=True)
    server.serve(parent_pid=args.parent_pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())

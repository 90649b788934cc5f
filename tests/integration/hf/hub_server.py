"""A local stand-in for the Hugging Face hub, enough for ``huggingface_hub`` to download.

It answers what ``hf_hub_download`` and ``HfApi.dataset_info`` ask for, in the hub's own
shapes: ``HEAD``/``GET /datasets/<repo>/resolve/<revision>/<file>`` with ``X-Repo-Commit``,
``ETag`` and ``Content-Length``; ``GET /api/datasets/<repo>/revision/<revision>`` with the
commit sha and the file list; 404s with the hub's ``X-Error-Code`` (``RepoNotFound``,
``RevisionNotFound``, ``EntryNotFound``). Every request is recorded so tests can assert
that a rerun downloaded nothing.

Hand-written on the stdlib (huggingface_hub honours HF_ENDPOINT, so a local server
answering HEAD/GET on ``resolve/`` is enough) rather than pytest-httpserver: a file
can be told to come short of its ``Content-Length`` (a connection dropped mid-download),
which needs control of the socket.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

_RESOLVE = re.compile(r"^/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_INFO = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>[^/]+)$")


@dataclass(slots=True)
class Seen:
    method: str
    path: str
    status: int


@dataclass(slots=True)
class _Repo:
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)


class HubServer:
    """``with HubServer() as hub: hub.add("owner/name", {"f.jsonl": b"..."}); hub.endpoint``."""

    def __init__(self) -> None:
        self._repos: dict[str, _Repo] = {}
        self._short: set[tuple[str, str]] = set()  # (repo, file) sent short of its length
        self._lock = threading.Lock()
        self.requests: list[Seen] = []
        self._httpd: ThreadingHTTPServer | None = None

    # --- content -------------------------------------------------------------------------
    def add(self, repo: str, files: dict[str, bytes], *, branch: str = "main") -> str:
        """Publish a commit of ``files`` on ``branch``; returns its 40-hex sha."""
        digest = hashlib.sha1(repo.encode())
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + files[name])
        sha = digest.hexdigest()
        with self._lock:
            entry = self._repos.setdefault(repo, _Repo())
            entry.commits[sha] = dict(files)
            entry.branches[branch] = sha
        return sha

    def cut_transfer(self, repo: str, name: str) -> None:
        """Send ``name`` with its full Content-Length but only half its bytes."""
        self._short.add((repo, name))

    def downloads(self) -> list[Seen]:
        """GET requests for file contents (not HEAD, not the API)."""
        return [r for r in self.requests if r.method == "GET" and "/resolve/" in r.path]

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> HubServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

            def do_HEAD(self) -> None:  # noqa: N802
                owner._handle(self, head=True)

            def do_GET(self) -> None:  # noqa: N802
                owner._handle(self, head=False)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    # --- protocol ------------------------------------------------------------------------
    def _commit(self, repo: str, rev: str) -> tuple[str | None, str | None]:
        """(sha, error code) of a revision."""
        entry = self._repos.get(repo)
        if entry is None:
            return None, "RepoNotFound"
        sha = entry.branches.get(rev) or (rev if rev in entry.commits else None)
        return (sha, None) if sha else (None, "RevisionNotFound")

    def _handle(self, h: BaseHTTPRequestHandler, *, head: bool) -> None:
        path = h.path.split("?", 1)[0]
        method = "HEAD" if head else "GET"
        status = self._answer(h, path, head=head)
        with self._lock:
            self.requests.append(Seen(method, path, status))

    def _answer(self, h: BaseHTTPRequestHandler, path: str, *, head: bool) -> int:
        info = _INFO.match(path)
        if info and not head:
            repo, rev = info["repo"], unquote(info["rev"])
            sha, error = self._commit(repo, rev)
            if error:
                return self._error(h, error, head=head)
            files = self._repos[repo].commits[sha]
            body = {
                "id": repo,
                "sha": sha,
                "private": False,
                "siblings": [{"rfilename": name, "size": len(files[name])} for name in files],
            }
            return self._send(h, 200, json.dumps(body).encode(), {}, head=head)
        resolve = _RESOLVE.match(path)
        if not resolve:
            return self._error(h, "RepoNotFound", head=head)
        repo, rev, name = resolve["repo"], unquote(resolve["rev"]), unquote(resolve["path"])
        sha, error = self._commit(repo, rev)
        if error:
            return self._error(h, error, head=head)
        data = self._repos[repo].commits[sha].get(name)
        if data is None:
            return self._error(h, "EntryNotFound", head=head)
        headers = {
            "X-Repo-Commit": sha,
            "ETag": f'"{hashlib.sha1(data).hexdigest()}"',
            "Accept-Ranges": "none",
        }
        short = (repo, name) in self._short and not head
        return self._send(h, 200, data, headers, head=head, short=short)

    def _error(self, h: BaseHTTPRequestHandler, code: str, *, head: bool) -> int:
        body = json.dumps({"error": code}).encode()
        return self._send(h, 404, body, {"X-Error-Code": code}, head=head)

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        data: bytes,
        headers: dict[str, str],
        *,
        head: bool,
        short: bool = False,
    ) -> int:
        h.send_response(status)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            h.send_header(key, value)
        if short:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        if not head:
            h.wfile.write(data[: len(data) // 2] if short else data)
            h.wfile.flush()
        return status

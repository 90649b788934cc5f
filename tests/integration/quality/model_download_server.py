"""A local stand-in for where model weights come from: GitHub release assets and the
Hugging Face hub's model repos, on one stdlib HTTP server bound to 127.0.0.1.

- ``GET /releases/<path>``: a release asset (``SYNTHLAKE_MODELS_BASE_URL`` = ``<url>/releases``).
- ``HEAD``/``GET /<owner>/<name>/resolve/<rev>/<file>``: a hub model file with the headers
  ``hf_hub_download`` needs (``X-Repo-Commit``, ``ETag``, ``Content-Length``); any other
  path (``/api/...``) is a 404, which huggingface_hub accepts.
"""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")


class ModelDownloadServer:
    def __init__(self) -> None:
        self.assets: dict[str, bytes] = {}  # path under /releases/
        self.repos: dict[str, dict[str, bytes]] = {}  # repo -> file -> bytes
        self.fail_next: int = 0  # answer this many asset GETs with 503 first
        self.requests: list[tuple[str, str, int]] = []
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> ModelDownloadServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

            def do_HEAD(self) -> None:  # noqa: N802
                owner._answer(self, head=True)

            def do_GET(self) -> None:  # noqa: N802
                owner._answer(self, head=False)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def _answer(self, h: BaseHTTPRequestHandler, *, head: bool) -> None:
        path = h.path.split("?", 1)[0]
        status, body, headers = 404, b"not found", {"X-Error-Code": "EntryNotFound"}
        if path.startswith("/releases/") and not head:
            data = self.assets.get(path.removeprefix("/releases/"))
            if self.fail_next > 0:
                self.fail_next -= 1
                status, body, headers = 503, b"busy", {}
            elif data is not None:
                status, body, headers = 200, data, {}
        elif found := _RESOLVE.match(path):
            data = self.repos.get(found["repo"], {}).get(found["path"])
            if data is not None:
                commit = hashlib.sha1(found["repo"].encode()).hexdigest()
                status, body = 200, data
                headers = {"X-Repo-Commit": commit, "ETag": f'"{hashlib.sha1(data).hexdigest()}"'}
        self.requests.append(("HEAD" if head else "GET", path, status))
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)

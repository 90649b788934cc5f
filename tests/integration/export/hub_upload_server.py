"""A local stand-in for the Hugging Face hub's upload endpoints, enough for
``HfApi.create_repo`` and ``HfApi.upload_folder`` (files uploaded as regular git blobs).

It answers, in the hub's own shapes: ``POST /api/repos/create`` (409 when the repo exists),
``GET /api/datasets/<repo>`` (repo info), ``POST /api/validate-yaml`` (a README's metadata),
``POST /api/datasets/<repo>/preupload/<rev>`` (every file ``regular``) and
``POST /api/datasets/<repo>/commit/<rev>`` (the NDJSON commit with base64 contents). Every
request is recorded; a request without the expected bearer token gets a 401.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_PREUPLOAD = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>[^/?]+)")
_COMMIT = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>[^/?]+)")
_INFO = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/?]+)$")


@dataclass(slots=True)
class Commit:
    repo: str
    revision: str
    summary: str
    files: dict[str, bytes]
    oid: str


@dataclass(slots=True)
class HubUploadServer:
    """``with HubUploadServer(token="hf_x") as hub: ... hub.endpoint, hub.commits``."""

    token: str
    repos: dict[str, bool] = field(default_factory=dict)  # repo -> private
    commits: list[Commit] = field(default_factory=list)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def files(self, repo: str) -> dict[str, bytes]:
        """The repo's files after every commit so far."""
        out: dict[str, bytes] = {}
        for commit in self.commits:
            if commit.repo == repo:
                out.update(commit.files)
        return out

    def __enter__(self) -> HubUploadServer:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _reply(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 401:
                    self.send_header("X-Error-Message", "Invalid credentials in Authorization")
                self.end_headers()
                self.wfile.write(data)
                with hub._lock:
                    hub.requests.append((self.command, self.path, status))

            def _authorized(self) -> bool:
                return self.headers.get("Authorization") == f"Bearer {hub.token}"

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                match = _INFO.match(self.path)
                if not self._authorized():
                    self._reply(401, {"error": "Invalid credentials"})
                elif match and match["repo"] in hub.repos:
                    self._reply(200, {"id": match["repo"], "sha": "0" * 40, "siblings": []})
                else:
                    self._reply(404, {"error": "Repository not found"})

            def do_POST(self) -> None:
                body = self._body()
                if not self._authorized():
                    self._reply(401, {"error": "Invalid credentials"})
                    return
                if self.path == "/api/repos/create":
                    payload = json.loads(body)
                    repo = f"{payload.get('organization')}/{payload['name']}"
                    if repo in hub.repos:
                        self._reply(
                            409,
                            {
                                "error": "You already created this dataset repo",
                                "url": f"{hub.endpoint}/datasets/{repo}",
                            },
                        )
                    else:
                        hub.repos[repo] = bool(payload.get("private")) or (
                            payload.get("visibility") == "private"
                        )
                        self._reply(200, {"url": f"{hub.endpoint}/datasets/{repo}"})
                    return
                if self.path == "/api/validate-yaml":
                    self._reply(200, {"errors": [], "warnings": []})
                    return
                if match := _PREUPLOAD.match(self.path):
                    files = json.loads(body)["files"]
                    self._reply(
                        200,
                        {
                            "files": [
                                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                for f in files
                            ]
                        },
                    )
                    return
                if match := _COMMIT.match(self.path):
                    if match["repo"] not in hub.repos:
                        self._reply(404, {"error": "Repository not found"})
                        return
                    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                    header = next(item["value"] for item in lines if item["key"] == "header")
                    files = {
                        item["value"]["path"]: base64.b64decode(item["value"]["content"])
                        for item in lines
                        if item["key"] == "file"
                    }
                    oid = hashlib.sha1(body).hexdigest()
                    hub.commits.append(
                        Commit(match["repo"], match["rev"], header["summary"], files, oid)
                    )
                    self._reply(
                        200,
                        {
                            "commitUrl": f"{hub.endpoint}/datasets/{match['repo']}/commit/{oid}",
                            "commitOid": oid,
                        },
                    )
                    return
                self._reply(404, {"error": f"no route {self.path}"})

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

"""Run notifications sent for real by Apprise to a local JSON webhook (``json://``).

The webhook is a stdlib HTTP server on 127.0.0.1 that answers with the status codes a test
scripts and records every request; nothing in the sending path is mocked.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from synthlake.pipeline.notify import notify_failure, notify_run
from synthlake.settings import Settings, load_settings

SUMMARY = {
    "run_id": "20250101T060000Z-4f2a",
    "ingest": {"news": {"crawl (live)": {"new": 3, "updated": 0, "unchanged": 39}}},
    "tables": {"stg_news__articles": 42, "news_qa": 17},
    "stages": {"translations": {"verified": 5}},
    "seconds": {"dbt build": 12.34},
    "warnings": [],
    "outputs": {"summary": "/lake/runs/20250101T060000Z-4f2a/summary.json"},
}


class Webhook:
    """Records POSTs; answers them with ``statuses`` in turn, then 200."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                hook.requests.append(
                    {"path": self.path, "json": json.loads(self.rfile.read(length) or b"null")}
                )
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _loopback_without_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apprise posts with requests, which honours HTTP(S)_PROXY: keep 127.0.0.1 direct."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook() as hook:
        yield hook


def settings_for(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    monkeypatch.setenv("SYNTHLAKE_NOTIFY_URLS", url)
    for key, value in env.items():
        monkeypatch.setenv(f"SYNTHLAKE_{key.upper()}", value)
    return load_settings(lake_root=tmp_path / "lake")


def test_summary_is_posted_as_title_and_markdown(
    webhook: Webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(f"json://127.0.0.1:{webhook.port}/hook", tmp_path, monkeypatch)
    assert notify_run(settings, SUMMARY, failed=False, run="clever-fox") is True
    [request] = webhook.requests
    assert request["path"] == "/hook"
    payload = request["json"]
    assert payload["title"] == "synthlake refresh 20250101T060000Z-4f2a: ok"
    assert payload["type"] == "success"
    body = payload["message"]
    assert "### synthlake run 20250101T060000Z-4f2a" in body
    assert "| stg_news__articles | 42 |" in body
    assert "| ingest news: crawl (live) | 3 new, 39 unchanged |" in body
    assert "Prefect flow run: clever-fox" in body


def test_problems_only_posts_runs_with_warnings(
    webhook: Webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(
        f"json://127.0.0.1:{webhook.port}/hook", tmp_path, monkeypatch, notify_on="problems"
    )
    assert notify_run(settings, SUMMARY, failed=False) is False
    warned = SUMMARY | {"warnings": ["no hf rows in stg_hf__instructions: check the inputs"]}
    assert notify_run(settings, warned, failed=False) is True
    [request] = webhook.requests
    assert request["json"]["title"].endswith(": with warnings")
    assert request["json"]["type"] == "warning"
    row = "| warning | no hf rows in stg_hf__instructions: check the inputs |"
    assert row in request["json"]["message"]


def test_a_5xx_is_retried_until_it_is_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Webhook(statuses=[500, 500]) as hook:
        settings = settings_for(f"json://127.0.0.1:{hook.port}/hook", tmp_path, monkeypatch)
        assert notify_run(settings, SUMMARY, failed=False) is True
    assert len(hook.requests) == 3
    assert all(r["json"]["title"].endswith(": ok") for r in hook.requests)


def test_every_url_gets_it_once_even_when_another_fails(
    webhook: Webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Webhook(statuses=[503, 503, 503]) as down:
        urls = f"json://127.0.0.1:{down.port}/a, json://127.0.0.1:{webhook.port}/b"
        settings = settings_for(urls, tmp_path, monkeypatch)
        assert notify_run(settings, SUMMARY, failed=False) is False
    assert len(down.requests) == 3
    assert [r["path"] for r in webhook.requests] == ["/b"]


def test_unreachable_webhook_is_a_warning_without_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:  # a port nothing listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"json://alice:s3cr3t-pw@127.0.0.1:{port}/hook/s3cr3t-path"
    settings = settings_for(url, tmp_path, monkeypatch)
    with caplog.at_level(logging.INFO):
        assert notify_run(settings, SUMMARY, failed=False) is False
    ours = [r for r in caplog.records if r.name == "synthlake.pipeline.notify"]
    assert [r.levelno for r in ours] == [logging.WARNING]
    assert "notification URL 1/1 (json://)" in ours[0].getMessage()
    assert "failed 3 times" in ours[0].getMessage()
    assert all("s3cr3t" not in r.getMessage() for r in caplog.records)


def test_a_failing_flow_notifies_once_after_its_retries(
    prefect_server: None, webhook: Webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import flow

    @flow(
        name="fails",
        retries=1,
        retry_delay_seconds=0,
        on_failure=[notify_failure],
        on_crashed=[notify_failure],
    )
    def fails() -> None:
        raise ValueError("outlet unreachable: mongodb://u:hunter2@db/x")

    # the hook reads the settings from the environment, as a deployment's run does
    settings_for(f"json://127.0.0.1:{webhook.port}/hook", tmp_path, monkeypatch)
    state = fails(return_state=True)
    assert state.is_failed()
    [request] = webhook.requests  # not one per attempt: the first failure is retried
    payload = request["json"]
    assert payload["type"] == "failure"
    assert payload["title"].startswith("synthlake refresh ")
    assert payload["title"].endswith(": FAILED")
    assert "outlet unreachable: mongodb://***@db/x" in payload["message"]
    assert "hunter2" not in payload["message"]


def test_refresh_that_fails_early_notifies_the_failure(
    prefect_server: None, webhook: Webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthlake.pipeline.flows import refresh

    settings_for(
        f"json://127.0.0.1:{webhook.port}/hook", tmp_path, monkeypatch, notify_on="failure"
    )
    state = refresh(
        inputs=str(tmp_path / "no-such-folder"),
        news="none",
        lake_root=str(tmp_path / "lake"),
        return_state=True,
    )
    assert state.is_failed()
    [request] = webhook.requests
    assert request["json"]["title"].endswith(": FAILED")
    assert "flow 'refresh', flow run " in request["json"]["message"]
    assert "no-such-folder" in request["json"]["message"]


def test_a_crashed_flow_notifies(
    prefect_server: None, webhook: Webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import flow

    @flow(name="crashes", on_failure=[notify_failure], on_crashed=[notify_failure])
    def crashes() -> None:
        raise KeyboardInterrupt  # what Prefect records as a crash, not a failure

    settings_for(f"json://127.0.0.1:{webhook.port}/hook", tmp_path, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        crashes()
    [request] = webhook.requests
    assert request["json"]["title"].endswith(": FAILED")
    assert "aborted by an interrupt signal" in request["json"]["message"]
    assert "flow 'crashes'" in request["json"]["message"]

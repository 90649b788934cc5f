"""Which runs notify, and what the notification says (no network: see
tests/integration/schedule/test_notify.py for the sending)."""

from __future__ import annotations

import logging

import pytest

from synthlake.pipeline.notify import (
    message,
    notify_failure,
    notify_run,
    notify_urls,
    should_notify,
)
from synthlake.redact import redact_text, url_scheme
from synthlake.settings import PROJECT_DIR, load_settings

CLEAN = {
    "run_id": "20250101T000000Z-abc",
    "tables": {"stg_news__articles": 42},
    "stages": {"translations": {"verified": 5, "untranslatable": 1}, "toxicity": {"ok": 9}},
    "warnings": [],
}
WARNED = CLEAN | {"warnings": ["no hf rows in stg_hf__instructions: check the inputs"]}
QUARANTINED = CLEAN | {"stages": {"translations": {"verified": 5, "quarantined": 2}}}
LLM_FAILURES = CLEAN | {"stages": {"llm quarantined": {"summarize: bad_json": 1}}}
ZERO_QUARANTINED = CLEAN | {"stages": {"judgements": {"ok": 3, "quarantined": 0}}}


@pytest.mark.parametrize(
    ("notify_on", "summary", "failed", "expected"),
    [
        ("always", CLEAN, False, True),
        ("always", WARNED, False, True),
        ("always", None, True, True),
        ("problems", CLEAN, False, False),
        ("problems", ZERO_QUARANTINED, False, False),
        ("problems", WARNED, False, True),
        ("problems", QUARANTINED, False, True),
        ("problems", LLM_FAILURES, False, True),
        ("problems", None, True, True),
        ("failure", CLEAN, False, False),
        ("failure", WARNED, False, False),
        ("failure", QUARANTINED, False, False),
        ("failure", None, True, True),
        ("failure", CLEAN, True, True),
    ],
)
def test_which_runs_notify(notify_on: str, summary: dict, failed: bool, expected: bool) -> None:
    assert should_notify(notify_on, summary, failed=failed) is expected


def test_title_says_ok_with_warnings_or_failed() -> None:
    assert message(CLEAN, failed=False)[0] == "synthlake refresh 20250101T000000Z-abc: ok"
    assert message(WARNED, failed=False)[0].endswith(": with warnings")
    assert message(QUARANTINED, failed=False)[0].endswith(": with warnings")
    title, body = message(None, failed=True, error="boom", run="clever-fox (1234)")
    assert title == "synthlake refresh clever-fox (1234): FAILED"
    assert "boom" in body


def test_body_is_the_summary_table_and_names_the_problem_rows() -> None:
    title, body = message(
        QUARANTINED | {"outputs": {"summary": "/lake/runs/r/summary.json"}}, failed=False
    )
    assert "### synthlake run 20250101T000000Z-abc" in body
    assert "| translations | verified 5, quarantined 2 |" in body
    assert "**Rows quarantined or failed:** translations: quarantined 2" in body
    assert "Full summary: `/lake/runs/r/summary.json`" in body


def test_failure_body_masks_credentials_and_is_bounded() -> None:
    error = "cannot reach mongodb://admin:hunter2@db:27017/x " + "x" * 5000
    _, body = message(None, failed=True, error=error)
    assert "hunter2" not in body
    assert "mongodb://***@db:27017/x" in body
    assert len(body) < 2500


def test_url_scheme_and_redact_text() -> None:
    assert url_scheme("slack://TokenA/TokenB/TokenC") == "slack://"
    assert url_scheme(" JSON://user:pw@host/hook") == "json://"
    assert url_scheme("TokenA/TokenB") == "(not a URL)"
    assert redact_text("a https://u:p@h/x and ftp://v@w") == "a https://***@h/x and ftp://***@w"


def test_nothing_is_sent_without_urls_or_when_not_due(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    settings = load_settings(lake_root=tmp_path)
    assert settings.notify_urls is None
    assert notify_run(settings, CLEAN, failed=False) is False
    monkeypatch.setenv("SYNTHLAKE_NOTIFY_URLS", "json://127.0.0.1:9/never-called")
    monkeypatch.setenv("SYNTHLAKE_NOTIFY_ON", "failure")
    assert notify_run(load_settings(lake_root=tmp_path), WARNED, failed=False) is False


def test_a_url_apprise_rejects_is_a_warning_naming_only_its_scheme(
    monkeypatch: pytest.MonkeyPatch, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SYNTHLAKE_NOTIFY_URLS", "nosuchservice://s3cr3t-token@example.org/x")
    settings = load_settings(lake_root=tmp_path)
    with caplog.at_level(logging.DEBUG):
        assert notify_run(settings, CLEAN, failed=False) is False
    [warning] = [r for r in caplog.records if r.name == "synthlake.pipeline.notify"]
    assert warning.levelno == logging.WARNING
    assert "notification URL 1/1 (nosuchservice://) was rejected by Apprise" in warning.message
    assert all("s3cr3t-token" not in r.getMessage() for r in caplog.records)


def test_refresh_keeps_its_failure_hooks_as_a_scheduled_flow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.flows import load_flow_from_entrypoint

    from synthlake.pipeline.flows import refresh
    from synthlake.pipeline.schedule import scheduled_flow

    monkeypatch.setenv("SYNTHLAKE_REFRESH_RETRIES", "4")
    for flow in (
        refresh,
        scheduled_flow(load_settings()),
        load_flow_from_entrypoint(
            str(PROJECT_DIR / "synthlake" / "pipeline" / "schedule.py") + ":scheduled_refresh"
        ),
    ):
        assert flow.on_failure_hooks == [notify_failure]
        assert flow.on_crashed_hooks == [notify_failure]


def test_urls_are_split_where_a_new_one_starts(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv(
        "SYNTHLAKE_NOTIFY_URLS",
        "mailtos://u:p@example.org?to=a@x.org,b@y.org, json://127.0.0.1/hook,ntfy://topic",
    )
    assert notify_urls(load_settings(lake_root=tmp_path)) == [
        "mailtos://u:p@example.org?to=a@x.org,b@y.org",
        "json://127.0.0.1/hook",
        "ntfy://topic",
    ]
    monkeypatch.setenv("SYNTHLAKE_NOTIFY_URLS", " ")
    assert notify_urls(load_settings(lake_root=tmp_path)) == []

"""The command line as a person uses it: messages, exit codes, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthlake.cli import app

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "ingest", "build", "export", "doctor", "sql", "llm"):
        assert command in result.output


def test_doctor_does_not_crash_when_things_are_missing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "--lake", str(tmp_path / "none")])
    assert result.exit_code == 0, result.output
    assert "not created yet" in result.output
    assert "MONGODB_URI not set" in result.output
    assert "SYNTHLAKE_DETOXIFY_CHECKPOINT" in result.output


def test_doctor_reports_an_unreachable_mongodb_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://alice:s3cret@127.0.0.1:9/?connectTimeoutMS=200")
    result = runner.invoke(app, ["doctor", "--lake", str(tmp_path)])
    assert result.exit_code == 0
    assert "unreachable" in result.output
    assert "s3cret" not in result.output


def test_doctor_checks_notification_urls_without_showing_their_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHLAKE_NOTIFY_URLS", "json://127.0.0.1:9/t0ken-json")
    result = runner.invoke(app, ["doctor", "--lake", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "json://" in result.output and "t0ken" not in result.output

    monkeypatch.setenv("SYNTHLAKE_NOTIFY_URLS", "nosuchservice://t0ken")
    result = runner.invoke(app, ["doctor", "--lake", str(tmp_path)])
    assert "does not accept" in result.output and "t0ken" not in result.output


def test_build_without_a_lake_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", "--lake", str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert "no lake at" in result.output
    assert "Traceback" not in result.output


def test_unknown_setting_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHLAKE_LLM", "claude:opus")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "SYNTHLAKE_LLM" in result.output and "unknown LLM provider 'claude'" in result.output


def test_ingest_news_then_sql(tmp_path: Path) -> None:
    crawl = tmp_path / "crawl.jsonl"
    crawl.write_text(
        json.dumps(
            {
                "url": "https://www.open.online/2024/01/01/x/",
                "title": "X",
                "date": "1 Gennaio 2024",
                "content": "Testo.",
            }
        )
        + "\n"
    )
    lake = str(tmp_path / "lake")
    result = runner.invoke(app, ["ingest", "news", "--from", str(crawl), "--lake", lake])
    assert result.exit_code == 0, result.output
    assert "1 read, 1 new" in result.output
    assert "event time from text=1, url_path=0, capture=0, none=0" in result.output
    assert runner.invoke(app, ["build", "--lake", lake]).exit_code == 0
    result = runner.invoke(
        app, ["sql", "select outlet, title from stg_news__articles", "--lake", lake]
    )
    assert result.exit_code == 0, result.output
    assert "open" in result.output and "X" in result.output


def test_ingest_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "ingest",
            "news",
            "--from",
            str(tmp_path / "nope.jsonl"),
            "--lake",
            str(tmp_path / "lake"),
        ],
    )
    assert result.exit_code == 1
    assert "input file not found" in result.output and "nope.jsonl" in result.output

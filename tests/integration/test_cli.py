"""The command line as a person uses it: messages, exit codes, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthlake.pipeline.cli import app

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


# --- build: several selectors, as dbt takes them ------------------------------------------


def warehouse_tables(lake: Path) -> set[str]:
    import duckdb

    with duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select table_name from information_schema.tables").fetchall()
    return {row[0] for row in rows}


@pytest.mark.parametrize(
    "select",
    [
        ["--select", "llm_prices", "target_languages"],  # space-separated after one --select
        ["--select", "llm_prices", "-s", "target_languages"],  # the option repeated
    ],
    ids=["after-one-select", "repeated"],
)
def test_build_takes_several_selectors(tmp_path: Path, select: list[str]) -> None:
    from synthlake.lake import Lake

    lake = Lake(tmp_path / "lake").ensure().root
    result = runner.invoke(app, ["build", *select, "--lake", str(lake)])
    assert result.exit_code == 0, result.output
    tables = warehouse_tables(lake)
    assert {"llm_prices", "target_languages"} <= tables
    assert "news_outlets" not in tables  # only what was selected was built


def test_selectors_without_select_are_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", "llm_prices", "--lake", str(tmp_path)])
    assert result.exit_code == 2
    assert "selectors go after --select" in " ".join(result.output.split())


# --- doctor: the next command for each missing part ----------------------------------------


def next_steps(output: str) -> list[str]:
    assert "Next steps" in output, output
    return [line.strip() for line in output.split("Next steps", 1)[1].splitlines()[1:]]


def test_doctor_ends_with_the_next_command_for_each_missing_part(tmp_path: Path) -> None:
    lake = tmp_path / "none"
    result = runner.invoke(app, ["doctor", "--lake", str(lake)])
    assert result.exit_code == 0, result.output
    steps = next_steps(result.stdout)
    assert f"lake (files): synthlake run --lake {lake}" in steps
    assert any(
        s.startswith("toxicity (detoxify:multilingual): synthlake models pull detoxify")
        for s in steps
    ), steps
    [mongo] = [s for s in steps if s.startswith("export (MongoDB): ")]
    assert "export SYNTHLAKE_MONGODB_URI='mongodb://" in mongo
    assert "synthlake export mongo" in mongo
    assert not any(s.startswith("llm") for s in steps)  # the bundled model is there


def test_doctor_names_the_setting_of_the_stage_whose_provider_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fixtures.llm_servers import OpenAICompatServer
    from tests.fixtures.mongo import free_port

    closed = f"http://127.0.0.1:{free_port()}/v1"
    monkeypatch.setenv("SYNTHLAKE_LLM_JUDGE", f"openai:judge-model@{closed}")
    with OpenAICompatServer(model="served-model") as server:
        base_url = server.base_url
        monkeypatch.setenv("SYNTHLAKE_LLM", f"openai:absent-model@{base_url}")
        result = runner.invoke(app, ["doctor", "--lake", str(tmp_path)])
    assert result.exit_code == 0, result.output
    steps = next_steps(result.stdout)
    # the judge has its own setting, and its server is not there
    assert "llm (judge): export SYNTHLAKE_LLM_JUDGE=openai:MODEL@http://HOST:PORT/v1" in " ".join(
        steps
    )
    # the other two stages share SYNTHLAKE_LLM; the server serves another model: one line
    assert (
        f"llm (summarize), llm (translate): export SYNTHLAKE_LLM=openai:served-model@{base_url}"
    ) in steps


def test_doctor_finds_detoxify_weights_pulled_into_the_model_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what `synthlake models pull detoxify` leaves (synthlake/quality/detoxify_pull.py)
    cache = tmp_path / "model-cache"
    folder = cache / "detoxify" / "multilingual"
    (folder / "base").mkdir(parents=True)
    (folder / "base" / "config.json").write_text("{}")
    (folder / "multilingual_debiased-0b549669.ckpt").write_bytes(b"weights")
    (folder / "pulled.json").write_text(
        json.dumps({"checkpoint": "multilingual_debiased-0b549669.ckpt"})
    )
    monkeypatch.setenv("SYNTHLAKE_MODEL_CACHE", str(cache))
    result = runner.invoke(app, ["doctor", "--lake", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert not any(s.startswith("toxicity") for s in next_steps(result.stdout))

    from synthlake.pipeline.doctor import run_checks
    from synthlake.settings import load_settings

    [check] = [c for c in run_checks(load_settings(lake_root=tmp_path)) if c.stage == "toxicity"]
    assert check.ok and check.detail.endswith("multilingual_debiased-0b549669.ckpt"), check

"""`synthlake run` on the bundled sample, in a temporary lake, as a user runs it.

The expected rows are computed here from the sample files themselves (plain json reading,
independent of synthlake's import code), so the test checks the pipeline against the input,
not against a number copied from a previous run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from synthlake.settings import PROJECT_DIR as REPO

SAMPLE = REPO / "data" / "sample"

pytestmark = pytest.mark.slow


def expected_news() -> dict[str, dict]:
    articles: dict[str, dict] = {}
    for line in (SAMPLE / "news" / "articles.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if any(p.strip() for p in record.get("body") or []):
            articles.setdefault(record["url"], record)
    return articles


def expected_instructions() -> tuple[list[dict], list[dict]]:
    slim = [
        json.loads(line)
        for line in (SAMPLE / "hf" / "slimorca_sample.jsonl").read_text().splitlines()
        if line.strip()
    ]
    hermes = json.loads((SAMPLE / "hf" / "openhermes_sample.json").read_text())
    slim_ok = [r for r in slim if any(t["from"] == "gpt" for t in r["conversations"])]
    hermes_ok = [r for r in hermes if r.get("output")]
    return slim_ok, hermes_ok


def run_cli(lake: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHLAKE_")}
    env["SYNTHLAKE_LAKE_ROOT"] = str(lake)
    return subprocess.run(
        [sys.executable, "-m", "synthlake.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("e2e") / "lake"
    result = run_cli(lake, "run")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return lake


def rows(lake: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_news_staging_matches_the_sample(sample_run: Path) -> None:
    expected = expected_news()
    got = {
        url: (outlet, title, tags, published)
        for url, outlet, title, tags, published in rows(
            sample_run, "select url, outlet, title, tags, published_at from stg_news__articles"
        )
    }
    assert set(got) == set(expected)
    for url, record in expected.items():
        outlet, title, tags, published = got[url]
        assert outlet == record["outlet"]
        assert title == " ".join(record["title"].split())
        want_tags = (
            record["tags"]
            if isinstance(record["tags"], list)
            else [t.strip() for t in record["tags"].split(",")]
        )
        assert tags == want_tags
        assert published is not None and published.tzinfo is not None
    bodies = dict(rows(sample_run, "select url, content from stg_news__articles"))
    for url, record in expected.items():
        assert bodies[url] == "\n\n".join(" ".join(p.split()) for p in record["body"])


def test_instruction_staging_matches_the_sample(sample_run: Path) -> None:
    slim_ok, hermes_ok = expected_instructions()
    counts = dict(
        rows(sample_run, "select source_dataset, count(*) from stg_hf__instructions group by all")
    )
    assert counts == {"Open-Orca/SlimOrca": len(slim_ok), "teknium/openhermes": len(hermes_ok)}
    inputs = {
        i: o
        for i, o in rows(
            sample_run,
            "select instruction, input from stg_hf__instructions where input is not null",
        )
    }
    assert inputs == {r["instruction"]: r["input"] for r in hermes_ok if r["input"]}
    multi = rows(sample_run, "select count(*) from stg_hf__instructions where is_multi_turn")
    assert multi == [
        (sum(1 for r in slim_ok if sum(t["from"] == "human" for t in r["conversations"]) > 1),)
    ]


def test_bad_rows_are_visible_with_reasons(sample_run: Path) -> None:
    reasons = dict(
        rows(sample_run, "select reason, count(*) from stg_ingest__rejects group by all")
    )
    assert reasons == {
        "duplicate_url": 1,
        "empty_content": 1,
        "no_assistant_turn": 1,
        "missing_output": 1,
    }


def test_outputs_and_summary_are_written(sample_run: Path) -> None:
    assert (sample_run / "exports" / "news_articles.parquet").is_file()
    assert (sample_run / "exports" / "instructions.parquet").is_file()
    summaries = list((sample_run / "runs").glob("*/summary.json"))
    assert len(summaries) == 1
    summary = json.loads(summaries[0].read_text())
    assert summary["tables"]["stg_news__articles"] == len(expected_news())


def test_rerun_adds_nothing(sample_run: Path) -> None:
    raw_before = sorted(p.relative_to(sample_run) for p in (sample_run / "raw").rglob("*.parquet"))
    result = run_cli(sample_run, "run")
    assert result.returncode == 0, result.stderr[-3000:]
    raw_after = sorted(p.relative_to(sample_run) for p in (sample_run / "raw").rglob("*.parquet"))
    assert raw_after == raw_before
    assert rows(sample_run, "select count(*) from stg_news__articles") == [(len(expected_news()),)]

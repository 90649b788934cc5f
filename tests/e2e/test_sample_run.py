"""`synthlake run` on the bundled sample, in a temporary lake, as a user runs it.

The expected rows are computed here from the sample files themselves (plain json reading,
independent of synthlake's import code), so the test checks the pipeline against the input,
not against a number copied from a previous run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import SAMPLE, SampleRun, raw_files, rows, uncached_llm_calls

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


@pytest.fixture(scope="module")
def lake(sample_run: SampleRun) -> Path:
    return sample_run.lake


def test_news_staging_matches_the_sample(lake: Path) -> None:
    expected = expected_news()
    got = {
        url: (outlet, title, tags, published)
        for url, outlet, title, tags, published in rows(
            lake, "select url, outlet, title, tags, published_at from stg_news__articles"
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
    bodies = dict(rows(lake, "select url, content from stg_news__articles"))
    for url, record in expected.items():
        assert bodies[url] == "\n\n".join(" ".join(p.split()) for p in record["body"])


def test_instruction_staging_matches_the_sample(lake: Path) -> None:
    slim_ok, hermes_ok = expected_instructions()
    counts = dict(
        rows(lake, "select source_dataset, count(*) from stg_hf__instructions group by all")
    )
    assert counts == {"Open-Orca/SlimOrca": len(slim_ok), "teknium/openhermes": len(hermes_ok)}
    inputs = {
        i: o
        for i, o in rows(
            lake,
            "select instruction, input from stg_hf__instructions where input is not null",
        )
    }
    assert inputs == {r["instruction"]: r["input"] for r in hermes_ok if r["input"]}
    multi = rows(lake, "select count(*) from stg_hf__instructions where is_multi_turn")
    assert multi == [
        (sum(1 for r in slim_ok if sum(t["from"] == "human" for t in r["conversations"]) > 1),)
    ]


def test_bad_rows_are_visible_with_reasons(lake: Path) -> None:
    reasons = dict(rows(lake, "select reason, count(*) from stg_ingest__rejects group by all"))
    assert reasons == {
        "duplicate_url": 1,
        "empty_content": 1,
        "no_assistant_turn": 1,
        "missing_output": 1,
    }


def test_outputs_and_summary_are_written(lake: Path) -> None:
    assert (lake / "exports" / "news_articles.parquet").is_file()
    assert (lake / "exports" / "instructions.parquet").is_file()
    summaries = sorted((lake / "runs").glob("*/summary.json"))
    assert len(summaries) == 2  # the run and the rerun
    summary = json.loads(summaries[-1].read_text())
    assert summary["tables"]["stg_news__articles"] == len(expected_news())
    assert summary["tables"]["qa_pairs"] == rows(lake, "select count(*) from qa_pairs")[0][0]
    judged = dict(rows(lake, "select judge_status, count(*) from int_qa_judgements group by 1"))
    assert summary["stages"]["judgements"] == judged
    # Detoxify has no weights here: the summary says so and how to enable it
    assert any("SYNTHLAKE_DETOXIFY_CHECKPOINT" in w for w in summary["warnings"])


def test_rerun_adds_nothing_and_calls_no_llm(sample_run: SampleRun) -> None:
    lake = sample_run.lake
    assert raw_files(lake) == sample_run.first["raw_files"]
    assert rows(lake, "select count(*) from stg_news__articles") == [(len(expected_news()),)]
    assert rows(lake, "select qa_id from news_qa order by qa_id") == sample_run.first["news_qa"]
    # every LLM stage ran in the first run; the rerun answered everything from what is stored
    assert set(sample_run.first["llm_calls"]) >= {"summarize", "translate", "judge"}
    assert uncached_llm_calls(lake) == sample_run.first["llm_calls"]
    assert rows(lake, "select count(*) from int_instructions_translated") == [
        (sample_run.first["translations"],)
    ]
    assert rows(lake, "select count(*) from int_qa_judgements") == [
        (sample_run.first["judgements"],)
    ]
    # nothing new was ingested, so the rerun did not rebuild the warehouse at all
    latest = json.loads(sorted((lake / "runs").glob("*/summary.json"))[-1].read_text())
    assert latest["outputs"]["dbt build"].startswith("skipped: nothing changed")

"""The run summary: the plumbing-check block, time and memory per stage, slowest models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from synthlake.pipeline.run_summary import (
    CAPABLE_MODELS,
    RunSummary,
    plumbing_notice,
    render,
    slowest_models,
)
from synthlake.settings import PROJECT_DIR

EMBEDDED = {"summarize": "local:smollm2", "translate": "local:smollm2", "judge": "local:smollm2"}
OLLAMA = {stage: "openai:llama3.1:8b@http://127.0.0.1:11434/v1" for stage in EMBEDDED}


def outcome(llm: dict[str, str], *, news_qa: int, verified: int, judged_ok: int) -> RunSummary:
    summary = RunSummary(run_id="20261205T101500Z-ab12", lake_root="/lake", started_at="x")
    summary.llm = dict(llm)
    summary.tables = {"news_clusters": 8, "news_qa": news_qa, "qa_pairs": 30 + news_qa}
    summary.stages = {
        "translations": {"quarantined": 8 - verified, "verified": verified},
        "judgements": {"ok": judged_ok, "quarantined": 20 - judged_ok},
    }
    return summary


def printed(summary: RunSummary, capsys: pytest.CaptureFixture[str]) -> list[str]:
    render(summary)
    return [line for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_embedded_model_that_made_nothing_usable_opens_the_summary_with_the_block(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = printed(outcome(EMBEDDED, news_qa=0, verified=0, judged_ok=3), capsys)
    assert lines[0] == "This run was a plumbing check, not a dataset."
    text = "\n".join(lines)
    assert "0 news QA pairs, 0 verified translations" in text
    assert "set SYNTHLAKE_LLM to a capable model" in lines[4]
    # the three ways to a capable model, each on a line of its own, whole (copy-pasteable)
    for name, setting in CAPABLE_MODELS:
        assert any(setting in line and name in line for line in lines[5:8])
    assert "http://127.0.0.1:11434/v1" in lines[5]
    # then the usual table
    assert any("synthlake run 20261205T101500Z-ab12" in line for line in lines[8:])


@pytest.mark.parametrize(
    ("llm", "news_qa", "verified"),
    [
        (OLLAMA, 6, 5),  # a capable model: QA pairs and verified translations
        (OLLAMA, 0, 0),  # a capable model that made nothing: not "a plumbing check"
        (EMBEDDED, 0, 2),  # the embedded model got some translations through
        (EMBEDDED, 1, 0),
    ],
)
def test_no_block_when_the_outcome_is_not_an_empty_embedded_run(
    llm: dict[str, str], news_qa: int, verified: int, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = outcome(llm, news_qa=news_qa, verified=verified, judged_ok=12)
    assert plumbing_notice(summary) == []
    text = "\n".join(printed(summary, capsys))
    assert "plumbing check" not in text and "SYNTHLAKE_LLM=" not in text


def test_no_block_when_no_llm_stage_had_anything_to_do() -> None:
    summary = outcome(EMBEDDED, news_qa=0, verified=0, judged_ok=0)
    summary.tables = {"news_clusters": 0, "news_qa": 0}
    summary.stages = {}
    assert plumbing_notice(summary) == []


def test_the_block_gives_the_readme_lines() -> None:
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split("### LLM providers", 1)[1].split("\n#", 1)[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    settings = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    for name, setting in CAPABLE_MODELS:
        assert setting in settings, f"{name}: {setting!r} is not in README's LLM providers"


def test_slowest_models_come_from_dbt_run_results(tmp_path: Path) -> None:
    results = [
        ("model.synthlake.int_news_summaries_generated", 61.25),
        ("test.synthlake.not_null_news_qa_qa_id.1a2b", 99.0),  # a test, not a model
        ("model.synthlake.stg_news__articles", 0.4),
        ("model.synthlake.int_instructions_translated", 48.0),
        ("seed.synthlake.target_languages", 30.0),
        ("model.synthlake.int_qa_judgements", 52.5),
    ]
    (tmp_path / "run_results.json").write_text(
        json.dumps(
            {
                "results": [
                    {"unique_id": uid, "execution_time": t, "status": "success"}
                    for uid, t in results
                ]
            }
        )
    )
    top = slowest_models(tmp_path, top=3)
    assert [(m["model"], m["seconds"]) for m in top] == [
        ("int_news_summaries_generated", 61.25),
        ("int_qa_judgements", 52.5),
        ("int_instructions_translated", 48.0),
    ]
    assert slowest_models(tmp_path / "missing") == []


RSS_PROBE = """
import json
from synthlake.pipeline.run_summary import RunSummary
summary = RunSummary(run_id="r1", lake_root="/lake", started_at="x")
summary.record_stage("ingest", 1.0)
block = bytearray(128 * 2**20)  # 128 MiB touched: the high-water mark moves
block[::4096] = b"x" * len(block[::4096])
summary.record_stage("dbt build", 2.0)
print(json.dumps([summary.peak_rss_mb[s]["self"] for s in ("ingest", "dbt build")]))
"""


def test_each_stage_records_its_seconds_and_the_peak_memory_after_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The high-water mark only moves in a process that has not peaked higher before, so the
    # 128 MiB step is measured in a fresh interpreter. Through a shell that forks it: Linux
    # keeps a process's peak RSS across exec, so a direct child of this (big) test process
    # would start at this process's peak.
    probe = subprocess.run(
        ["sh", "-c", '"$0" -c "$1"; exit $?', sys.executable, RSS_PROBE],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    before, after = json.loads(probe.stdout)
    assert before > 0 and after >= before + 64
    summary = RunSummary(run_id="r1", lake_root="/lake", started_at="x")
    summary.record_stage("ingest", 1.234)
    summary.record_stage("dbt build", 75.0)
    after = summary.peak_rss_mb["dbt build"]["self"]
    assert after >= summary.peak_rss_mb["ingest"]["self"] > 0
    assert summary.seconds == {"ingest": 1.23, "dbt build": 75.0}
    saved = summary.as_dict()
    assert saved["peak_rss_mb"]["dbt build"]["self"] == after
    assert set(saved["peak_rss_mb"]["dbt build"]) == {"self", "children"}
    text = "\n".join(printed(summary, capsys))
    assert "time: ingest 1.2 s, dbt build 1 min 15 s; peak RSS" in text


def test_models_milliseconds_apart_keep_dbts_order(tmp_path: Path) -> None:
    # both round to 2.80 s; the slower one is listed second by dbt (build order)
    (tmp_path / "run_results.json").write_text(
        json.dumps(
            {
                "results": [
                    {
                        "unique_id": "model.synthlake.int_news_article_embeddings",
                        "execution_time": 2.8012,
                    },
                    {
                        "unique_id": "model.synthlake.int_instructions_language_checked",
                        "execution_time": 2.8031,
                    },
                ]
            }
        )
    )
    top = slowest_models(tmp_path)
    assert [m["model"] for m in top] == [
        "int_instructions_language_checked",
        "int_news_article_embeddings",
    ]
    assert [m["seconds"] for m in top] == [2.8, 2.8]

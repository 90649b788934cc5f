"""What `synthlake run` shows and keeps, on the shared sample run (tests/e2e/conftest.py).

The run's stdout and stderr are not a terminal here, so the live display degrades to
plain lines: a quiet success is the stage lines and the summary, not one line per dbt
node; the node lines are in the run folder's run.log.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from synthlake.pipeline.run_summary import CAPABLE_MODELS
from tests.e2e.conftest import SampleRun, rows

pytestmark = pytest.mark.slow

# a dbt node's result line in run.log, e.g. "prefect.task_runs [model news_qa]: 12 of 485 OK
# created sql table model main.news_qa [OK in 0.41s]"; START lines are its beginning
NODE_DONE = re.compile(r"prefect\.task_runs(?: \[[^\]]+\])?: \d+ of (\d+) (?!START)(\S+) (?!hook:)")


def first_run_folder(lake: Path) -> Path:
    return sorted((lake / "runs").glob("*/summary.json"))[0].parent


def test_a_quiet_run_prints_a_few_lines_not_one_per_dbt_node(sample_run: SampleRun) -> None:
    printed = sample_run.first["stdout"] + sample_run.first["stderr"]
    lines = printed.splitlines()
    assert len(lines) <= 60, printed
    assert "Finished in state" not in printed  # Prefect's task states stay in Prefect
    assert not re.search(r"\d+ of \d+ (START|OK|PASS)", printed)  # dbt's node lines
    assert re.search(r"^dbt build: (\d+)/\1 nodes \(", printed, re.MULTILINE)  # its stage line


def test_the_run_log_holds_every_dbt_node_line(sample_run: SampleRun) -> None:
    log = (first_run_folder(sample_run.lake) / "run.log").read_text(encoding="utf-8")
    done = NODE_DONE.findall(log)
    assert done, log[-3000:]
    total = int(done[0][0])
    assert len(done) == total  # one result line per node
    assert {status for _, status in done} <= {"OK", "PASS", "WARN"}
    assert "\x1b[" not in log
    assert "llm summarize" in log  # the LLM runner's own lines too


def test_the_summary_says_the_first_run_was_a_plumbing_check(sample_run: SampleRun) -> None:
    # the sample run's embedded SmolLM2-135M makes nothing usable: said first, with the fix
    assert rows(sample_run.lake, "select count(*) from news_qa") == [(0,)]
    out = sample_run.first["stdout"].splitlines()
    assert out[0] == "This run was a plumbing check, not a dataset."
    block = "\n".join(out[:9])
    for _, setting in CAPABLE_MODELS:
        assert setting in block
    assert "synthlake run " in "\n".join(out[9:])  # the table follows


def test_summary_json_has_time_and_memory_per_stage(sample_run: SampleRun) -> None:
    folder = first_run_folder(sample_run.lake)
    summary = json.loads((folder / "summary.json").read_text())
    stages = ["crawl", "ingest", "dbt build", "export", "report"]
    assert list(summary["seconds"]) == stages
    assert all(summary["seconds"][s] > 0 for s in stages)
    peaks = [summary["peak_rss_mb"][s]["self"] for s in stages]
    assert peaks == sorted(peaks) and peaks[0] > 50  # a high-water mark only grows
    # the slowest models of the build, from dbt's run_results.json
    times = {
        r["unique_id"].split(".", 2)[-1]: r["execution_time"]
        for r in sample_run.first["run_results"]["results"]
        if r["unique_id"].startswith("model.")
    }
    slowest = summary["slowest_models"]
    assert len(slowest) == 5
    assert [m["model"] for m in slowest] == sorted(times, key=lambda m: -times[m])[:5]
    assert summary["outputs"]["log"] == str(folder / "run.log")

"""A provider that refuses every call never shrinks the dataset for good, and never leaks.

The repro of the worst finding: `synthlake run` on the sample profile against an
OpenAI-compatible gateway that answers 401 to a wrong key (and echoes that key in its
error body, as some gateways do), then the key is fixed and a *plain* `synthlake run`
follows. The first run must fail with a non-zero exit and one message naming the provider,
the failure and the setting to fix; the second must end with exactly the rows, splits and
training snapshot of a clean run. Nothing of the wrong key, nor of a MongoDB password in
the settings, may be anywhere in the lake or in what the runs printed.

Every run also has a MongoDB that is down: the training export and the report of a run
must not depend on it (the run still exits non-zero, naming MongoDB).

The gateway is the scripted OpenAI-compatible server (real HTTP, the real openai SDK),
answering like a capable model: a score line for the judge, an Italian integrated text for
summaries, and a fixed text for translations (which verification quarantines: content).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.e2e.conftest import cli, rows
from tests.fixtures.llm_servers import OpenAICompatServer
from tests.integration.news_integration.conftest import italian_summary

pytestmark = pytest.mark.slow

GOOD_KEY = "sk-good-0123456789abcdef"
WRONG_KEY = "sk-test-SECRET123"
MONGO_PASSWORD = "m0ngo-Pa55word-xyz"


def capable_model(body: dict) -> str:
    user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    if "<response>" in body["messages"][1]["content"]:
        return "4\nAccurate and complete for the question asked."
    if "Titolo:" in user or "Title:" in user:
        return italian_summary(body)
    return "Translated text."


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def outcome(lake: Path) -> dict:
    manifest = json.loads((lake / "exports" / "training" / "manifest.json").read_text())
    return {
        "snapshot_id": manifest["snapshot_id"],
        "counts": manifest["counts"],
        "splits": rows(lake, "select qa_id, split from exp_train__sft order by qa_id"),
        "qa_pairs": rows(lake, "select qa_id, answer from qa_pairs order by qa_id"),
        "judged": rows(
            lake,
            "select judgement_id, judge_status, score from int_qa_judgements order by judgement_id",
        ),
        "summaries": rows(lake, "select qa_id from int_news_summaries_generated order by 1"),
        "translations": rows(
            lake, "select translation_id, status from int_instructions_translated order by 1"
        ),
    }


def every_file_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_401_run_fails_loudly_and_the_fixed_run_equals_a_clean_one(tmp_path) -> None:
    mongo_port = closed_port()
    mongo = f"mongodb://synth:{MONGO_PASSWORD}@127.0.0.1:{mongo_port}/"
    with OpenAICompatServer(reply=capable_model, api_key=GOOD_KEY) as server:
        llm = {
            "SYNTHLAKE_LLM": f"openai:gpt-4o-mini@{server.base_url}",
            "SYNTHLAKE_MONGODB_URI": mongo,  # a MongoDB that is down (issue 16 §4, below)
            "SYNTHLAKE_MONGODB_TIMEOUT_S": "0.5",
        }
        clean = cli(tmp_path / "clean", "run", "--news", "none", **llm, OPENAI_API_KEY=GOOD_KEY)
        reference = outcome(tmp_path / "clean")
        assert reference["summaries"] and reference["counts"]["total"] > 0

        lake = tmp_path / "lake"
        calls_before = server.call_count
        broken = cli(lake, "run", "--news", "none", **llm, OPENAI_API_KEY=WRONG_KEY)
        refused = server.call_count - calls_before
        fixed = cli(lake, "run", "--news", "none", **llm, OPENAI_API_KEY=GOOD_KEY)

    # The outputs of a run are independent: MongoDB down cost neither the training export
    # nor the report of the clean run, which still exits non-zero naming MongoDB only.
    assert clean.returncode == 1, clean.stderr[-3000:]
    assert "MongoDB export to" in clean.stderr and f"127.0.0.1:{mongo_port}" in clean.stderr
    (summary_path,) = (tmp_path / "clean").glob("runs/*/summary.json")
    outputs = json.loads(summary_path.read_text())["outputs"]
    assert outputs["mongodb"].startswith("FAILED: MongoDB export to")
    assert not outputs["training"].startswith("FAILED") and Path(outputs["report"]).is_file()

    printed = broken.stdout + broken.stderr
    assert broken.returncode != 0
    assert "auth_error" in printed and "OPENAI_API_KEY" in printed
    assert "openai:gpt-4o-mini" in printed
    # the runner stops calling a provider that refuses everyone: a few calls per stage
    assert 0 < refused <= 3 * 8  # 3 stages, at most SYNTHLAKE_LLM_CONCURRENCY in flight

    # the fixed run differs from the clean one only by MongoDB being down for both
    assert fixed.returncode == 1 and "MongoDB export to" in fixed.stderr, fixed.stderr[-3000:]
    assert "dbt build skipped" not in fixed.stdout + fixed.stderr
    assert outcome(lake) == reference

    # the wrong key and the MongoDB password are nowhere: not in the lakes (raw tables, the
    # warehouse, the LLM cache, dbt's logs, summaries, run logs, the report) nor printed
    for secret in (WRONG_KEY, MONGO_PASSWORD):
        for run in (clean, broken, fixed):
            assert secret not in run.stdout + run.stderr
        for root in (lake, tmp_path / "clean"):
            leaks = [p for p in every_file_under(root) if secret.encode() in p.read_bytes()]
            assert leaks == [], f"{secret} found in {leaks}"

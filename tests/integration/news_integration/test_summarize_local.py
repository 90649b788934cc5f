"""The recursion with the real local model (SmolLM2-135M) and a token budget this small."""

from __future__ import annotations

import pytest

from synthlake.lake import Lake
from synthlake.llm.runner import LLMRunner
from synthlake.news_integration.summarize import Summarizer, SummaryConfig
from synthlake.settings import load_settings
from tests.integration.news_integration.test_summarize import cluster_of

pytestmark = pytest.mark.slow


def test_the_local_model_summarizes_the_parts_then_the_summaries(
    tmp_path, fixture_articles
) -> None:
    table, vectors = fixture_articles
    settings = load_settings(
        lake_root=tmp_path / "lake",
        llm_summarize="local:smollm2",
        news_summary_context_tokens=760,
        news_summary_source_tokens=110,
        news_summary_max_new_tokens=24,
    )
    mixed = cluster_of(table, vectors, ["f01", "f08"], "mixed")
    runner = LLMRunner(settings, stage="summarize")
    run = Summarizer(runner, SummaryConfig.from_settings(settings)).summarize([mixed])

    calls = Lake.from_settings(settings).read_raw("llm_calls").to_pylist()
    first_level = sorted(c["row_id"] for c in calls if c["row_id"].startswith("mixed:1."))
    assert first_level == ["mixed:1.1", "mixed:1.2"]  # split in two parts, each summarized
    assert all(c["provider"] == "local" and c["tokens_out"] <= 24 for c in calls)
    if run.rows.num_rows:
        [row] = run.rows.to_pylist()
        assert (row["recursion_depth"], row["n_llm_calls"]) == (2, 3)
        assert [c["row_id"] for c in calls][-1] == "mixed"  # the summaries, summarized
        assert row["answer"].strip()
    else:
        # a 135M model may write something invalid at either level: then the cluster is
        # quarantined with the reason, and nothing is stored
        assert run.failures
        assert all(f.reason == "invalid_output" for f in run.failures)
        quarantined = Lake.from_settings(settings).read_raw("llm_failures").to_pylist()
        assert sorted(f["row_id"] for f in quarantined) == sorted(f.row_id for f in run.failures)
        assert all(f["row_id"].startswith("mixed") for f in quarantined)

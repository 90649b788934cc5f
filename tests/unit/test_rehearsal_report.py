"""How the rehearsal splits a run's time into LLM and non-LLM work (bench/rehearsal.py)."""

from __future__ import annotations

from bench.rehearsal import llm_only_seconds


def model(name: str, start: float, end: float) -> dict:
    return {"model": name, "seconds": end - start, "window": (start, end)}


def test_llm_time_beside_other_models_is_not_subtracted_from_the_non_llm_time() -> None:
    models = [
        model("int_instructions_language_checked", 0.0, 200.0),
        # beside the check: none of its 80 s is the provider's alone
        model("int_instructions_translated", 10.0, 90.0),
        # the judge overlaps the check's last 20 s, then runs alone for 15 s
        model("int_qa_judgements", 180.0, 215.0),
        model("int_news_summaries_generated", 230.0, 250.0),  # alone
        model("stg_hf__instructions", 240.0, 245.0),  # 5 s of it shared
    ]
    assert llm_only_seconds(models) == 15.0 + 15.0


def test_overlapping_llm_models_count_once_and_models_without_a_window_are_skipped() -> None:
    models = [
        model("int_instructions_translated", 0.0, 50.0),
        model("int_qa_judgements", 40.0, 60.0),
        {"model": "int_news_summaries_generated", "seconds": 9.0, "window": None},
    ]
    assert llm_only_seconds(models) == 60.0

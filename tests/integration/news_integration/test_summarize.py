"""Summaries through the real LLM runner and the OpenAI-compatible test server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from synthlake.errors import LLMStageFailed, SettingsError
from synthlake.lake import Lake
from synthlake.llm.retry import RetryPolicy
from synthlake.llm.runner import LLMRunner
from synthlake.llm.types import LLMRequest
from synthlake.llm.unfinished import unfinished_rows
from synthlake.news_integration.summarize import (
    Cluster,
    Source,
    Summarizer,
    SummaryConfig,
    bisect_by_similarity,
    summarize_cluster_sources,
)
from synthlake.settings import load_settings
from tests.fixtures.llm_servers import Fault, OpenAICompatServer

NO_WAIT = RetryPolicy(max_retries=0, base_s=0.01, cap_s=0.01, max_total_s=1)


def settings_for(tmp_path: Path, server: OpenAICompatServer, **more):
    return load_settings(
        lake_root=tmp_path / "lake",
        llm_summarize=f"openai:test-model@{server.base_url}",
        llm_max_retries=0,
        llm_timeout_s=10,
        **more,
    )


def cluster_of(table: pa.Table, vectors: np.ndarray, stories: list[str], cid: str) -> Cluster:
    rows = [i for i, s in enumerate(table.column("story_id").to_pylist()) if s in stories]
    # interleave the stories in time, so that splitting "in halves" would mix them
    rows.sort(key=lambda i: (table.column("published_at")[i].as_py(), i))
    by_story: dict[str, list[int]] = {}
    for i in rows:
        by_story.setdefault(table.column("story_id")[i].as_py(), []).append(i)
    order = [i for group in zip(*by_story.values(), strict=False) for i in group]
    return Cluster(
        cid,
        [
            Source(
                article_id=table.column("id")[i].as_py(),
                title=table.column("title")[i].as_py(),
                content=table.column("content")[i].as_py(),
                vector=vectors[i],
                subtitle=table.column("subtitle")[i].as_py(),
            )
            for i in order
        ],
    )


def test_one_call_per_cluster_that_fits(tmp_path, summary_server, fixture_articles) -> None:
    table, vectors = fixture_articles
    settings = settings_for(tmp_path, summary_server)
    runner = LLMRunner(settings, stage="summarize", retry=NO_WAIT)
    clusters = [cluster_of(table, vectors, [s], s) for s in ("f01", "f02", "f08")]
    run = Summarizer(runner, SummaryConfig.from_settings(settings)).summarize(clusters)
    rows = {r["cluster_id"]: r for r in run.rows.to_pylist()}
    assert set(rows) == {"f01", "f02", "f08"} and run.failures == []
    assert summary_server.call_count == 3
    f01 = rows["f01"]
    assert (f01["recursion_depth"], f01["n_llm_calls"], f01["language"]) == (1, 1, "it")
    assert f01["question"].startswith("Dati i titoli e i contenuti di più articoli")
    assert f01["question"].count("Titolo: ") == 3 and "<sources>" not in f01["question"]
    assert f01["answer"].startswith("Sintesi integrata di 3 articoli")
    assert f01["source_article_ids"] == [s.article_id for s in clusters[0].sources]
    assert (f01["provider"], f01["model"]) == ("openai", "test-model")


def test_a_cluster_over_the_budget_is_split_by_similarity_and_merged(
    tmp_path, summary_server, fixture_articles
) -> None:
    table, vectors = fixture_articles
    settings = settings_for(
        tmp_path,
        summary_server,
        news_summary_context_tokens=700,
        news_summary_source_tokens=110,
        news_summary_max_new_tokens=64,
    )
    runner = LLMRunner(settings, stage="summarize", retry=NO_WAIT)
    mixed = cluster_of(table, vectors, ["f01", "f08"], "mixed")
    bus = {s.title for s in mixed.sources[0::2]}
    fire = {s.title for s in mixed.sources[1::2]}
    run = Summarizer(runner, SummaryConfig.from_settings(settings)).summarize([mixed])

    [row] = run.rows.to_pylist()
    requests = [r.body for r in summary_server.generation_requests()]
    assert row["recursion_depth"] == 2 and row["n_llm_calls"] == len(requests) == 3
    first_level = [_user(b) for b in requests[:2]]
    # each part holds one story's articles: split by similarity, not by position
    assert {frozenset(_titles(u)) for u in first_level} == {frozenset(bus), frozenset(fire)}
    final = _user(requests[2])
    # the same instruction and output cue at every level; the inputs are the part summaries
    instruction = first_level[0].split("\n\n")[0]
    assert final.startswith(instruction) and final.endswith("Testo integrato:")
    assert final.count("Contenuto: Sintesi integrata di 3 articoli") == 2
    assert row["answer"].startswith("Sintesi integrata di 2 articoli")
    # the question shows every source once, as the model would have seen it in one call
    assert row["question"].count("Titolo: ") == 6
    for body in requests:
        assert body["max_tokens"] == 64

    # a rerun is answered from the LLM cache: no request reaches the server
    again = Summarizer(
        LLMRunner(settings, stage="summarize", retry=NO_WAIT), SummaryConfig.from_settings(settings)
    ).summarize([mixed])
    assert summary_server.call_count == 3
    assert again.rows.column("answer").to_pylist() == [row["answer"]]


def test_invalid_summaries_are_quarantined_not_stored(
    tmp_path, summary_server, fixture_articles
) -> None:
    table, vectors = fixture_articles
    settings = settings_for(tmp_path, summary_server)

    def reply(body) -> str:
        user = _user(body)
        if "Prato" in user:
            return "A fire destroyed a textile warehouse in Prato; nobody was hurt at all."
        if "Etna" in user:
            return user  # the prompt echoed back
        return "Testo integrato:"  # only the cue: nothing

    summary_server.reply_fn = reply
    clusters = [cluster_of(table, vectors, [s], s) for s in ("f08", "f02", "f01")]
    runner = LLMRunner(settings, stage="summarize", retry=NO_WAIT)
    run = Summarizer(runner, SummaryConfig.from_settings(settings)).summarize(clusters)
    assert run.rows.num_rows == 0
    failures = Lake.from_settings(settings).read_raw("llm_failures").to_pylist()
    reasons = {f["row_id"]: f["detail"].split(":")[0] for f in failures}
    assert reasons == {"f08": "wrong_language", "f02": "prompt_echo", "f01": "empty_output"}
    assert {f["reason"] for f in failures} == {"invalid_output"}
    assert all(f["stage"] == "summarize" and f["raw_text"] is not None for f in failures)

    # the next run retries them; the same (cached) answers fail the same way and are not
    # journaled twice
    calls = summary_server.call_count
    again = Summarizer(runner, SummaryConfig.from_settings(settings)).summarize(clusters)
    assert again.rows.num_rows == 0 and len(again.failures) == 3
    assert summary_server.call_count == calls
    assert len(Lake.from_settings(settings).read_raw("llm_failures")) == len(failures)


def test_quarantine_of_answers_cached_by_a_run_that_died_is_journaled_once(
    tmp_path, summary_server, fixture_articles
) -> None:
    """A run killed after the answers were cached but before it validated them: the next
    run meets cached answers, and must still journal why each one was quarantined."""
    table, vectors = fixture_articles
    settings = settings_for(tmp_path, summary_server)
    summary_server.reply_fn = lambda body: "Testo integrato:"  # only the cue: no summary
    clusters = [cluster_of(table, vectors, [s], s) for s in ("f01", "f02")]
    config = SummaryConfig.from_settings(settings)
    # what the killed run got done: the requests answered and cached, nothing validated
    doomed = Summarizer(LLMRunner(settings, stage="summarize", retry=NO_WAIT), config)
    requests = []
    for cluster in clusters:
        job = doomed._new_job(cluster)
        requests.append(
            LLMRequest(
                row_id=cluster.cluster_id,
                messages=doomed.messages(job, job.items),
                params=doomed.params,
                prompt_id=job.prompt.id,
                prompt_version=job.prompt.version,
            )
        )
    assert all(r.ok for r in doomed.runner.run(requests))
    assert "llm_failures" not in _tables_with_rows(settings)

    for _ in range(2):  # the next run, then one more: the verdict is journaled once
        runner = LLMRunner(settings, stage="summarize", retry=NO_WAIT)
        run = Summarizer(runner, config).summarize(clusters)
        assert run.rows.num_rows == 0 and run.cached == 2
    failures = Lake.from_settings(settings).read_raw("llm_failures").to_pylist()
    assert sorted((f["row_id"], f["reason"]) for f in failures) == [
        ("f01", "invalid_output"),
        ("f02", "invalid_output"),
    ]
    assert all(f["detail"].startswith("empty_output") for f in failures)
    assert summary_server.call_count == 2


def _tables_with_rows(settings) -> set[str]:
    lake = Lake.from_settings(settings)
    return {t for t in ("llm_calls", "llm_failures") if len(lake.read_raw(t))}


def test_a_transient_failure_is_retried_by_the_next_run(
    tmp_path, summary_server, fixture_articles
) -> None:
    table, vectors = fixture_articles
    settings = settings_for(tmp_path, summary_server)
    sources = _cluster_sources_table([cluster_of(table, vectors, ["f05"], "c-f05")])
    summary_server.script(Fault.status_code(500))
    # its only request got no answer: the stage fails (the run exits non-zero)
    with pytest.raises(LLMStageFailed, match="every one of 1 requests failed"):
        summarize_cluster_sources(sources, settings)
    assert unfinished_rows(Lake.from_settings(settings)) == {"summarize": 1}
    failures = Lake.from_settings(settings).read_raw("llm_failures").to_pylist()
    assert [f["reason"] for f in failures] == ["server_error"]
    second = summarize_cluster_sources(sources, settings)
    assert second.column("cluster_id").to_pylist() == ["c-f05"]
    assert unfinished_rows(Lake.from_settings(settings)) == {}
    assert summary_server.call_count == 2
    # once stored, the cluster is skipped: nothing is sent, nothing is returned
    done = set(second.column("qa_id").to_pylist())
    assert summarize_cluster_sources(sources, settings, skip_qa_ids=done).num_rows == 0
    assert summary_server.call_count == 2


def test_a_budget_too_small_for_two_partial_summaries_is_refused(
    tmp_path, summary_server, fixture_articles
) -> None:
    table, vectors = fixture_articles
    settings = settings_for(
        tmp_path, summary_server, news_summary_context_tokens=400, news_summary_max_new_tokens=150
    )
    runner = LLMRunner(settings, stage="summarize", retry=NO_WAIT)
    with pytest.raises(SettingsError, match="NEWS_SUMMARY_CONTEXT_TOKENS=400 is too small"):
        Summarizer(runner, SummaryConfig.from_settings(settings)).summarize(
            [cluster_of(table, vectors, ["f01"], "f01")]
        )
    assert summary_server.call_count == 0


def test_bisect_keeps_similar_items_together(fixture_articles) -> None:
    table, vectors = fixture_articles
    mixed = cluster_of(table, vectors, ["f04", "f06"], "x")
    from synthlake.news_integration.summarize import _Item

    items = [_Item(s.title, s.content, s.vector, (s.article_id,)) for s in mixed.sources]
    left, right = bisect_by_similarity(items)
    one = {s.title for s in mixed.sources[0::2]}  # sources alternate between the stories
    other = {s.title for s in mixed.sources[1::2]}
    assert {frozenset(i.title for i in left), frozenset(i.title for i in right)} == {
        frozenset(one),
        frozenset(other),
    }
    # each group keeps the items' order
    assert left == [i for i in items if i in left] and right == [i for i in items if i in right]


def _user(body) -> str:
    return [m for m in body["messages"] if m["role"] == "user"][-1]["content"]


def _titles(user: str) -> set[str]:
    import re

    return set(re.findall(r"^Titolo: (.*)$", user, re.MULTILINE))


def _cluster_sources_table(clusters: list[Cluster]) -> pa.Table:
    rows = []
    for cluster in clusters:
        for k, s in enumerate(cluster.sources):
            rows.append(
                {
                    "cluster_id": cluster.cluster_id,
                    "article_id": s.article_id,
                    "source_position": k + 1,
                    "title": s.title,
                    "subtitle": s.subtitle,
                    "content": s.content,
                    "embedding": s.vector.tolist(),
                }
            )
    return pa.Table.from_pylist(rows).cast(
        pa.schema(
            [
                ("cluster_id", pa.string()),
                ("article_id", pa.string()),
                ("source_position", pa.int64()),
                ("title", pa.string()),
                ("subtitle", pa.string()),
                ("content", pa.string()),
                ("embedding", pa.list_(pa.float32())),
            ]
        )
    )


def test_summarize_max_clusters_sends_a_stable_seeded_selection(
    tmp_path, summary_server, fixture_articles
) -> None:
    table, vectors = fixture_articles
    settings = settings_for(tmp_path, summary_server, summarize_max_clusters=2)
    clusters = [cluster_of(table, vectors, [s], f"c-{s}") for s in ("f01", "f02", "f05", "f08")]
    first = summarize_cluster_sources(_cluster_sources_table(clusters), settings)
    chosen = sorted(first.column("cluster_id").to_pylist())
    assert len(chosen) == 2 and summary_server.call_count == 2
    # the same selection whatever the order of the stories; with them stored, nothing is sent
    done = set(first.column("qa_id").to_pylist())
    again = summarize_cluster_sources(
        _cluster_sources_table(clusters[::-1]), settings, skip_qa_ids=done
    )
    assert again.num_rows == 0 and summary_server.call_count == 2
    # a third story cap picks the same two and one more: an old choice never drops out
    wider = load_settings(**{**settings.model_dump(), "summarize_max_clusters": 3})
    third = summarize_cluster_sources(_cluster_sources_table(clusters), wider, skip_qa_ids=done)
    assert third.num_rows == 1 and third.column("cluster_id")[0].as_py() not in chosen

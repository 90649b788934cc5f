"""``SYNTHLAKE_LLM_BATCH_API``: the real openai and google-genai SDKs against local stand-ins
of the OpenAI Files/Batch API and the Gemini batch API (tests/fixtures/llm_batch_servers.py).

What is checked at the server: requests go in one job instead of one call each, a job left
open by a run is collected (not submitted again) by the next one, and requests the job did
not answer are asked online, or fail with a reason naming the row and the job.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synthlake.lake import Lake
from synthlake.llm.cache import LLMStore
from synthlake.llm.prices import Price, PriceTable
from synthlake.llm.providers import get_provider
from synthlake.llm.runner import LLMRunner
from synthlake.llm.types import GenerationParams, LLMRequest
from synthlake.settings import load_settings
from tests.fixtures.llm_batch_servers import GeminiBatchServer, OpenAIBatchServer
from tests.fixtures.llm_servers import Fault, OpenAICompatServer
from tests.integration.llm.conftest import FAST_RETRY, requests_for, user

TEST_PRICE = Price(1.0, 2.0)  # $ per 1M tokens in / out, list price


def full_price(result: Any) -> float:
    return TEST_PRICE.cost(result.tokens_in, result.tokens_out)


@pytest.fixture
def batch_server() -> Iterator[OpenAIBatchServer]:
    with OpenAIBatchServer() as server:
        yield server


def openai_runner(tmp_path, base_url: str, **overrides: Any) -> LLMRunner:
    values: dict[str, Any] = {
        "lake_root": tmp_path / "lake",
        "llm": f"openai:test-model@{base_url}",
        "llm_batch_api": True,
        "llm_batch_poll_s": 0.05,
        "llm_timeout_s": 5,
    } | overrides
    prices = PriceTable(prices={("openai", "test-model"): TEST_PRICE}, source="test")
    return LLMRunner(load_settings(**values), retry=FAST_RETRY, prices=prices)


def test_requests_go_in_one_job_at_half_price_then_come_from_the_cache(batch_server, tmp_path):
    requests = requests_for(4)
    requests.append(dataclasses.replace(requests[0], row_id="dup"))
    runner = openai_runner(tmp_path, batch_server.base_url)
    results = runner.run(requests)

    assert [r.text for r in results] == [f"echo: question {i}" for i in (0, 1, 2, 3, 0)]
    assert all(r.ok and not r.cached for r in results[:4]) and results[4].cached
    for result in results[:4]:
        assert result.cost_usd == pytest.approx(full_price(result) / 2)
    assert batch_server.call_count == 0  # not one online completion
    assert (batch_server.batch_calls("upload"), batch_server.batch_calls("create")) == (1, 1)
    # the uploaded lines carry the bodies an online call would send
    [job] = batch_server.jobs.values()
    assert len(job.rows) == 4  # the duplicate was sent once
    body = job.rows[0][1]
    assert body["model"] == "test-model" and body["max_tokens"] == 16
    assert body["messages"] == [{"role": "user", "content": "question 0"}]

    calls = Lake.from_settings(runner.settings).read_raw("llm_calls").to_pylist()
    assert sorted(c["row_id"] for c in calls) == ["dup", "row-0", "row-1", "row-2", "row-3"]
    assert sum(c["cost_usd"] for c in calls) == pytest.approx(
        sum(full_price(r) for r in results[:4]) / 2
    )
    with LLMStore.open(runner.lake.cache) as store:
        assert [j[6] for j in store.batch_jobs()] == ["completed"]

    again = openai_runner(tmp_path, batch_server.base_url).run(requests)
    assert all(r.ok and r.cached for r in again)
    assert batch_server.batch_calls("create") == 1  # nothing submitted the second time


def test_a_job_still_running_at_the_deadline_is_collected_by_the_next_run(tmp_path):
    with OpenAIBatchServer(polls_to_finish=4) as server:
        first = openai_runner(tmp_path, server.base_url, llm_batch_wait_s=0.1)
        results = first.run(requests_for(3))

        assert [r.reason for r in results] == ["batch_pending"] * 3
        [job_id] = server.jobs
        assert job_id in results[0].detail and "row-0" in results[0].detail
        failures = Lake.from_settings(first.settings).read_raw("llm_failures").to_pylist()
        assert {f["reason"] for f in failures} == {"batch_pending"}

        second = openai_runner(tmp_path, server.base_url).run(requests_for(3))

        assert [r.text for r in second] == [f"echo: question {i}" for i in range(3)]
        assert server.batch_calls("create") == 1  # the open job was collected, not resent
        assert server.call_count == 0
        assert server.jobs[job_id].polls >= 4


def test_rows_the_job_did_not_answer_are_asked_online_or_fail_naming_the_job(tmp_path):
    row_errors = {"question 0": 500, "question 1": 400}
    with OpenAIBatchServer(outcome="expired", expire_after_rows=3, row_errors=row_errors) as server:
        runner = openai_runner(tmp_path, server.base_url)
        results = runner.run(requests_for(5))

        ok = {r.row_id: r for r in results if r.ok}
        assert sorted(ok) == ["row-0", "row-2", "row-3", "row-4"]
        [job_id] = server.jobs
        failed = results[1]
        assert failed.reason == "context_overflow"  # the stand-in's 400 says so
        assert "row-1" in failed.detail and job_id in failed.detail
        # the 500 and the two rows the expired job never ran were asked online, at list price
        online = sorted(r.body["messages"][0]["content"] for r in server.generation_requests())
        assert online == ["question 0", "question 3", "question 4"]
        assert ok["row-0"].cost_usd == pytest.approx(full_price(ok["row-0"]))
        assert ok["row-2"].cost_usd == pytest.approx(full_price(ok["row-2"]) / 2)


def test_transient_errors_on_upload_and_poll_are_retried(batch_server, tmp_path):
    batch_server.batch_script(Fault.status_code(429, retry_after=0.1), Fault.status_code(503))
    results = openai_runner(tmp_path, batch_server.base_url).run(requests_for(2))

    assert all(r.ok for r in results)
    uploads = [r.status for r in batch_server.batch_requests if r.body == "upload"]
    assert uploads == [429, 503, 200]
    assert batch_server.batch_calls("create") == 1


def test_a_connection_reset_while_polling_is_retried(batch_server, tmp_path):
    batch_server.polls_to_finish = 2
    batch_server.batch_script(Fault.drop(), kind="poll")
    results = openai_runner(tmp_path, batch_server.base_url).run(requests_for(2))

    assert all(r.ok for r in results)
    polls = [r.status for r in batch_server.batch_requests if r.body == "poll"]
    assert polls[0] == -1 and polls[-1] == 200
    assert batch_server.batch_calls("create") == 1


def test_a_failed_job_fails_its_rows_with_the_providers_reason(tmp_path):
    with OpenAIBatchServer(outcome="failed") as server:
        results = openai_runner(tmp_path, server.base_url).run(requests_for(2))

    # not a verdict on the rows: transient, left for the next run
    assert [r.reason for r in results] == ["provider_error"] * 2
    assert "the stand-in refused it" in results[0].detail and "row-0" in results[0].detail
    assert server.call_count == 0


def test_a_server_without_a_batch_api_gets_the_requests_online(tmp_path, caplog):
    with OpenAICompatServer() as server, caplog.at_level(logging.WARNING):
        results = openai_runner(tmp_path, server.base_url).run(requests_for(3))

    assert all(r.ok for r in results)
    assert server.call_count == 3
    assert "offers no batch API" in caplog.text


def test_the_budget_counts_the_batch_price(batch_server, tmp_path):
    runner = openai_runner(tmp_path, batch_server.base_url)
    items = [runner._prepare_one(i, r, exact_tokens=False) for i, r in enumerate(requests_for(4))]
    worst_full = TEST_PRICE.cost(items[0].encoded.tokens_in, 16)
    # room for 3 requests at half price, but only for 1 at list price
    budget = 3.5 * worst_full / 2
    runner = openai_runner(tmp_path, batch_server.base_url, llm_budget_usd=budget)
    results = runner.run(requests_for(4))

    assert [r.ok for r in results] == [True, True, True, False]
    assert results[3].reason == "budget_exceeded"
    # a dry run prices what is not cached yet at the batch rate too
    fresh = [
        dataclasses.replace(r.request, messages=user(f"quest {i}")) for i, r in enumerate(items)
    ]
    assert runner.estimate(fresh)[2] == pytest.approx(4 * worst_full / 2, rel=0.2)


# --- Gemini ----------------------------------------------------------------------------
def gemini_runner(tmp_path, server: GeminiBatchServer, monkeypatch, **overrides: Any):
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    settings = load_settings(
        lake_root=tmp_path / "lake",
        llm="gemini:gemini-2.5-flash",
        llm_batch_api=True,
        llm_batch_poll_s=0.05,
        **overrides,
    )
    provider = get_provider(settings.llm_for(None), settings, base_url=server.base_url)
    return LLMRunner(settings, provider=provider, retry=FAST_RETRY)


def test_gemini_batch_job_with_inline_requests(tmp_path, monkeypatch):
    requests = [
        LLMRequest(
            row_id=f"g{i}",
            messages=[
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": f"question {i}"},
            ],
            params=GenerationParams(max_new_tokens=9, temperature=0.2),
        )
        for i in range(3)
    ]
    with GeminiBatchServer(polls_to_finish=2, row_errors={"question 1": 400}) as server:
        results = gemini_runner(tmp_path, server, monkeypatch).run(requests)

        assert server.call_count == 0  # no online generateContent
        [create] = [r for r in server.batch_requests if r.body == "create"]
        assert create.path.endswith("/models/gemini-2.5-flash:batchGenerateContent")
        [job] = server.jobs.values()
        sent = job.rows[0][1]
        assert sent["systemInstruction"]["parts"][0]["text"] == "Answer briefly."
        assert sent["generationConfig"]["maxOutputTokens"] == 9

    assert [r.ok for r in results] == [True, False, True]
    assert results[0].text == "echo: question 0"
    # seeds/llm_prices.csv: gemini-2.5-flash 0.30 in / 2.50 out per 1M, half in a batch
    first = results[0]
    assert first.cost_usd == pytest.approx((first.tokens_in * 0.30 + first.tokens_out * 2.5) / 2e6)
    assert results[1].reason == "client_error" and "g1" in results[1].detail
    assert "batches/" in results[1].detail


def test_gemini_expired_job_is_answered_online(tmp_path, monkeypatch):
    with GeminiBatchServer(outcome="expired") as server:
        runner = gemini_runner(tmp_path, server, monkeypatch)
        results = runner.run(requests_for(3))

        assert [r.text for r in results] == [f"echo: question {i}" for i in range(3)]
        assert server.call_count == 3
    with LLMStore.open(runner.lake.cache) as store:
        [job] = store.batch_jobs()
    assert job[6] == "expired" and job[3] == "adhoc"
    assert job[7].startswith("JOB_STATE_EXPIRED")


BATCH_CHILD = """
import sys
from synthlake.llm.runner import LLMRunner
from synthlake.settings import load_settings
from tests.integration.llm.conftest import requests_for

lake, base_url = sys.argv[1], sys.argv[2]
settings = load_settings(
    lake_root=lake, llm=f"openai:test-model@{base_url}", llm_batch_api=True, llm_batch_poll_s=0.05
)
LLMRunner(settings).run(requests_for(4))
print("finished: the test expected to kill me first", flush=True)
"""


def test_a_run_killed_while_waiting_never_submits_the_job_again(tmp_path):
    repo = Path(__file__).resolve().parents[3]
    lake_root = tmp_path / "lake"
    with OpenAIBatchServer(polls_to_finish=10**9) as server:  # the job never ends by itself
        child = subprocess.Popen(
            [sys.executable, "-c", BATCH_CHILD, str(lake_root), server.base_url],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while server.batch_calls("poll") < 2:  # submitted, and waiting on it
                assert child.poll() is None, child.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the child never submitted its job"
                time.sleep(0.05)
        finally:
            child.kill()
            child.wait()
        server.polls_to_finish = 0  # the job finishes while nobody waits on it

        results = openai_runner(tmp_path, server.base_url).run(requests_for(4))

        assert [r.text for r in results] == [f"echo: question {i}" for i in range(4)]
        assert server.batch_calls("create") == 1 and server.call_count == 0

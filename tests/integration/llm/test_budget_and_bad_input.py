"""The budget stops a run cleanly; bad input becomes failures naming the row."""

from __future__ import annotations

import pytest

from synthlake.lake import Lake
from synthlake.llm.prices import Price, PriceTable
from synthlake.llm.providers import estimate_tokens
from synthlake.llm.types import GenerationParams, LLMRequest, Message
from tests.integration.llm.conftest import requests_for, user

# $1 per token in and out: each request's worst case is (prompt + 16) dollars.
DEAR = PriceTable(prices={("openai", "test-model"): Price(1e6, 1e6)}, source="test")


def test_budget_stops_the_run_without_losing_anything(openai_server, make_runner):
    # Each request: ~10 estimated prompt tokens + 16 max new = a $26 worst case; it
    # actually costs $7 (3 + 4 tokens reported by the server). $50 allows 4 of them.
    requests = requests_for(10)
    runner = make_runner(llm_budget_usd=50.0, llm_concurrency=1, prices=DEAR)
    results = runner.run(requests)

    answered = [r for r in results if r.ok]
    refused = [r for r in results if not r.ok]
    assert len(answered) == 4 and len(refused) == 6
    assert {r.reason for r in refused} == {"budget_exceeded"}
    assert openai_server.call_count == len(answered)  # refused ones never left
    assert sum(r.cost_usd for r in answered) <= 50.0  # never overspent
    assert "budget" in refused[0].detail and refused[0].row_id in refused[0].detail
    lake = Lake.from_settings(runner.settings)
    reasons = lake.read_raw("llm_failures")["reason"].to_pylist()
    assert reasons == ["budget_exceeded"] * len(refused)

    # Raise the budget and rerun: only the refused rows are sent.
    rerun = make_runner(llm_budget_usd=10_000.0, prices=DEAR).run(requests)
    assert all(r.ok for r in rerun)
    assert openai_server.call_count == len(requests)


def test_budget_holds_with_many_requests_in_flight(openai_server, make_runner):
    runner = make_runner(llm_budget_usd=100.0, llm_concurrency=16, prices=DEAR)
    results = runner.run(requests_for(40))
    assert sum(r.cost_usd for r in results if r.ok) <= 100.0
    assert runner.budget.spent_usd <= 100.0


@pytest.mark.parametrize(
    ("messages", "reason", "says"),
    [
        ([], "empty_messages", "no messages"),
        ([{"role": "user", "content": "   "}], "empty_messages", "empty"),
        ([{"role": "system", "content": "only a system prompt"}], "empty_messages", "empty"),
        ([{"role": "robot", "content": "hi"}], "invalid_request", "role 'robot'"),
        ([{"role": "user", "content": 42}], "invalid_request", "must be text"),
        (["just a string"], "invalid_request", "not a"),
    ],
)
def test_bad_messages_fail_their_row_only(openai_server, make_runner, messages, reason, says):
    good_before, good_after = requests_for(2)
    bad = LLMRequest(row_id="bad-row", messages=messages)
    results = make_runner().run([good_before, bad, good_after])

    assert [r.ok for r in results] == [True, False, True]
    assert results[1].reason == reason
    assert "bad-row" in results[1].detail and says in results[1].detail
    assert openai_server.call_count == 2


def test_prompt_over_the_context_is_a_failure_with_its_token_count(openai_server, make_runner):
    long = LLMRequest(row_id="long-row", messages=user("word " * 2000))
    short = requests_for(1)[0]
    results = make_runner(llm_context_tokens=512).run([long, short])

    failure, answer = results
    assert answer.ok
    assert failure.reason == "context_overflow"
    n_tokens = estimate_tokens((Message("user", "word " * 2000),))
    assert f"row 'long-row': the prompt is about {n_tokens} tokens" in failure.detail
    assert "512-token context of openai:test-model" in failure.detail
    assert openai_server.call_count == 1  # never sent


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("caff\udce8 lone surrogate", "caff\ufffd lone surrogate"),
        ("pair \ud83d\ude00 joined", "pair \U0001f600 joined"),
        (b"bytes caff\xe8 latin-1", "bytes caff\ufffd latin-1"),
        (b"\xff\xfe\xfd", "\ufffd\ufffd\ufffd"),
    ],
)
def test_undecodable_text_reaches_the_server_as_valid_utf8(
    openai_server, make_runner, content, expected
):
    request = LLMRequest(row_id="odd", messages=[{"role": "user", "content": content}])
    [result] = make_runner().run([request])

    assert result.ok, result
    [sent] = openai_server.generation_requests()
    assert sent.status == 200  # the server decoded the body as UTF-8 JSON
    assert sent.body["messages"][0]["content"] == expected
    assert result.text == "echo: " + expected


def test_params_are_checked_when_built():
    with pytest.raises(ValueError, match="max_new_tokens"):
        GenerationParams(max_new_tokens=0)
    with pytest.raises(ValueError, match="temperature"):
        GenerationParams(temperature=-1)

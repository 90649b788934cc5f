"""The openai SDK against a local OpenAI-compatible server: answers, retries, failures."""

from __future__ import annotations

import pytest

from synthlake.errors import LLMError
from synthlake.llm.retry import RetryPolicy
from synthlake.llm.runner import LLMRunner
from synthlake.llm.types import GenerationParams, LLMRequest
from synthlake.settings import load_settings
from tests.fixtures.llm_servers import Fault
from tests.integration.llm.conftest import requests_for, user


def test_answers_in_order_with_usage_and_params_sent(openai_server, make_runner):
    requests = [
        LLMRequest(
            row_id=f"r{i}",
            messages=[{"role": "system", "content": "be brief"}, *user(f"q{i}")],
            params=GenerationParams(max_new_tokens=7, temperature=0.3, stop=("END",), seed=11),
        )
        for i in range(5)
    ]
    results = make_runner().run(requests)

    assert [r.row_id for r in results] == [f"r{i}" for i in range(5)]
    assert [r.text for r in results] == [f"echo: q{i}" for i in range(5)]
    first = results[0]
    assert (first.provider, first.model, first.cached, first.attempts) == (
        "openai",
        "test-model",
        False,
        1,
    )
    assert first.tokens_in > 0 and first.tokens_out > 0
    assert first.cost_usd == pytest.approx((first.tokens_in * 1.0 + first.tokens_out * 2.0) / 1e6)
    body = openai_server.generation_requests()[0].body
    assert body["model"] == "test-model"
    assert body["max_tokens"] == 7 and body["temperature"] == 0.3
    assert body["stop"] == ["END"] and body["seed"] == 11
    assert body["messages"][0] == {"role": "system", "content": "be brief"}


def test_429_waits_at_least_retry_after_then_succeeds(openai_server, make_runner):
    openai_server.script(Fault.status_code(429, header="1"))
    [result] = make_runner().run(requests_for(1))

    assert result.ok and result.attempts == 2
    first, second = openai_server.generation_requests()
    assert (first.status, second.status) == (429, 200)
    assert second.t - first.t >= 1.0  # Retry-After: 1 honoured, measured at the server


def test_retry_after_ms_is_preferred(openai_server, make_runner):
    # retry-after-ms: 300 and Retry-After: 5 -> the runner waits ~0.3 s, not 5 s.
    openai_server.script(Fault.status_code(429, retry_after=0.3, header="5"))
    [result] = make_runner().run(requests_for(1))

    first, second = openai_server.generation_requests()
    assert result.ok
    assert 0.3 <= second.t - first.t < 3.0


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_transient_statuses_are_retried(openai_server, make_runner, status):
    openai_server.script(Fault.status_code(status), Fault.status_code(status))
    [result] = make_runner().run(requests_for(1))

    assert result.ok and result.attempts == 3
    assert openai_server.call_count == 3


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "context_overflow"),
        (401, "auth_error"),
        (403, "auth_error"),
        (404, "model_not_found"),
        (422, "client_error"),
    ],
)
def test_other_4xx_fail_at_once(openai_server, make_runner, status, reason):
    openai_server.script(Fault.status_code(status))
    [result] = make_runner().run(requests_for(1))

    assert not result.ok
    assert result.reason == reason
    assert "row-0" in result.detail and str(status) in result.detail
    assert openai_server.call_count == 1  # no retry


def test_retries_are_bounded_and_the_rest_of_the_batch_survives(openai_server, make_runner):
    openai_server.script(*[Fault.status_code(500)] * 4)  # the first request's 4 attempts
    results = make_runner(llm_concurrency=1).run(requests_for(4))

    assert [r.ok for r in results] == [False, True, True, True]
    assert results[0].reason == "server_error" and results[0].attempts == 4
    assert "after 4 attempts" in results[0].detail
    assert openai_server.call_count == 4 + 3


def test_slow_answer_times_out_and_is_retried(openai_server, make_runner):
    openai_server.script(Fault.slow(4.0))
    [result] = make_runner(llm_timeout_s=1.0).run(requests_for(1))

    assert result.ok and result.attempts == 2
    assert openai_server.call_count == 2


def test_garbage_body_is_a_bad_response_with_its_raw_text(openai_server, make_runner):
    openai_server.script(Fault.garbage("<html>upstream exploded</html>"))
    [result] = make_runner().run(requests_for(1))

    assert not result.ok and result.reason == "bad_response"
    assert result.raw_text == "<html>upstream exploded</html>"
    assert openai_server.call_count == 1


def test_json_that_is_not_a_completion_is_a_bad_response(openai_server, make_runner):
    openai_server.script(Fault.garbage('{"object": "list", "data": []}'))
    [result] = make_runner().run(requests_for(1))

    assert not result.ok and result.reason == "bad_response"
    assert '"data": []' in result.raw_text


def test_dropped_connection_is_retried(openai_server, make_runner):
    openai_server.script(Fault.drop())
    [result] = make_runner().run(requests_for(1))

    assert result.ok and result.attempts == 2


def test_unreachable_server_fails_each_row_after_bounded_retries(tmp_path):
    settings = load_settings(
        lake_root=tmp_path / "lake", llm="openai:m@http://127.0.0.1:9/v1", llm_max_retries=1
    )
    runner = LLMRunner(settings, retry=RetryPolicy(max_retries=1, base_s=0.01))
    results = runner.run(requests_for(2))

    # refused: a configuration failure (the server is not there), after the retries
    assert [r.reason for r in results] == ["unreachable", "unreachable"]
    assert all(r.attempts == 2 for r in results)


def test_api_openai_com_without_a_key_is_a_clear_error(tmp_path):
    settings = load_settings(lake_root=tmp_path / "lake", llm="openai:gpt-4o-mini")
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        LLMRunner(settings).run(requests_for(1))

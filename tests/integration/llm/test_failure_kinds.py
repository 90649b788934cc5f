"""The three kinds of failure, each with its rule, against the real OpenAI-compatible server.

- configuration (a bad key, an unknown model, no server): the runner stops calling the
  provider after a few in a row, and ``check_health`` fails the stage with one message
  naming the provider, the failure and the setting to fix;
- transient (5xx...): the stage fails only past ``llm_max_failure_share``;
- content (an answer that does not validate): quarantined, never fails the stage.
"""

from __future__ import annotations

import logging

import pytest

from synthlake.errors import LLMStageFailed
from synthlake.lake import Lake
from synthlake.llm.retry import RetryPolicy
from synthlake.llm.runner import CONFIG_FAILURES_BEFORE_STOP, LLMRunner
from synthlake.settings import load_settings
from tests.fixtures.llm_servers import Fault, OpenAICompatServer
from tests.integration.llm.conftest import requests_for

SECRET = "sk-test-SECRET123"
NO_RETRY = RetryPolicy(max_retries=0, base_s=0.01, cap_s=0.01, max_total_s=1)


@pytest.fixture
def keyed_server():
    with OpenAICompatServer(api_key="sk-the-right-key-0000") as server:
        yield server


def test_a_refused_key_stops_the_calls_and_fails_the_stage_without_leaking_it(
    tmp_path, keyed_server, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    settings = load_settings(
        lake_root=tmp_path / "lake",
        llm_translate=f"openai:gpt-4o-mini@{keyed_server.base_url}",
        llm_concurrency=1,
    )
    runner = LLMRunner(settings, stage="translate", retry=NO_RETRY)
    with caplog.at_level(logging.INFO):
        results = runner.run(requests_for(10))

    assert [r.reason for r in results] == ["auth_error"] * 10
    assert keyed_server.call_count == CONFIG_FAILURES_BEFORE_STOP  # then: not sent
    assert "not sent" in results[-1].detail
    with pytest.raises(LLMStageFailed) as failed:
        runner.check_health()
    message = str(failed.value)
    assert "llm translate (openai:gpt-4o-mini@" in message
    assert "auth_error=10" in message and "HTTP 401" in message
    assert "Fix OPENAI_API_KEY (or SYNTHLAKE_OPENAI_API_KEY)" in message
    # the gateway echoed the key: it is masked in the error, the stored rows and the logs
    headers = {k.lower(): v for k, v in keyed_server.generation_requests()[0].headers.items()}
    assert headers["authorization"] == f"Bearer {SECRET}"
    failures = Lake.from_settings(settings).read_raw("llm_failures").to_pylist()
    assert len(failures) == 10
    stored = " ".join(f"{f['detail']} {f['raw_text']}" for f in failures)
    assert "invalid key ***" in stored
    assert SECRET not in stored + message + caplog.text


def test_an_unknown_model_names_the_stage_setting(tmp_path, openai_server) -> None:
    openai_server.script(*[Fault.status_code(404)] * 5)
    settings = load_settings(
        lake_root=tmp_path / "lake", llm_judge=f"openai:no-such-model@{openai_server.base_url}"
    )
    runner = LLMRunner(settings, stage="judge", retry=NO_RETRY)
    runner.run(requests_for(2))
    with pytest.raises(LLMStageFailed, match="model name .* in SYNTHLAKE_LLM_JUDGE"):
        runner.check_health()


def test_no_server_is_a_configuration_failure(tmp_path) -> None:
    settings = load_settings(lake_root=tmp_path / "lake", llm="openai:m@http://127.0.0.1:9/v1")
    runner = LLMRunner(settings, stage="summarize", retry=NO_RETRY)
    assert [r.reason for r in runner.run(requests_for(2))] == ["unreachable"] * 2
    with pytest.raises(LLMStageFailed, match="the base URL in SYNTHLAKE_LLM"):
        runner.check_health()
    assert runner.unfinished() == 2


@pytest.mark.parametrize(("failing", "fails_stage"), [(4, False), (6, True)])
def test_transient_failures_fail_the_stage_past_the_share(
    tmp_path, openai_server, failing, fails_stage
) -> None:
    openai_server.script(*[Fault.status_code(503)] * failing)
    settings = load_settings(
        lake_root=tmp_path / "lake",
        llm=f"openai:m@{openai_server.base_url}",
        llm_concurrency=1,
        llm_max_failure_share=0.5,
    )
    runner = LLMRunner(settings, stage="judge", retry=NO_RETRY)
    results = runner.run(requests_for(10))
    assert sum(not r.ok for r in results) == failing
    assert runner.unfinished() == failing
    if fails_stage:
        with pytest.raises(LLMStageFailed, match="6 of 10 requests .60%. failed"):
            runner.check_health()
    else:
        runner.check_health()


def test_answers_that_do_not_validate_never_fail_the_stage(tmp_path, openai_server) -> None:
    settings = load_settings(lake_root=tmp_path / "lake", llm=f"openai:m@{openai_server.base_url}")
    runner = LLMRunner(settings, stage="judge", retry=NO_RETRY)

    def never_valid(text: str) -> None:
        raise ValueError("no score")

    results = runner.run(requests_for(3), validate=never_valid)
    assert [r.reason for r in results] == ["invalid_output"] * 3
    runner.check_health()  # content: quarantined, the model did answer
    assert runner.unfinished() == 0


def test_retry_quarantined_asks_again_instead_of_reading_the_cache(tmp_path, openai_server) -> None:
    values = {"lake_root": tmp_path / "lake", "llm": f"openai:m@{openai_server.base_url}"}
    LLMRunner(load_settings(**values), stage="judge").run(requests_for(2))
    LLMRunner(load_settings(**values), stage="judge").run(requests_for(2))
    assert openai_server.call_count == 2  # the second run read the cache
    retry = load_settings(**values, llm_retry_quarantined=True)
    again = LLMRunner(retry, stage="judge").run(requests_for(2))
    assert openai_server.call_count == 4 and not any(r.cached for r in again)

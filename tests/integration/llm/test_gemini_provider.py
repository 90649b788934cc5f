"""The google-genai SDK against a local server speaking the generateContent REST shape."""

from __future__ import annotations

import pytest

from synthlake.errors import LLMError
from synthlake.llm.providers import get_provider
from synthlake.llm.runner import LLMRunner
from synthlake.llm.types import GenerationParams, LLMRequest
from synthlake.settings import load_settings
from tests.fixtures.llm_servers import Fault
from tests.integration.llm.conftest import FAST_RETRY, requests_for


@pytest.fixture
def gemini_runner(tmp_path, gemini_server, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    settings = load_settings(lake_root=tmp_path / "lake", llm="gemini:gemini-2.5-flash")

    def make(**settings_overrides):
        s = settings.model_copy(update=settings_overrides) if settings_overrides else settings
        provider = get_provider(s.llm_for(None), s, base_url=gemini_server.base_url)
        return LLMRunner(s, provider=provider, retry=FAST_RETRY)

    return make


def test_answer_usage_and_request_shape(gemini_server, gemini_runner):
    request = LLMRequest(
        row_id="g1",
        messages=[
            {"role": "system", "content": "You judge answers."},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second"},
        ],
        params=GenerationParams(max_new_tokens=9, temperature=0.2, stop=("###",), seed=5),
    )
    [result] = gemini_runner().run([request])

    assert result.ok, result
    assert result.text == "echo: second"
    assert (result.provider, result.model) == ("gemini", "gemini-2.5-flash")
    assert result.tokens_in > 0 and result.tokens_out > 0
    # priced from seeds/llm_prices.csv (gemini-2.5-flash: 0.30 in / 2.50 out per 1M)
    assert result.cost_usd == pytest.approx(
        (result.tokens_in * 0.30 + result.tokens_out * 2.50) / 1e6
    )
    [sent] = gemini_server.generation_requests()
    assert sent.path == "/v1/models/gemini-2.5-flash:generateContent"
    assert sent.headers.get("x-goog-api-key") == "test-key"
    assert sent.body["systemInstruction"]["parts"][0]["text"] == "You judge answers."
    assert [c["role"] for c in sent.body["contents"]] == ["user", "model", "user"]
    config = sent.body["generationConfig"]
    assert config["maxOutputTokens"] == 9 and config["temperature"] == 0.2
    assert config["stopSequences"] == ["###"] and config["seed"] == 5


def test_base_url_from_the_sdk_environment_variable(gemini_server, tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", gemini_server.base_url)
    settings = load_settings(lake_root=tmp_path / "lake", llm="gemini:gemini-2.5-flash")
    [result] = LLMRunner(settings, retry=FAST_RETRY).run(requests_for(1))

    assert result.ok and gemini_server.call_count == 1


def test_resource_exhausted_honours_retry_info(gemini_server, gemini_runner):
    gemini_server.script(Fault.status_code(429, retry_after=0.6))
    [result] = gemini_runner().run(requests_for(1))

    first, second = gemini_server.generation_requests()
    assert result.ok and result.attempts == 2
    assert second.t - first.t >= 0.6


def test_sdk_retries_are_off_ours_are_bounded(gemini_server, gemini_runner):
    gemini_server.script(*[Fault.status_code(503)] * 10)
    [result] = gemini_runner().run(requests_for(1))

    assert not result.ok and result.reason == "server_error"
    assert gemini_server.call_count == FAST_RETRY.max_retries + 1


def test_invalid_argument_is_not_retried(gemini_server, gemini_runner):
    gemini_server.script(Fault.status_code(400))
    [result] = gemini_runner().run(requests_for(1))

    assert result.reason == "client_error" and gemini_server.call_count == 1


def test_garbage_is_a_bad_response(gemini_server, gemini_runner):
    gemini_server.script(Fault.garbage("not json at all"))
    [result] = gemini_runner().run(requests_for(1))

    assert result.reason == "bad_response" and result.raw_text == "not json at all"


def test_missing_key_is_a_clear_error(tmp_path, gemini_server):
    settings = load_settings(lake_root=tmp_path / "lake", llm="gemini:gemini-2.5-flash")
    provider = get_provider(settings.llm_for(None), settings, base_url=gemini_server.base_url)
    with pytest.raises(LLMError, match="GEMINI_API_KEY"):
        LLMRunner(settings, provider=provider).run(requests_for(1))
    assert gemini_server.call_count == 0

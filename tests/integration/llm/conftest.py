"""Fixtures of the LLM integration tests: real local servers, real SDK clients."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from synthlake.llm.prices import Price, PriceTable
from synthlake.llm.retry import RetryPolicy
from synthlake.llm.runner import LLMRunner
from synthlake.llm.types import GenerationParams, LLMRequest
from synthlake.settings import Settings, load_settings
from tests.fixtures import llm_servers
from tests.fixtures.llm_servers import OpenAICompatServer

# The servers' fixtures, shared by every test here.
openai_server = llm_servers.openai_server
gemini_server = llm_servers.gemini_server

# Backoff short enough for tests; the policy's logic is the production one.
FAST_RETRY = RetryPolicy(max_retries=3, base_s=0.05, cap_s=0.2, max_total_s=30)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def requests_for(n: int, *, prefix: str = "row", max_new_tokens: int = 16) -> list[LLMRequest]:
    return [
        LLMRequest(
            row_id=f"{prefix}-{i}",
            messages=user(f"question {i}"),
            params=GenerationParams(max_new_tokens=max_new_tokens),
            prompt_id="test",
            prompt_version="1",
        )
        for i in range(n)
    ]


@pytest.fixture
def make_runner(tmp_path: Path, openai_server: OpenAICompatServer) -> Callable[..., LLMRunner]:
    """An OpenAI-compatible runner against the test server: fast retries, priced model.

    Keyword arguments that are settings fields override the settings; the rest go to
    ``LLMRunner``.
    """

    def make(**kwargs: Any) -> LLMRunner:
        values: dict[str, Any] = {
            "lake_root": tmp_path / "lake",
            "llm": f"openai:test-model@{openai_server.base_url}",
            "llm_max_retries": 3,
            "llm_timeout_s": 5,
        }
        values |= {k: kwargs.pop(k) for k in list(kwargs) if k in Settings.model_fields}
        settings = load_settings(**values)
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault(
            "prices",
            PriceTable(prices={("openai", "test-model"): Price(1.0, 2.0)}, source="test"),
        )
        return LLMRunner(settings, **kwargs)

    return make

"""The output-length forecast behind the runner's "estimate before sending" line."""

from __future__ import annotations

from synthlake.llm.cache import CachedResponse, LLMStore
from synthlake.llm.providers import Encoded
from synthlake.llm.runner import HISTORY_MIN_ANSWERS, forecast_tokens_out
from synthlake.llm.types import GenerationParams, LLMRequest, Message
from synthlake.llm.work import WorkItem


def item(index: int, prompt_id: str, cap: int) -> WorkItem:
    messages = (Message("user", f"question {index}"),)
    return WorkItem(
        index=index,
        request=LLMRequest(row_id=f"r{index}", messages=messages, prompt_id=prompt_id),
        messages=messages,
        params=GenerationParams(max_new_tokens=cap),
        key=f"k{index}",
        encoded=Encoded(messages=messages, tokens_in=5),
    )


def store_answers(store: LLMStore, prompt_id: str, outputs: list[int], model: str = "m") -> None:
    for n, tokens_out in enumerate(outputs):
        store.put(
            f"{prompt_id}-{model}-{n}",
            provider="openai",
            model=model,
            prompt_id=prompt_id,
            prompt_version="1",
            response=CachedResponse("answer", 10, tokens_out, "stop", 0.1, 0.0),
        )


def test_history_per_prompt_of_the_same_model(tmp_path):
    with LLMStore.open(tmp_path) as store:
        store_answers(store, "translate", [10, 20, 30])
        store_answers(store, "judge", [4, 6])
        store_answers(store, "translate", [500], model="other")
        assert store.output_history("openai", "m") == {"translate": (3, 20.0), "judge": (2, 5.0)}
        assert store.output_history("gemini", "m") == {}


def test_forecast_is_the_cap_without_history_and_the_mean_with_it(tmp_path):
    batch = [item(i, "translate", 512) for i in range(10)] + [item(10, "judge", 128)]
    with LLMStore.open(tmp_path) as store:
        assert forecast_tokens_out(batch, store.output_history("openai", "m")) == 10 * 512 + 128
        # too few answers to trust: still the cap
        store_answers(store, "translate", [100] * (HISTORY_MIN_ANSWERS - 1))
        assert forecast_tokens_out(batch, store.output_history("openai", "m")) == 10 * 512 + 128
        store_answers(store, "translate-more", [1])
        store.put(
            "last",
            provider="openai",
            model="m",
            prompt_id="translate",
            prompt_version="1",
            response=CachedResponse("answer", 10, 100, "stop", 0.1, 0.0),
        )
        assert forecast_tokens_out(batch, store.output_history("openai", "m")) == 10 * 100 + 128


def test_forecast_never_exceeds_the_cap():
    history = {"summary": (HISTORY_MIN_ANSWERS, 300.0)}
    assert forecast_tokens_out([item(0, "summary", 160), item(1, "summary", 400)], history) == (
        160 + 300
    )

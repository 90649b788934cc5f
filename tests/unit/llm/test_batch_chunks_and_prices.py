"""Batch-API helpers that need no server: job cutting and the batch price."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from synthlake.llm.batch import _chunks, uses_batch_api
from synthlake.llm.prices import Price, PriceTable
from synthlake.llm.providers.gemini import GeminiProvider
from synthlake.llm.providers.openai_compat import OpenAICompatProvider
from synthlake.settings import load_settings


def item(tokens: int) -> SimpleNamespace:
    return SimpleNamespace(encoded=SimpleNamespace(tokens_in=tokens))


def test_jobs_respect_the_request_count_and_the_size_limit():
    items = [item(100) for _ in range(7)]
    assert [len(c) for c in _chunks(items, 3, 10**9)] == [3, 3, 1]
    # 100 tokens ~ 400 bytes + 512 of JSON: two fit in 2,000 bytes, three do not
    assert [len(c) for c in _chunks(items, 100, 2_000)] == [2, 2, 2, 1]
    # a request bigger than the limit still goes, alone
    assert [len(c) for c in _chunks([item(10_000), item(1)], 100, 2_000)] == [1, 1]


def test_batch_price_is_half_the_list_price_for_batch_providers_only():
    table = PriceTable(
        prices={("openai", "m"): Price(1.0, 2.0), ("local", "*"): Price(0.0, 0.0)}, source="t"
    )
    online = table.cost("openai", "m", 1_000_000, 500_000)
    assert online == pytest.approx(2.0)
    assert table.cost("openai", "m", 1_000_000, 500_000, batch=True) == pytest.approx(1.0)
    assert table.cost("local", "x", 10, 10, batch=True) == 0.0


def test_batch_mode_applies_to_remote_providers_with_a_batch_api(tmp_path):
    on = load_settings(lake_root=tmp_path, llm_batch_api=True)
    off = load_settings(lake_root=tmp_path)
    openai = OpenAICompatProvider("m", base_url="http://127.0.0.1:1/v1")
    gemini = GeminiProvider("gemini-2.5-flash", api_key="k")
    local = SimpleNamespace(remote=False)
    assert uses_batch_api(on, openai) and uses_batch_api(on, gemini)
    assert not uses_batch_api(off, openai)
    assert not uses_batch_api(on, local)

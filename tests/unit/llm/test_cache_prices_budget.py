"""The SQLite store (cache + journal), the price table, the budget guard, JSON extraction."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from synthlake.errors import SettingsError
from synthlake.lake import Lake
from synthlake.llm.accounting import BudgetGuard, flush_journal
from synthlake.llm.cache import CACHE_FILE, CachedResponse, LLMStore, cache_key
from synthlake.llm.prices import PriceTable
from synthlake.llm.structured import extract_json
from synthlake.llm.types import GenerationParams, Message

REPO = Path(__file__).resolve().parents[3]
MESSAGES = (Message("system", "s"), Message("user", "u"))


def key(**changes):
    base = {
        "provider": "openai",
        "model": "m",
        "prompt_id": "p",
        "prompt_version": "1",
        "messages": MESSAGES,
        "params": GenerationParams(max_new_tokens=8),
    }
    return cache_key(**(base | changes))


def test_cache_key_changes_with_everything_that_decides_the_answer():
    base = key()
    assert key() == base and len(base) == 64
    variants = [
        key(provider="gemini"),
        key(model="m2"),
        key(prompt_id="q"),
        key(prompt_version="2"),
        key(messages=(Message("system", "s"), Message("user", "u "))),
        key(messages=(Message("user", "s"), Message("user", "u"))),
        key(params=GenerationParams(max_new_tokens=9)),
        key(params=GenerationParams(max_new_tokens=8, temperature=0.1)),
        key(params=GenerationParams(max_new_tokens=8, stop=("x",))),
        key(params=GenerationParams(max_new_tokens=8, seed=1)),
        key(model_fingerprint="abc"),
    ]
    assert len({base, *variants}) == len(variants) + 1


def answer(text: str = "hi") -> CachedResponse:
    return CachedResponse(text, 3, 2, "stop", 0.1, 0.001)


def test_store_round_trip_in_wal_mode(tmp_path):
    with LLMStore.open(tmp_path) as store:
        store.put(
            "k1", provider="openai", model="m", prompt_id="p", prompt_version="1", response=answer()
        )
        assert store.get_many(["k1", "k2"]) == {"k1": answer()}
        assert store.count() == 1
        store.forget("k1")
        assert store.get_many(["k1"]) == {}
    with sqlite3.connect(tmp_path / CACHE_FILE) as con:
        assert con.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_many_keys_are_looked_up_in_chunks(tmp_path):
    with LLMStore.open(tmp_path) as store:
        for i in range(1200):
            store.put(
                f"k{i}",
                provider="p",
                model="m",
                prompt_id="x",
                prompt_version="1",
                response=answer(str(i)),
            )
        found = store.get_many(f"k{i}" for i in range(0, 2400, 2))
    assert len(found) == 600 and found["k1198"].text == "1198"


def _row(run_id: str, n: int) -> dict:
    return {
        "call_id": f"{run_id}-{n}",
        "row_id": f"r{n}",
        "stage": "judge",
        "prompt_id": "p",
        "prompt_version": "1",
        "provider": "local",
        "model": "smollm2",
        "cache_key": "k",
        "cached": False,
        "tokens_in": 3,
        "tokens_out": 2,
        "latency_s": 0.1,
        "cost_usd": 0.0,
        "status": "ok",
        "reason": None,
        "attempts": 1,
        "run_id": run_id,
        "ingested_at": "2026-01-05T12:00:00+00:00",
        "ingest_date": "2026-01-05",
    }


def test_journal_of_a_dead_process_is_moved_by_the_next_run(tmp_path):
    lake = Lake(tmp_path / "lake").ensure()
    child = (
        "import sys; from pathlib import Path\n"
        "from synthlake.llm.cache import LLMStore\n"
        "from tests.unit.llm.test_cache_prices_budget import _row\n"
        "store = LLMStore.open(Path(sys.argv[1]))\n"
        "store.journal([('call', 'dead-run', _row('dead-run', i)) for i in range(3)])\n"
    )
    subprocess.run([sys.executable, "-c", child, str(lake.cache)], cwd=REPO, check=True)

    with LLMStore.open(lake.cache) as store:
        store.journal([("call", "live-run", _row("live-run", 0))])
        store.journal([("call", "other-live", _row("other-live", 0))])
        written = flush_journal(store, lake, "live-run")
        # 'other-live' is this process's but not in flight: it is moved too
        assert written == {"llm_calls": 5}
        assert store.pending("x") == []
    calls = lake.read_raw("llm_calls")
    assert sorted(calls["call_id"].to_pylist()) == [
        "dead-run-0",
        "dead-run-1",
        "dead-run-2",
        "live-run-0",
        "other-live-0",
    ]


def test_journal_rows_of_runs_in_flight_are_left_alone(tmp_path):
    from synthlake.llm.accounting import mark_active

    lake = Lake(tmp_path / "lake").ensure()
    with LLMStore.open(lake.cache) as store:
        store.journal([("call", "mine", _row("mine", 0)), ("call", "busy", _row("busy", 0))])
        mark_active("busy", True)
        try:
            assert flush_journal(store, lake, "mine") == {"llm_calls": 1}
        finally:
            mark_active("busy", False)
        assert [p[2]["run_id"] for p in store.pending("busy")] == ["busy"]


def test_price_seed_has_list_prices_and_free_local_models():
    prices = PriceTable.load(REPO / "seeds" / "llm_prices.csv")
    assert prices.cost("local", "smollm2", 10**6, 10**6) == 0.0
    assert prices.cost("local", "/any/model/dir", 5, 5) == 0.0
    flash = prices.price("gemini", "gemini-2.5-flash")
    assert flash is not None and flash.usd_per_1m_input_tokens > 0
    assert prices.cost("gemini", "models/gemini-2.5-flash", 10**6, 0) == pytest.approx(
        flash.usd_per_1m_input_tokens
    )
    assert prices.cost("openai", "my-own-vllm-model", 100, 100) is None


def test_price_table_errors(tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("provider,model,usd_per_1m_input_tokens\nx,y,1\n")
    with pytest.raises(SettingsError, match="missing column"):
        PriceTable.load(bad)
    bad.write_text("provider,model,usd_per_1m_input_tokens,usd_per_1m_output_tokens\nx,y,cheap,1\n")
    with pytest.raises(SettingsError, match=":2: bad price"):
        PriceTable.load(bad)
    assert PriceTable.load(tmp_path / "absent.csv").cost("local", "m", 1, 1) == 0.0


def test_budget_guard_never_lets_in_flight_requests_overshoot():
    guard = BudgetGuard(1.0)
    first = guard.reserve(0.4)
    second = guard.reserve(0.4)
    assert first == second == 0.4
    assert guard.reserve(0.4) is None  # 0.8 reserved + 0.4 > 1.0
    assert guard.exhausted
    guard.settle(first, 0.1)
    assert guard.reserve(0.1) is None  # once exhausted, the run is over
    assert guard.spent_usd == pytest.approx(0.1)
    assert BudgetGuard(None).reserve(100.0) == 0.0
    assert BudgetGuard(1.0).reserve(None) == 0.0  # unpriced: cannot be enforced


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure! Here it is: {"a": [1, 2]} Hope it helps.', {"a": [1, 2]}),
        ('```json\n{"a": "}"}\n```', {"a": "}"}),
        ("[1, 2, 3]", [1, 2, 3]),
        ('{broken {"a": 2}', {"a": 2}),
    ],
)
def test_extract_json(text, value):
    assert extract_json(text) == value


def test_extract_json_without_json():
    with pytest.raises(ValueError, match="no JSON"):
        extract_json("four out of five")

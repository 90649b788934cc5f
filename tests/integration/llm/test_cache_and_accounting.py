"""The persistent cache and the llm_calls / llm_failures tables, counted at the server."""

from __future__ import annotations

from dataclasses import replace

import pyarrow.compute as pc

from synthlake.lake import Lake
from synthlake.llm import estimate
from synthlake.llm.types import GenerationParams
from tests.fixtures.llm_servers import Fault
from tests.integration.llm.conftest import requests_for


def test_rerun_pays_nothing_and_is_recorded_as_cached(openai_server, make_runner):
    requests = requests_for(6)
    first = make_runner().run(requests)
    assert openai_server.call_count == 6

    second = make_runner().run(requests)

    assert openai_server.call_count == 6  # nothing new reached the server
    assert [r.text for r in second] == [r.text for r in first]
    assert all(r.cached and r.cost_usd == 0.0 and r.attempts == 0 for r in second)
    runner = make_runner()
    calls = Lake.from_settings(runner.settings).read_raw("llm_calls")
    assert calls.num_rows == 12
    assert pc.sum(calls["cached"].cast("int64")).as_py() == 6
    assert set(calls["status"].to_pylist()) == {"ok"}
    assert set(calls["stage"].to_pylist()) == {"adhoc"}
    assert set(calls["prompt_version"].to_pylist()) == {"1"}


def test_key_covers_params_prompt_version_and_messages(openai_server, make_runner):
    [base] = requests_for(1)
    make_runner().run([base])
    variants = [
        replace(base, params=GenerationParams(max_new_tokens=17)),
        replace(base, params=GenerationParams(max_new_tokens=16, temperature=0.5, seed=1)),
        replace(base, prompt_version="2"),
        replace(base, messages=[{"role": "user", "content": "question 0 "}]),
        replace(base, row_id="another-row"),  # same content: the cache answers it
    ]
    results = make_runner().run(variants)

    assert [r.cached for r in results] == [False, False, False, False, True]
    assert openai_server.call_count == 1 + 4


def test_duplicates_within_a_batch_are_sent_once(openai_server, make_runner):
    [one] = requests_for(1)
    batch = [replace(one, row_id=f"dup-{i}") for i in range(5)]
    results = make_runner().run(batch)

    assert openai_server.call_count == 1
    assert [r.row_id for r in results] == [f"dup-{i}" for i in range(5)]
    assert [r.cached for r in results] == [False, True, True, True, True]


def test_cache_off_calls_every_time(openai_server, make_runner):
    make_runner(llm_cache=False).run(requests_for(3))
    make_runner(llm_cache=False).run(requests_for(3))
    assert openai_server.call_count == 6


def test_failures_are_never_cached(openai_server, make_runner):
    openai_server.script(Fault.status_code(401))
    [failed] = make_runner().run(requests_for(1))
    [again] = make_runner().run(requests_for(1))

    assert not failed.ok and again.ok and not again.cached
    assert openai_server.call_count == 2
    runner = make_runner()
    failures = Lake.from_settings(runner.settings).read_raw("llm_failures").to_pylist()
    assert [(f["row_id"], f["reason"]) for f in failures] == [("row-0", "auth_error")]
    assert "401" in failures[0]["detail"]


def test_estimate_counts_only_what_is_not_cached(openai_server, make_runner):
    runner = make_runner()
    requests = requests_for(4, max_new_tokens=10)
    tokens_in, tokens_out, usd, uncached = runner.estimate(requests)
    assert (tokens_out, uncached) == (40, 4)
    assert usd == (tokens_in * 1.0 + tokens_out * 2.0) / 1e6

    runner.run(requests[:3])
    tokens_in_after, tokens_out_after, _, uncached_after = make_runner().estimate(requests)
    assert (tokens_out_after, uncached_after) == (10, 1)
    assert tokens_in_after == tokens_in // 4
    assert openai_server.call_count == 3  # estimating never calls the provider


def test_public_estimate_uses_the_price_seed(tmp_path):
    from synthlake.settings import load_settings

    settings = load_settings(lake_root=tmp_path / "lake", llm="gemini:gemini-2.5-flash")
    tokens_in, tokens_out, usd = estimate(requests_for(2, max_new_tokens=100), settings)
    assert tokens_out == 200
    assert usd == (tokens_in * 0.30 + 200 * 2.50) / 1e6

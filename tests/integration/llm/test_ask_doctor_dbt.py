"""The hooks others call: ask() (the CLI), check_provider() (doctor), and the dbt models."""

from __future__ import annotations

import duckdb
import pytest

from synthlake.errors import BudgetExceeded, LLMError
from synthlake.lake import Lake
from synthlake.llm import ask, check_provider
from synthlake.llm.runner import LLMRunner
from synthlake.pipeline.dbt_runner import run_dbt
from synthlake.settings import LLMSpec, load_settings
from tests.fixtures.llm_servers import Fault
from tests.integration.llm.conftest import FAST_RETRY, requests_for


@pytest.fixture
def remote(tmp_path, openai_server):
    return load_settings(
        lake_root=tmp_path / "lake",
        llm=f"openai:test-model@{openai_server.base_url}",
        llm_max_retries=0,
    )


def test_ask_answers_through_the_runner_and_its_cache(openai_server, remote):
    assert ask("Qual è la capitale d'Italia?", settings=remote) == (
        "echo: Qual è la capitale d'Italia?"
    )
    assert ask("Qual è la capitale d'Italia?", settings=remote).startswith("echo:")
    assert openai_server.call_count == 1  # the second came from the cache
    [sent] = openai_server.generation_requests()
    assert sent.body["messages"][0]["role"] == "system"  # the 'ask' prompt's system text
    assert sent.body["max_tokens"] == 128
    calls = Lake.from_settings(remote).read_raw("llm_calls").to_pylist()
    assert {(c["stage"], c["prompt_id"], c["prompt_version"]) for c in calls} == {
        ("ask", "ask", "1")
    }


def test_ask_system_and_llm_override(openai_server, tmp_path):
    settings = load_settings(lake_root=tmp_path / "lake")  # default: local smollm2
    text = ask(
        "hi",
        llm=f"openai:other@{openai_server.base_url}",
        system="Answer in Italian.",
        max_new_tokens=5,
        settings=settings,
    )
    assert text == "echo: hi"
    [sent] = openai_server.generation_requests()
    assert sent.body["model"] == "other" and sent.body["max_tokens"] == 5
    assert sent.body["messages"][0] == {"role": "system", "content": "Answer in Italian."}


def test_ask_failure_raises_a_clear_synthlake_error(openai_server, remote):
    openai_server.script(Fault.status_code(404))
    with pytest.raises(LLMError, match=r"openai:test-model failed \(model_not_found\)"):
        ask("hello", settings=remote)
    with pytest.raises(LLMError, match="empty"):
        ask("   ", settings=remote)


def test_ask_over_budget_raises_budget_exceeded(gemini_server, tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", gemini_server.base_url)
    settings = load_settings(
        lake_root=tmp_path / "lake", llm="gemini:gemini-2.5-flash", llm_budget_usd=0.0
    )
    with pytest.raises(BudgetExceeded, match="budget"):
        ask("hello", settings=settings)
    assert gemini_server.call_count == 0


def test_check_provider(openai_server, tmp_path, monkeypatch):
    settings = load_settings(lake_root=tmp_path / "lake")
    ok, detail = check_provider(LLMSpec.parse("local:smollm2"), settings)
    assert ok and "SmolLM2-135M-Instruct.Q4_1.gguf" in detail

    ok, detail = check_provider(LLMSpec.parse(f"local:{tmp_path / 'nothing'}"), settings)
    assert not ok and "no such model" in detail

    ok, detail = check_provider(
        LLMSpec.parse(f"openai:test-model@{openai_server.base_url}"), settings
    )
    assert ok and openai_server.requests[-1].path == "/v1/models"

    ok, detail = check_provider(LLMSpec.parse(f"openai:absent@{openai_server.base_url}"), settings)
    assert not ok and "does not serve 'absent'" in detail

    ok, detail = check_provider(LLMSpec.parse("openai:m@http://127.0.0.1:9/v1"), settings)
    assert not ok and "unreachable" in detail

    ok, detail = check_provider(LLMSpec.parse("gemini:gemini-2.5-flash"), settings)
    assert not ok and "GEMINI_API_KEY" in detail
    monkeypatch.setenv("GOOGLE_API_KEY", "k")
    ok, detail = check_provider(LLMSpec.parse("gemini:gemini-2.5-flash"), load_settings())
    assert ok and "not called" in detail


def test_dbt_models_account_calls_and_failures(openai_server, tmp_path):
    settings = load_settings(
        lake_root=tmp_path / "lake", llm=f"openai:gpt-4o-mini@{openai_server.base_url}"
    )
    runner = LLMRunner(settings, stage="judge", retry=FAST_RETRY)
    openai_server.script(Fault.status_code(400))
    first = runner.run(requests_for(4))
    second = runner.run(requests_for(4))
    assert [r.ok for r in first] == [False, True, True, True]
    assert [r.cached for r in second] == [False, True, True, True]

    run_dbt(["build", "--select", "llm_prices", "staging.llm+"], settings)

    with duckdb.connect(str(Lake.from_settings(settings).warehouse), read_only=True) as con:
        rows = con.execute(
            "select count(*), count(*) filter (where cached), sum(cost_usd), "
            "sum(tokens_in * 0.15 + tokens_out * 0.60) filter (where not cached) / 1e6 "
            "from llm_calls where stage = 'judge' and llm = 'openai:gpt-4o-mini'"
        ).fetchone()
        failures = con.execute("select row_id, reason, is_transient from llm_failures").fetchall()
    n_calls, n_cached, cost, expected = rows
    assert (n_calls, n_cached) == (8, 3)
    assert cost == pytest.approx(expected) and cost > 0
    assert failures == [("row-0", "context_overflow", False)]

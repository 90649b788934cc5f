"""Translation through the real LLM runner, against the OpenAI-compatible test server.

The server plays the translator (``fake_translator.py``): a faithful-looking one, one that
answers in the wrong language, one that drops protected tokens. Verification must pass
the first and quarantine the others with their reasons; nothing is labelled with a
language it was not verified in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from synthlake.ingest.folder import ingest_folder

from synthlake.errors import LLMStageFailed
from synthlake.instructions.translate import translate_rows
from synthlake.lake import Lake
from synthlake.llm.unfinished import unfinished_rows
from synthlake.pipeline.dbt_runner import run_dbt
from synthlake.settings import Settings, load_settings
from tests.fixtures.llm_servers import Fault, OpenAICompatServer
from tests.integration.hf.fake_translator import TEXT, TOKEN, fake_translation, wrong_language

CODE = "```python\ndef area(r: float) -> float:\n    return 3.14159 * r ** 2\n```"
ROWS = [
    {
        "id": "code-row",
        "source_dataset": "t",
        "language": "en",
        "shape": "alpaca",
        "system": None,
        "instruction": "Write a Python function that returns the area of a circle.",
        "input": None,
        "output": f"Here is a short function:\n\n{CODE}\n\nCall `area(2.0)` to get 12.57.",
    },
    {
        "id": "list-row",
        "source_dataset": "t",
        "language": "en",
        "shape": "sharegpt",
        "system": "You are a helpful assistant who answers in short lists.",
        "instruction": "Name three rivers of Europe and say where they flow.",
        "input": None,
        "output": "1. The Danube flows into the Black Sea.\n2. The Rhine flows into the "
        "North Sea.\n3. The Po flows into the Adriatic Sea.",
    },
    {
        "id": "mostly-code",
        "source_dataset": "t",
        "language": "en",
        "shape": "alpaca",
        "system": None,
        "instruction": "Code?",
        "input": None,
        "output": "```\n" + "x = compute(x) + 1\n" * 30 + "```",
    },
]


def table(rows: list[dict[str, Any]]) -> pa.Table:
    out = []
    for row in rows:
        turns = []
        if row["system"]:
            turns.append({"role": "system", "content": row["system"]})
        user = row["instruction"] + (f"\n\n{row['input']}" if row["input"] else "")
        turns += [
            {"role": "user", "content": user},
            {"role": "assistant", "content": row["output"]},
        ]
        out.append(row | {"turns": turns})
    return pa.Table.from_pylist(out)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAICompatServer]:
    """The translator, named in the environment: dbt's Python models load their settings."""
    with OpenAICompatServer(reply=fake_translation) as running:
        monkeypatch.setenv("SYNTHLAKE_LLM_TRANSLATE", f"openai:test-model@{running.base_url}")
        monkeypatch.setenv("SYNTHLAKE_LLM_REQUESTS_PER_MINUTE", "100000")
        monkeypatch.setenv("SYNTHLAKE_LLM_MAX_RETRIES", "0")
        yield running


def settings_for(tmp_path: Path, server: OpenAICompatServer, **more: Any) -> Settings:
    return load_settings(lake_root=tmp_path / "lake", **more)


def by_id(result: pa.Table) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in result.to_pylist()}


def test_verified_translations_keep_code_lists_and_numbers(
    tmp_path: Path, server: OpenAICompatServer
) -> None:
    settings = settings_for(tmp_path, server)
    result = by_id(translate_rows(table(ROWS), ["it"], settings))
    code, lists = result["code-row"], result["list-row"]
    assert (code["status"], code["language"], code["reasons"]) == ("verified", "it", [])
    assert CODE in code["output"] and "`area(2.0)`" in code["output"]
    assert "12.57" in code["output"] and code["output"].count("\n") == ROWS[0]["output"].count("\n")
    assert lists["status"] == "verified" and lists["language_ok"] and lists["spans_ok"]
    assert [line[:3] for line in lists["output"].splitlines()] == ["1. ", "2. ", "3. "]
    assert lists["turns"][0]["role"] == "system" and lists["turns"][0]["content"] == lists["system"]
    assert (lists["prompt_id"], lists["prompt_version"]) == ("translate_instruction", "1")
    assert lists["llm"] == "openai:test-model"  # the model, not its URL (LLMSpec.identity)
    # no request ever showed the model a code block, a list marker or a number
    for request in server.generation_requests():
        text = request.body["messages"][-1]["content"]
        assert "```" not in text and "3.14159" not in text and "\n1. " not in text


def test_mostly_code_is_untranslatable_without_a_call(
    tmp_path: Path, server: OpenAICompatServer
) -> None:
    result = by_id(translate_rows(table(ROWS[2:]), ["fr"], settings_for(tmp_path, server)))
    row = result["mostly-code"]
    assert (row["status"], row["reasons"], row["language"]) == (
        "untranslatable",
        ["mostly_code"],
        None,
    )
    assert row["code_fraction"] > 0.85
    assert server.call_count == 0


BOTH = ("code-row", "list-row")


def echo_danube(body: Any) -> str:
    """Translates every piece but one, which it leaves in English."""
    text = TEXT.search(body["messages"][-1]["content"])["text"]
    return text if "Danube" in text else fake_translation(body)


@pytest.mark.parametrize(
    ("reply", "reason", "failing"),
    [
        (wrong_language, "wrong_language", BOTH),
        # only the code row holds protected tokens (list numbers are layout, not spans)
        (lambda body: TOKEN.sub("", fake_translation(body)), "protected_span_lost", ("code-row",)),
        (lambda body: fake_translation(body) + " ⟦99⟧", "protected_span_invented", BOTH),
        (lambda body: fake_translation(body).split(" ")[0], "length_ratio", BOTH),
        (lambda body: fake_translation(body).replace(" ", "\n", 1), "line_breaks_changed", BOTH),
        (lambda body: "", "empty_translation", BOTH),
        (echo_danube, "partly_wrong_language", ("list-row",)),
        (echo_danube, "not_translated", ("list-row",)),
    ],
)
def test_failed_checks_are_quarantined_and_never_labelled(
    tmp_path: Path,
    server: OpenAICompatServer,
    reply: Any,
    reason: str,
    failing: tuple[str, ...],
) -> None:
    server.reply_fn = reply
    result = by_id(translate_rows(table(ROWS[:2]), ["es"], settings_for(tmp_path, server)))
    for row_id, row in result.items():
        if row_id not in failing:
            assert row["status"] == "verified"
            continue
        assert row["status"] == "quarantined", row
        assert reason in row["reasons"]
        assert row["language"] is None and row["target_language"] == "es"
    if reason == "wrong_language":
        assert {row["detected_language"] for row in result.values()} == {"en"}
        assert all(row["language_ok"] is False for row in result.values())


def test_a_transient_failure_leaves_the_row_for_the_next_build(
    tmp_path: Path, server: OpenAICompatServer
) -> None:
    # a share of failures the stage tolerates (the default 0.5 would fail the stage: 3 of 5)
    settings = settings_for(tmp_path, server, llm_max_failure_share=0.75)
    server.script(*[Fault.status_code(503)] * 3)
    first = translate_rows(table(ROWS[1:2]), ["de"], settings)
    assert first.num_rows == 0  # not stored as a failure: retried next time
    assert unfinished_rows(Lake.from_settings(settings)) == {"translate": 1}
    second = by_id(translate_rows(table(ROWS[1:2]), ["de"], settings))
    assert second["list-row"]["status"] == "verified"
    assert unfinished_rows(Lake.from_settings(settings)) == {}


def test_too_many_transient_failures_fail_the_stage_and_store_nothing(
    tmp_path: Path, server: OpenAICompatServer
) -> None:
    settings = settings_for(tmp_path, server)  # SYNTHLAKE_LLM_MAX_FAILURE_SHARE=0.5
    server.script(*[Fault.status_code(503)] * 3)
    with pytest.raises(LLMStageFailed, match="3 of 5 requests .60%. failed without an answer"):
        translate_rows(table(ROWS[1:2]), ["de"], settings)
    second = by_id(translate_rows(table(ROWS[1:2]), ["de"], settings))
    assert second["list-row"]["status"] == "verified"


def test_pairs_already_done_cost_no_call(tmp_path: Path, server: OpenAICompatServer) -> None:
    settings = settings_for(tmp_path, server, translate_languages_mode="all")
    first = translate_rows(table(ROWS[:2]), ["it", "fr"], settings)
    assert first.num_rows == 4
    calls = server.call_count
    again = translate_rows(
        table(ROWS[:2]), ["it", "fr"], settings, done=first.column("translation_id").to_pylist()
    )
    assert again.num_rows == 0 and server.call_count == calls


# --- the dbt models on the bundled sample -------------------------------------------------
# This domain's models and their parents only (the news models would load the local LLM).
# The translation does not wait for the full language check (int_instructions_checked).
BUILD = [
    "build",
    "--select",
    "+int_instructions_translated",
    "+int_instructions_checked",
    "--indirect-selection",
    "cautious",
]


def query(lake: Lake, sql: str) -> list[tuple]:
    with duckdb.connect(str(lake.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def sample_rows(name: str) -> list[dict]:
    path = Path(load_settings().sample_dir) / "hf" / name
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return json.loads(path.read_text())


def test_dbt_build_dedups_checks_language_translates_once(
    tmp_path: Path, server: OpenAICompatServer
) -> None:
    settings = settings_for(tmp_path, server)
    lake = Lake.from_settings(settings).ensure()
    ingest_folder(settings.sample_dir, lake, settings, run_id="r1")
    run_dbt(BUILD, settings)
    calls = server.call_count
    assert calls > 0

    # the planted exact duplicate (slim row 18 = row 6) points at the kept row
    dups = query(
        lake,
        "select s.row_index, k.row_index from int_instructions_deduplicated d "
        "join stg_hf__instructions s on s.id = d.id "
        "join stg_hf__instructions k on k.id = d.duplicate_of where not d.is_kept",
    )
    assert dups == [(17, 5)]
    # the English -> Italian task is flagged: its answer is Italian, its label English
    slim = sample_rows("slimorca_sample.jsonl")
    italian = next(
        i for i, r in enumerate(slim) if "Translate into Italian" in r["conversations"][1]["value"]
    )
    flagged = query(
        lake,
        "select s.row_index, l.mismatched_roles from int_instructions_language_checked l "
        "join stg_hf__instructions s using (id) where l.language_mismatch",
    )
    assert flagged == [(italian, ["assistant"])]
    # every target language got verified rows; only translation sources were translated
    per_language = dict(
        query(
            lake,
            "select target_language, count(*) filter (where status = 'verified') "
            "from int_instructions_translated group by all",
        )
    )
    assert set(per_language) == {"it", "fr", "es", "de"} and all(per_language.values())
    sources = query(
        lake, "select count(*) from int_instructions_checked where is_translation_source"
    )
    assert query(lake, "select count(*) from int_instructions_translated") == sources
    # the rows the model checked itself are the full check's translation sources
    assert query(lake, "select distinct id from int_instructions_translated order by id") == (
        query(
            lake, "select id from int_instructions_checked where is_translation_source order by id"
        )
    )
    # code blocks come back byte-identical
    fences = re.compile(r"```.*?```", re.DOTALL)
    pairs = query(
        lake,
        "select s.output, t.output from int_instructions_translated t "
        "join stg_hf__instructions s using (id) where s.output like '%```%' "
        "and t.status <> 'untranslatable'",
    )
    assert pairs and all(fences.findall(src) == fences.findall(out) for src, out in pairs)

    run_dbt(BUILD, settings)  # a rebuild translates nothing again
    assert server.call_count == calls
    assert query(lake, "select count(*) from int_instructions_translated") == sources

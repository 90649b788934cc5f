"""`int_qa_pairs_unioned` and `int_instructions_checked` are incremental (issue 17: at seed
scale rebuilding them wrote 720k-760k rows of text again, 33 s and 22 s of a daily refresh
that changes 1%). A build must compute only the rows whose inputs changed (new rows, a
duplicate verdict that flipped), delete the rows whose inputs left, and end with the rows a
full rebuild gives.

As in test_incremental_marts: a sentinel in a column the build does not read shows which
rows a build computed (``tests/fixtures/sentinels.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from synthlake.ingest.hf import HFSource, import_hf_file

from synthlake.lake import Lake
from synthlake.pipeline.dbt_runner import run_dbt
from synthlake.settings import load_settings
from tests.fixtures.sentinels import Sentinels, full_rebuild

# the model, its key and the column that holds the sentinel (read by no model upstream)
MODELS = {
    "int_qa_pairs_unioned": ("qa_id", "generator_llm"),
    "int_instructions_checked": ("id", "source_revision"),
}
SEEN = Sentinels(MODELS)
rows, mark_stored_rows, recomputed = SEEN.rows, SEEN.mark_stored_rows, SEEN.recomputed
BUILD = ["build", "--select", *(f"+{m}" for m in MODELS), "--indirect-selection", "cautious"]

FIRST = [
    ("Describe the water cycle.", "Water evaporates, condenses into clouds and falls as rain."),
    ("Why is the sky blue?", "Air scatters short blue wavelengths more than the red ones."),
    ("Name a prime number.", "Seven is a prime number: only one and seven divide it."),
]
# another file of the same day: its first row is FIRST's first in other case and spacing,
# so a duplicate of it (ingested after it) until FIRST's file goes away
SECOND = [
    ("describe  the WATER cycle.", "water evaporates, condenses into clouds and falls as rain."),
    ("Name a colour.", "Green is a colour."),
]
LATER = [("Count to three.", "One, two, three."), ("Spell cat.", "C, A, T.")]
TURNS = [
    {"from": "human", "value": "Pick a colour."},
    {"from": "gpt", "value": "Green."},
    {"from": "human", "value": "Why?"},
    {"from": "gpt", "value": "It is calm."},
]


def import_alpaca(lake: Lake, path: Path, pairs: list[tuple[str, str]], revision: str) -> list:
    path.write_text(json.dumps([{"instruction": q, "input": "", "output": a} for q, a in pairs]))
    stats = import_hf_file(path, lake, HFSource("teknium/openhermes", revision), run_id=revision)
    return [Path(p) for p in stats.files]


@pytest.fixture(autouse=True)
def _no_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHLAKE_JUDGE_MAX_PAIRS", "0")
    monkeypatch.setenv("SYNTHLAKE_TRANSLATE_MAX_ROWS", "0")


def test_builds_compute_only_changed_rows_and_end_as_a_full_rebuild(tmp_path: Path) -> None:
    settings = load_settings(lake_root=tmp_path / "lake")
    lake = Lake.from_settings(settings).ensure()
    first_files = import_alpaca(lake, tmp_path / "first.json", FIRST, "r1")
    import_alpaca(lake, tmp_path / "second.json", SECOND, "r1b")
    slim = tmp_path / "slim.jsonl"
    slim.write_text(json.dumps({"conversations": TURNS}))
    import_hf_file(slim, lake, HFSource("Open-Orca/SlimOrca", "r1"), run_id="r1")
    run_dbt(BUILD, settings)

    checked = rows(lake, "int_instructions_checked")
    assert len(checked) == 6 and all(r["input_hash"] is not None for r in checked.values())
    duplicate = {k for k, r in checked.items() if not r["is_kept"]}
    assert len(duplicate) == 1  # SECOND's copy of FIRST's first row
    pairs = rows(lake, "int_qa_pairs_unioned")
    assert set(pairs) == {f"ins:{k}" for k in checked} - {f"ins:{k}" for k in duplicate}

    mark_stored_rows(lake)
    run_dbt(BUILD, settings)  # nothing new: nothing computed again
    for model in MODELS:
        assert recomputed(lake, model) == set(), model

    before = {model: set(rows(lake, model)) for model in MODELS}
    import_alpaca(lake, tmp_path / "later.json", LATER, "r2")
    run_dbt(BUILD, settings)
    for model in MODELS:
        new = set(rows(lake, model)) - before[model]
        assert len(new) == 2, model
        assert recomputed(lake, model) == new, model

    # FIRST's file goes: its rows leave both models, and SECOND's copy is no longer a
    # duplicate: its verdict row and its (new) pair are computed, nothing else
    mark_stored_rows(lake)
    for path in first_files:
        path.unlink()
    run_dbt(BUILD, settings)
    checked = rows(lake, "int_instructions_checked")
    assert len(checked) == 6 - len(FIRST) + len(LATER)
    assert all(r["is_kept"] for r in checked.values())
    assert recomputed(lake, "int_instructions_checked") == duplicate
    assert recomputed(lake, "int_qa_pairs_unioned") == {f"ins:{k}" for k in duplicate}
    assert set(rows(lake, "int_qa_pairs_unioned")) == {f"ins:{k}" for k in checked}

    rebuilt = full_rebuild(lake, tmp_path / "rebuilt", BUILD)
    for model in MODELS:
        SEEN.same_as_full_rebuild(lake, rebuilt, model)


def test_a_table_from_before_it_was_incremental_is_computed_again_once(tmp_path: Path) -> None:
    settings = load_settings(lake_root=tmp_path / "lake")
    lake = Lake.from_settings(settings).ensure()
    import_alpaca(lake, tmp_path / "first.json", FIRST, "r1")
    run_dbt(BUILD, settings)
    expected = {model: rows(lake, model) for model in MODELS}
    with duckdb.connect(str(lake.warehouse)) as con:  # as an older lake's tables
        for model in MODELS:
            con.execute(f"alter table {model} drop column input_hash")
    mark_stored_rows(lake)
    run_dbt(BUILD, settings)
    for model in MODELS:
        assert recomputed(lake, model) == set(expected[model]), model
        assert rows(lake, model) == expected[model], model


def _translation(row_id: str, translation_id: str, prompt_version: str, at: str) -> str:
    """A verified Italian translation row of ``row_id``, as the translation model stores it."""
    return (
        "insert into int_instructions_translated by name select "
        f"'{translation_id}' as translation_id, '{row_id}' as id, 'it' as target_language, "
        "'verified' as status, 'it' as language, 'en' as source_language, "
        f"'{prompt_version}' as prompt_version, 'test:llm' as llm, "
        f"timestamptz '{at}' as translated_at, source_dataset, "
        f"'Descrivi il ciclo ({prompt_version}).' as instruction, '' as input, "
        "'L''acqua evapora e cade come pioggia.' as output "
        f"from stg_hf__instructions where id = '{row_id}'"
    )


def test_a_newer_translation_replaces_its_pair_and_nothing_else(tmp_path: Path) -> None:
    # which translation of a row and language makes the pair is chosen once, in
    # int_qa_pair_inputs (translation_id); int_qa_pairs_unioned writes that one
    settings = load_settings(lake_root=tmp_path / "lake")
    lake = Lake.from_settings(settings).ensure()
    import_alpaca(lake, tmp_path / "first.json", FIRST, "r1")
    run_dbt(BUILD, settings)
    source = sorted(rows(lake, "int_instructions_checked"))[0]
    with duckdb.connect(str(lake.warehouse)) as con:  # what an earlier translation run stored
        con.execute(_translation(source, "tr-v1", "v1", "2024-01-01 10:00:00+00"))
    run_dbt(BUILD, settings)
    pair = rows(lake, "int_qa_pairs_unioned")[f"ins:{source}:it"]
    assert pair["translation_id"] == "tr-v1" and pair["question"] == "Descrivi il ciclo (v1)."
    assert pair["parent_qa_id"] == f"ins:{source}" and pair["is_translation"]

    mark_stored_rows(lake)
    with duckdb.connect(str(lake.warehouse)) as con:  # a later prompt version's, and an older
        con.execute(_translation(source, "tr-v2", "v2", "2024-02-01 10:00:00+00"))
        con.execute(_translation(source, "tr-v0", "v0", "2023-12-01 10:00:00+00"))
    run_dbt(BUILD, settings)
    pairs = rows(lake, "int_qa_pairs_unioned")
    assert pairs[f"ins:{source}:it"]["translation_id"] == "tr-v2"
    assert pairs[f"ins:{source}:it"]["question"] == "Descrivi il ciclo (v2)."
    assert recomputed(lake, "int_qa_pairs_unioned") == {f"ins:{source}:it"}
    assert len(pairs) == len(FIRST) + 1

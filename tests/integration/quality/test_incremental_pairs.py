"""`int_qa_pairs_unioned` and `int_instructions_checked` are incremental (issue 17: at seed
scale rebuilding them wrote 720k-760k rows of text again, 33 s and 22 s of a daily refresh
that changes 1%). A build must compute only the rows whose inputs changed (new rows, a
duplicate verdict that flipped), delete the rows whose inputs left, and end with the rows a
full rebuild gives.

As in test_incremental_marts: before a build every stored row gets a sentinel in a column
the build does not read; a recomputed row loses it, a row left alone keeps it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from synthlake.ingest.hf import HFSource, import_hf_file

from synthlake.lake import Lake
from synthlake.pipeline.dbt_runner import run_dbt
from synthlake.settings import load_settings

SENTINEL = "stale-sentinel"
# the model, its key and the column that holds the sentinel (read by no model upstream)
MODELS = {
    "int_qa_pairs_unioned": ("qa_id", "generator_llm"),
    "int_instructions_checked": ("id", "source_revision"),
}
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


def rows(lake: Lake, model: str) -> dict[str, dict]:
    key = MODELS[model][0]
    with duckdb.connect(str(lake.warehouse), read_only=True) as con:
        cursor = con.execute(f"select * from {model}")
        names = [d[0] for d in cursor.description]
        return {r[names.index(key)]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}


def mark_stored_rows(lake: Lake) -> None:
    with duckdb.connect(str(lake.warehouse)) as con:
        for model, (_, column) in MODELS.items():
            con.execute(f"update {model} set {column} = '{SENTINEL}'")


def recomputed(lake: Lake, model: str) -> set[str]:
    column = MODELS[model][1]
    return {key for key, row in rows(lake, model).items() if row[column] != SENTINEL}


def without(row: dict, column: str) -> dict:
    return {k: v for k, v in row.items() if k != column}


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

    rebuilt_root = tmp_path / "rebuilt"
    shutil.copytree(lake.root, rebuilt_root)
    rebuilt_settings = load_settings(lake_root=rebuilt_root)
    run_dbt([*BUILD, "--full-refresh"], rebuilt_settings)
    rebuilt = Lake.from_settings(rebuilt_settings)
    for model, (_, column) in MODELS.items():
        ours, theirs = rows(lake, model), rows(rebuilt, model)
        assert set(ours) == set(theirs), model
        for key, row in ours.items():
            assert without(row, column) == without(theirs[key], column), (model, key)


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

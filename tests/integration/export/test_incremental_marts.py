"""`exp_train__sft` and `exp_mongo__instructions_qa` are incremental (issue 17: at 730k pairs
rebuilding them took 50 s and 45 s of a daily refresh that changes 1%). A refresh must
recompute only the pairs whose inputs changed, recompute every pair when a setting they
depend on changes, drop the pairs that left qa_pairs, and end with the rows a full rebuild
gives.

How a test sees which rows were recomputed: a sentinel in a column the refresh does not
read (judge_llm / judge_model), ``tests/fixtures/sentinels.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from synthlake.ingest.hf import HFSource, import_hf_file

from synthlake.lake import Lake
from synthlake.pipeline.dbt_runner import run_dbt
from synthlake.settings import Settings, load_settings
from tests.fixtures.sentinels import Sentinels
from tests.fixtures.sentinels import full_rebuild as rebuilt_copy

# the marts, their key and the column that holds the sentinel
MARTS = {
    "exp_train__sft": ("qa_id", "judge_llm"),
    "exp_mongo__instructions_qa": ("doc_id", "judge_model"),
}
SEEN = Sentinels(MARTS)
rows, mark_stored_rows, recomputed = SEEN.rows, SEEN.mark_stored_rows, SEEN.recomputed
same_as_full_rebuild = SEEN.same_as_full_rebuild
BUILD = ["build", "--select", *(f"+{m}" for m in MARTS), "--indirect-selection", "cautious"]

DAY_ONE = [
    ("Describe the water cycle.", "Water evaporates, condenses into clouds and falls as rain."),
    ("Why is the sky blue?", "Air scatters short blue wavelengths more than the red ones."),
    ("Name a prime number.", "Seven is a prime number: only one and seven divide it."),
]
DAY_TWO = [("Count to three.", "One, two, three."), ("Spell cat.", "C, A, T.")]
TURNS = [  # a multi-turn conversation: in the training mart, not a MongoDB document
    {"from": "human", "value": "Pick a colour."},
    {"from": "gpt", "value": "Green."},
    {"from": "human", "value": "Why?"},
    {"from": "gpt", "value": "It is calm."},
]


def write_alpaca(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text(json.dumps([{"instruction": q, "input": "", "output": a} for q, a in pairs]))
    return path


def full_rebuild(lake: Lake, tmp_path: Path, name: str) -> Lake:
    return rebuilt_copy(lake, tmp_path / name, BUILD)


@pytest.fixture(autouse=True)
def _no_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHLAKE_JUDGE_MAX_PAIRS", "0")
    monkeypatch.setenv("SYNTHLAKE_TRANSLATE_MAX_ROWS", "0")
    monkeypatch.setenv("SYNTHLAKE_TRAINING_UNSCORED", "include")  # nothing is judged here


@pytest.fixture
def day_one(tmp_path: Path) -> tuple[Settings, Lake, list[str]]:
    settings = load_settings(lake_root=tmp_path / "lake")
    lake = Lake.from_settings(settings).ensure()
    source = HFSource("teknium/openhermes", "r1")
    stats = import_hf_file(write_alpaca(tmp_path / "day1.json", DAY_ONE), lake, source, run_id="r1")
    slim = tmp_path / "slim.jsonl"
    slim.write_text(json.dumps({"conversations": TURNS}))
    import_hf_file(slim, lake, HFSource("Open-Orca/SlimOrca", "r1"), run_id="r1")
    run_dbt(BUILD, settings)
    return settings, lake, [str(p) for p in stats.files]


def test_a_refresh_recomputes_only_new_pairs_and_matches_a_full_rebuild(
    tmp_path: Path, day_one: tuple[Settings, Lake, list[str]]
) -> None:
    settings, lake, _ = day_one
    before = {mart: set(rows(lake, mart)) for mart in MARTS}
    assert len(before["exp_train__sft"]) == 4  # three single exchanges and the conversation
    assert len(before["exp_mongo__instructions_qa"]) == 3
    assert all(r["input_hash"] is not None for r in rows(lake, "exp_train__sft").values())

    mark_stored_rows(lake)
    run_dbt(BUILD, settings)  # nothing new: nothing recomputed
    for mart in MARTS:
        assert recomputed(lake, mart) == set(), mart

    source = HFSource("teknium/openhermes", "r2")
    import_hf_file(write_alpaca(tmp_path / "day2.json", DAY_TWO), lake, source, run_id="r2")
    run_dbt(BUILD, settings)
    for mart in MARTS:
        new = set(rows(lake, mart)) - before[mart]
        assert len(new) == 2, mart
        assert recomputed(lake, mart) == new, mart

    rebuilt = full_rebuild(lake, tmp_path, "rebuilt")
    for mart in MARTS:
        same_as_full_rebuild(lake, rebuilt, mart)


def test_a_changed_setting_recomputes_every_pair_it_reaches(
    monkeypatch: pytest.MonkeyPatch, day_one: tuple[Settings, Lake, list[str]]
) -> None:
    _, lake, _ = day_one
    mark_stored_rows(lake)
    # the training filter's threshold: every training row, no MongoDB document
    monkeypatch.setenv("SYNTHLAKE_TRAINING_MIN_JUDGE_SCORE", "2.5")
    run_dbt(BUILD, load_settings(lake_root=lake.root))
    assert recomputed(lake, "exp_train__sft") == set(rows(lake, "exp_train__sft"))
    assert recomputed(lake, "exp_mongo__instructions_qa") == set()

    # the quality threshold is a column of qa_pairs: both marts
    mark_stored_rows(lake)
    monkeypatch.setenv("SYNTHLAKE_JUDGE_MIN_SCORE", "2.5")
    settings = load_settings(lake_root=lake.root)
    run_dbt(BUILD, settings)
    for mart in MARTS:
        assert recomputed(lake, mart) == set(rows(lake, mart)), mart


def test_pairs_that_leave_qa_pairs_leave_the_marts(
    tmp_path: Path, day_one: tuple[Settings, Lake, list[str]]
) -> None:
    settings, lake, day_one_files = day_one
    assert day_one_files
    for path in day_one_files:  # the three OpenHermes rows' raw file goes away
        Path(path).unlink()
    run_dbt(BUILD, settings)
    assert len(rows(lake, "exp_train__sft")) == 1  # the SlimOrca conversation
    assert rows(lake, "exp_mongo__instructions_qa") == {}


def test_a_mart_from_before_it_was_incremental_is_recomputed_once(
    day_one: tuple[Settings, Lake, list[str]],
) -> None:
    settings, lake, _ = day_one
    expected = {mart: rows(lake, mart) for mart in MARTS}
    with duckdb.connect(str(lake.warehouse)) as con:  # as an older lake's tables
        for mart in MARTS:
            con.execute(f"alter table {mart} drop column input_hash")
    mark_stored_rows(lake)
    run_dbt(BUILD, settings)
    for mart in MARTS:
        assert recomputed(lake, mart) == set(expected[mart]), mart
        assert rows(lake, mart) == expected[mart], mart

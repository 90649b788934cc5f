"""`int_instructions_normalized` and `int_instructions_minhash` are incremental (issue 17:
at 760k rows normalizing and signing every row again took two minutes of a daily refresh
that changes 1%). A refresh must normalize and sign only the new and changed rows, leave
the stored rows' keep order alone, drop rows that left staging, and give the duplicate
verdicts a full rebuild gives."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from synthlake.ingest.hf import HFSource, import_hf_file

from synthlake.lake import Lake
from synthlake.pipeline.dbt_runner import run_dbt
from synthlake.settings import Settings, load_settings

SIGNED = re.compile(r"minhash: signed (\d+) rows")
BUILD = ["build", "--select", "+int_instructions_deduplicated", "--indirect-selection", "cautious"]

PAIRS = [
    ("Describe the water cycle.", "Water evaporates, condenses into clouds and falls as rain."),
    ("Why is the sky blue?", "Air scatters short blue wavelengths more than the red ones."),
    ("Name a prime number.", "Seven is a prime number: only one and seven divide it."),
]
COPY = ("describe  the WATER cycle.", "Water evaporates, condenses into clouds and falls as rain.")
CHANGED = ("Why is the sky blue?", "Molecules in the air scatter blue light the most.")


def write_alpaca(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text(json.dumps([{"instruction": q, "input": "", "output": a} for q, a in pairs]))
    return path


def table(lake: Lake, sql: str) -> list[tuple]:
    with duckdb.connect(str(lake.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def ranks(lake: Lake) -> dict[str, int]:
    """keep_rank by (instruction, output)."""
    rows = table(
        lake,
        "select s.instruction, s.output, n.keep_rank from int_instructions_normalized n "
        "join stg_hf__instructions s using (id)",
    )
    return {(q, a): rank for q, a, rank in rows}


def verdicts(lake: Lake) -> list[tuple]:
    return table(
        lake,
        "select s.instruction, s.output, d.is_kept, d.drop_reason, k.instruction, k.output "
        "from int_instructions_deduplicated d join stg_hf__instructions s using (id) "
        "left join stg_hf__instructions k on k.id = d.duplicate_of order by all",
    )


def signed_counts(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [int(m) for r in caplog.records for m in SIGNED.findall(r.getMessage())]


@pytest.fixture
def day_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> tuple[Settings, Lake]:
    caplog.set_level(logging.INFO, logger="synthlake.instructions.dedup")
    settings = load_settings(lake_root=tmp_path / "lake")
    lake = Lake.from_settings(settings).ensure()
    source = HFSource("teknium/openhermes", "r1")
    import_hf_file(write_alpaca(tmp_path / "day1.json", PAIRS), lake, source, run_id="r1")
    run_dbt(BUILD, settings)
    return settings, lake


def test_a_refresh_normalizes_and_signs_only_new_and_changed_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, day_one: tuple[Settings, Lake]
) -> None:
    settings, lake = day_one
    first = ranks(lake)
    assert sorted(first.values()) == [1, 2, 3]
    setup = [r.getMessage() for r in caplog.get_records("setup")]
    assert [int(m) for line in setup for m in SIGNED.findall(line)] == [3]

    caplog.clear()
    run_dbt(BUILD, settings)  # nothing new: nothing re-ranked, nothing signed
    assert ranks(lake) == first
    assert signed_counts(caplog) == [0]

    later = HFSource("teknium/openhermes", "r2")
    day2 = [PAIRS[0], CHANGED, PAIRS[2], COPY]  # row 1 changed, one new row (a copy of row 0)
    import_hf_file(write_alpaca(tmp_path / "day2.json", day2), lake, later, run_id="r2")
    caplog.clear()
    run_dbt(BUILD, settings)
    assert signed_counts(caplog) == [2]
    after = ranks(lake)
    # unchanged rows keep their rank; the changed and the new row come after all of them
    assert after[PAIRS[0]] == first[PAIRS[0]]
    assert after[PAIRS[2]] == first[PAIRS[2]]
    assert min(after[CHANGED], after[COPY]) > max(first.values())
    # a changed row is a new record (its id hashes its content); the old one stays
    assert after[PAIRS[1]] == first[PAIRS[1]]
    assert len(after) == 5

    incremental = verdicts(lake)
    copy = [v for v in incremental if v[0] == COPY[0]]
    assert copy == [(COPY[0], COPY[1], False, "exact_duplicate", PAIRS[0][0], PAIRS[0][1])]

    rebuilt = tmp_path / "rebuilt"
    shutil.copytree(lake.root, rebuilt)
    full = load_settings(lake_root=rebuilt)
    caplog.clear()
    run_dbt([*BUILD, "--full-refresh"], full)
    assert signed_counts(caplog) == [5]
    assert verdicts(Lake.from_settings(full)) == incremental


def test_rows_gone_from_staging_leave_the_table(
    tmp_path: Path, day_one: tuple[Settings, Lake]
) -> None:
    settings, lake = day_one
    other = HFSource("Open-Orca/SlimOrca", "r1")
    extra = [("Count to three.", "One, two, three.")]
    stats = import_hf_file(write_alpaca(tmp_path / "other.json", extra), lake, other, run_id="r2")
    run_dbt(BUILD, settings)
    assert len(table(lake, "select * from int_instructions_normalized")) == 4

    assert stats.files
    for path in stats.files:  # the SlimOrca row's raw file goes away
        Path(path).unlink()
    run_dbt(BUILD, settings)
    for model in ("normalized", "minhash", "deduplicated"):
        assert len(table(lake, f"select * from int_instructions_{model}")) == 3, model


def test_a_table_from_before_the_incremental_model_is_normalized_again_once(
    day_one: tuple[Settings, Lake],
) -> None:
    settings, lake = day_one
    before = verdicts(lake)
    with duckdb.connect(str(lake.warehouse)) as con:  # as an older lake's table
        con.execute("alter table int_instructions_normalized drop column normalized_by")
        con.execute("alter table int_instructions_normalized drop column content_hash")
    run_dbt(BUILD, settings)
    filled = table(
        lake, "select count(*) from int_instructions_normalized where normalized_by is not null"
    )
    assert filled == [(3,)]
    assert verdicts(lake) == before

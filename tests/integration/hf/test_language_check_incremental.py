"""`int_instructions_language_checked` is incremental: a build checks only rows it has not
checked under the current config (issue 17: at 760k rows a full check is ~30 minutes on
2 cores, and a daily refresh brings a few thousand new rows)."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from synthlake.ingest.hf import HFSource, import_hf_file

from synthlake.errors import DbtError
from synthlake.instructions import langid
from synthlake.lake import Lake
from synthlake.pipeline.dbt_runner import run_dbt
from synthlake.settings import Settings, load_settings

BUILD = [
    "build",
    "--select",
    "+int_instructions_language_checked",
    "--indirect-selection",
    "cautious",
]
CHECKED = re.compile(r"langid: read (\d+),")

ENGLISH = [
    (
        "Describe the water cycle in two sentences.",
        "Water evaporates from seas and lakes, "
        "rises and cools into clouds, then falls back as rain or snow that runs to the sea.",
    ),
    (
        "Why do leaves change colour in autumn?",
        "As days shorten, trees stop making the green "
        "pigment, so the yellow and orange ones that were hidden under it become visible.",
    ),
    (
        "Name a benefit of walking every day.",
        "Regular walking strengthens the heart and "
        "lungs, lifts the mood and helps people sleep better at night.",
    ),
]
ITALIAN_ANSWER = (
    "Translate into Italian: the museum opens at nine.",
    "Il museo apre alle nove del mattino e chiude la sera, tranne il lunedì quando resta chiuso.",
)


def write_alpaca(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text(json.dumps([{"instruction": q, "input": "", "output": a} for q, a in pairs]))
    return path


def checked_counts(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [int(m) for r in caplog.records for m in CHECKED.findall(r.getMessage())]


def verdicts(lake: Lake) -> dict[str, bool]:
    with duckdb.connect(str(lake.warehouse), read_only=True) as con:
        rows = con.execute(
            "select s.output, l.language_mismatch from int_instructions_language_checked l "
            "join stg_hf__instructions s using (id)"
        ).fetchall()
    return {output[:20]: mismatch for output, mismatch in rows}


@pytest.fixture
def day_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> tuple[Settings, Lake]:
    """A lake holding the three English rows, the langid lines captured."""
    caplog.set_level(logging.INFO, logger="synthlake.instructions.langid")
    settings = load_settings(lake_root=tmp_path / "lake")
    lake = Lake.from_settings(settings).ensure()
    source = HFSource("teknium/openhermes", "r1")
    import_hf_file(write_alpaca(tmp_path / "day1.json", ENGLISH), lake, source, run_id="r1")
    return settings, lake


def test_only_new_rows_and_a_new_config_are_checked(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    day_one: tuple[Settings, Lake],
) -> None:
    settings, lake = day_one

    run_dbt(BUILD, settings)
    assert checked_counts(caplog) == [3]
    first = verdicts(lake)
    assert len(first) == 3 and not any(first.values())

    caplog.clear()
    run_dbt(BUILD, settings)  # nothing new: nothing checked
    assert checked_counts(caplog) == [0]
    assert verdicts(lake) == first

    caplog.clear()
    later = HFSource("teknium/openhermes", "r2")
    import_hf_file(
        write_alpaca(tmp_path / "day2.json", [*ENGLISH, ITALIAN_ANSWER]), lake, later, run_id="r2"
    )
    run_dbt(BUILD, settings)  # one new row (the others are the same content)
    assert checked_counts(caplog) == [1]
    after = verdicts(lake)
    assert after == first | {ITALIAN_ANSWER[1][:20]: True}

    caplog.clear()
    # the models read their settings from the environment, as in a run
    monkeypatch.setenv("SYNTHLAKE_LANGID_MIN_LETTERS", "30")
    run_dbt(BUILD, settings)  # the check changed: every row is judged again
    assert checked_counts(caplog) == [4]
    assert verdicts(lake) == after


def test_a_table_from_before_the_incremental_model_is_checked_again_once(
    caplog: pytest.LogCaptureFixture, day_one: tuple[Settings, Lake]
) -> None:
    settings, lake = day_one
    run_dbt(BUILD, settings)
    # as an older lake's table: no record of what each verdict was made of
    with duckdb.connect(str(lake.warehouse)) as con:
        con.execute("alter table int_instructions_language_checked drop column content_hash")
        con.execute("alter table int_instructions_language_checked drop column langid_config")
    # nor any verdicts kept from an unfinished check (langid_progress): they would be taken
    shutil.rmtree(lake.cache / "langid", ignore_errors=True)

    caplog.clear()
    run_dbt(BUILD, settings)
    assert checked_counts(caplog) == [3]
    with duckdb.connect(str(lake.warehouse), read_only=True) as con:
        filled = con.execute(
            "select count(*) from int_instructions_language_checked "
            "where content_hash is not null and langid_config is not null"
        ).fetchall()
    assert filled == [(3,)]
    caplog.clear()
    run_dbt(BUILD, settings)
    assert checked_counts(caplog) == [0]


def test_a_build_that_dies_mid_check_resumes_from_its_stored_batches(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    day_one: tuple[Settings, Lake],
) -> None:
    settings, lake = day_one
    source = HFSource("teknium/openhermes", "r2")
    import_hf_file(
        write_alpaca(tmp_path / "day2.json", [*ENGLISH, ITALIAN_ANSWER]), lake, source, run_id="r2"
    )
    monkeypatch.setattr(langid, "BATCH_ROWS", 2)  # the model reads it at each build
    real_prepare = langid._prepare_batch
    batches: list[int] = []

    def dies_at_the_second_batch(rows, identifier):  # noqa: ANN001, ANN202
        batches.append(rows.num_rows)
        if len(batches) == 2:
            raise RuntimeError("the machine went away")
        return real_prepare(rows, identifier)

    monkeypatch.setattr(langid, "_prepare_batch", dies_at_the_second_batch)
    with pytest.raises(DbtError, match="the machine went away"):
        run_dbt(BUILD, settings)
    stored = list((lake.cache / "langid").glob("batch-*.parquet"))
    assert len(stored) == 1  # the first batch's verdicts, kept
    with duckdb.connect(str(lake.warehouse), read_only=True) as con:
        query = "select table_name from information_schema.tables"
        tables = {r[0] for r in con.execute(query).fetchall()}
    assert "int_instructions_language_checked" not in tables  # dbt stored nothing

    monkeypatch.setattr(langid, "_prepare_batch", real_prepare)
    caplog.clear()
    run_dbt(BUILD, settings)
    assert checked_counts(caplog) == [2]  # the second batch only
    expected = {output[:20]: False for _, output in ENGLISH} | {ITALIAN_ANSWER[1][:20]: True}
    assert verdicts(lake) == expected
    caplog.clear()
    run_dbt(BUILD, settings)  # the table has every verdict: the stored batch is let go
    assert checked_counts(caplog) == [0]
    assert list((lake.cache / "langid").glob("batch-*.parquet")) == []
    assert verdicts(lake) == expected

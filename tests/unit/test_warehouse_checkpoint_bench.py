"""bench/warehouse_checkpoint.py: builds the staging table from the SQL dbt compiled, in a
scratch warehouse, and reports its row groups around a real DuckDB checkpoint."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

bench = importlib.import_module("bench.warehouse_checkpoint")


def _lake_with(sql: str, root: Path) -> Path:
    compiled = root / bench.COMPILED
    compiled.parent.mkdir(parents=True)
    compiled.write_text(sql)
    return root


def _listed(out: str, prefix: str) -> list[int]:
    line = next(line for line in out.splitlines() if line.startswith(prefix))
    return ast.literal_eval(line.rsplit(": ", 1)[1])


def test_it_reports_every_row_in_its_row_groups_before_and_after_the_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = 300_000  # three row groups
    lake = _lake_with(
        '\n  create table "warehouse"."main"."stg_hf__instructions" as (\n'
        f"select range as id, repeat('x', 40) || range as output from range({rows}))",
        tmp_path,
    )
    assert bench.main(["--lake", str(lake), "--threads", "2"]) == 0
    out = capsys.readouterr().out
    assert f"rows {rows:,}" in out
    before = _listed(out, "row groups before the checkpoint")
    after = _listed(out, "row groups after")
    assert sum(before) == sum(after) == rows
    assert len(after) >= 3  # 122,880 rows at most per row group
    assert "checkpoint: " in out


def test_a_lake_built_incrementally_is_refused_with_the_file_named(tmp_path: Path) -> None:
    lake = _lake_with('insert into "warehouse"."main"."stg_hf__instructions" select 1', tmp_path)
    with pytest.raises(SystemExit, match="stg_hf__instructions.sql inserts into an existing"):
        bench.main(["--lake", str(lake)])


def test_a_lake_never_built_is_refused_with_the_file_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="stg_hf__instructions.sql is missing"):
        bench.main(["--lake", str(tmp_path)])

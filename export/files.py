"""Write the ``exp_files__*`` marts to ``lake/exports/<what>.parquet``.

Each file is written to a temporary name and renamed, so a reader never sees half a file
and a failed export leaves the previous one in place.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from synthlake.errors import ExportError, LakeError
from synthlake.lake import Lake, read_only_warehouse

PREFIX = "exp_files__"


def export_files(lake: Lake, memory_limit: str = "auto") -> dict[str, Path]:
    """Export every ``exp_files__*`` relation of the warehouse; returns name -> path.

    ``memory_limit``: the ``duckdb_memory_limit`` setting. DuckDB keeps the blocks it
    reads up to its limit, and the instructions (the staged table, texts and turns) are
    the warehouse's largest relation."""
    if not lake.warehouse.is_file():
        raise LakeError(f"no warehouse at {lake.warehouse}: run `synthlake build` first")
    lake.exports.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    with read_only_warehouse(lake.warehouse, memory_limit) as con:
        names = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables order by table_name"
            ).fetchall()
            if row[0].startswith(PREFIX)
        ]
        for name in names:
            target = lake.exports / f"{name.removeprefix(PREFIX)}.parquet"
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            try:
                con.execute(f"copy (select * from \"{name}\") to '{tmp}' (format parquet)")
                os.replace(tmp, target)
            except (duckdb.Error, OSError) as exc:
                tmp.unlink(missing_ok=True)
                raise ExportError(f"exporting {name} to {target} failed: {exc}") from exc
            written[name] = target
    return written

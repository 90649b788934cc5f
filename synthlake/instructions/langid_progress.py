"""Verdicts of a language check that has not ended, so that a resume does not make them again.

A dbt model stores its rows only when it ends. The language check of 760k rows takes ~25
minutes on 2 cores, and a run killed before its end (a SIGKILL, a machine that goes away)
had checked its rows for nothing; since the translation no longer waits for the check, a
kill during the LLM stage is likely to land there. So each batch's verdicts are also
written here, one Parquet file per batch, as soon as they are made. The next build takes
the verdicts that are still current (same id, label, content hash and check config) from
here instead of checking those rows again, and deletes the files it has nothing left to
take from (their rows are in the model's table by then).

Written by hand: dbt has no partial commit for a Python model, and the LLM journal
(``synthlake.llm``) keeps requests, not batches of rows.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa

from synthlake.instructions.langid import LANGID_SCHEMA
from synthlake.lake import atomic_write_parquet

log = logging.getLogger(__name__)

KEY = ("id", "language", "content_hash")  # with the config: what a verdict depends on


class CheckProgress:
    """The batches of unfinished checks under ``folder``, for the check ``config``."""

    def __init__(self, folder: Path, config: str) -> None:
        self.folder = folder
        self.config = config

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("batch-*.parquet"))

    def save(self, verdicts: pa.Table) -> None:
        """One checked batch (``LANGID_SCHEMA``), whole or not at all."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"batch-{uuid.uuid4().hex}.parquet"
        atomic_write_parquet(verdicts.cast(LANGID_SCHEMA), path)

    def take(
        self, con: duckdb.DuckDBPyConnection, todo: duckdb.DuckDBPyRelation
    ) -> tuple[pa.Table, duckdb.DuckDBPyRelation]:
        """The stored verdicts of ``todo``'s rows (id, language, content_hash) under this
        config, and ``todo`` without those rows. Files with none of them are deleted."""
        files = self.files()
        if not files:
            return LANGID_SCHEMA.empty_table(), todo
        stored = con.read_parquet([str(f) for f in files], filename=True).filter(
            duckdb.ColumnExpression("langid_config") == duckdb.ConstantExpression(self.config)
        )
        keys = todo.project(", ".join(f"{k} as todo_{k}" for k in KEY))
        condition = " and ".join(f"{k} = todo_{k}" for k in KEY)
        found = stored.join(keys, condition, how="semi").to_arrow_table()
        useful = set(found.column("filename").to_pylist())
        for path in files:
            if str(path) not in useful:
                path.unlink(missing_ok=True)
        # one verdict per row, should two unfinished runs have stored the same one
        first: dict[str, int] = {}
        for index, row_id in enumerate(found.column("id").to_pylist()):
            first.setdefault(row_id, index)
        rows = found.take(pa.array(sorted(first.values()), pa.int64()))
        taken = rows.select(LANGID_SCHEMA.names).cast(LANGID_SCHEMA)
        if taken.num_rows:
            log.info("langid: %d verdicts taken from an unfinished check", taken.num_rows)
            done = con.from_arrow(taken.select(list(KEY)))
            done = done.project(", ".join(f"{k} as done_{k}" for k in KEY))
            todo = todo.join(done, " and ".join(f"{k} = done_{k}" for k in KEY), how="anti")
        return taken, todo

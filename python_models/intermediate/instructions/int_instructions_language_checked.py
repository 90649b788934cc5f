"""One row per instruction example: the language lingua detects in each turn and overall,
and whether it disagrees with the dataset's label.

Incremental: only rows whose content, label or check config changed since they were
checked are read and checked (a daily refresh of 1% changed rows checks 1% of the rows).
Each batch's verdicts are also kept in the lake's cache until the table has them, so a
build killed during the check resumes where it stopped (``langid_progress``). While it
checks, DuckDB's memory limit is lowered by what the check holds outside DuckDB
(``synthlake.lake.duckdb_memory_lent``): the big SQL marts run beside it.
Thin dbt Python model (it reads refs and returns Arrow): the logic is
``synthlake.instructions.langid``.
"""

import pyarrow as pa

from synthlake.instructions.langid import (
    BATCH_ROWS,
    CHECK_FOOTPRINT_BYTES,
    LanguageIdentifier,
    check_languages,
)
from synthlake.instructions.langid_progress import CheckProgress
from synthlake.lake import Lake, duckdb_memory_lent
from synthlake.settings import load_settings

KEPT = ("content_hash", "langid_config")  # what says a stored verdict is still current


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="id", on_schema_change="append_new_columns")
    settings = load_settings()
    instructions = dbt.ref("stg_hf__instructions")
    identifier = LanguageIdentifier.for_instructions(settings, instructions)
    todo = instructions.project("id, language, turns, content_hash")
    if dbt.is_incremental:
        columns = session.sql(f"select * from {dbt.this} limit 0").columns
        if all(name in columns for name in KEPT):  # else: made before these columns: all
            current = session.sql(
                f"select id as done_id, language as done_language, content_hash as done_hash "
                f"from {dbt.this} where langid_config = $config",
                params={"config": identifier.config},
            )
            todo = todo.join(
                current,
                "id = done_id and language = done_language and content_hash = done_hash",
                how="anti",
            )
    progress = CheckProgress(Lake.from_settings(settings).cache / "langid", identifier.config)
    taken, todo = progress.take(session, todo)
    # streamed: at 760k rows the texts as one table, and their detections, cost gigabytes;
    # what the check holds outside DuckDB (its child, its batches) DuckDB gives up meanwhile
    with duckdb_memory_lent(session, CHECK_FOOTPRINT_BYTES):
        checked = check_languages(
            todo.to_arrow_reader(BATCH_ROWS), identifier, on_batch=progress.save
        )
    return pa.concat_tables([taken, checked])

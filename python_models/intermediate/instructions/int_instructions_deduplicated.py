"""One row per instruction example: kept, or an exact / near duplicate of which kept row.

Thin dbt Python model (it reads refs and returns Arrow): the logic is
``synthlake.instructions.dedup``. It gets the relation itself: DuckDB splits and hashes
the words while it scans the table and hands them over in record batches, so the texts
never come over to Python; ``keep_rank`` says the keep order, and the signatures wait in
an unnamed temporary file in the lake folder.
"""

from synthlake.instructions.dedup import DedupConfig, deduplicate
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = load_settings()
    rows = dbt.ref("int_instructions_normalized").project(
        "id, normalized_text, text_hash, keep_rank"
    )
    return deduplicate(rows, DedupConfig.from_settings(settings), spill_dir=settings.lake_path)

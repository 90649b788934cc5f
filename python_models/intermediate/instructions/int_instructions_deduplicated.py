"""One row per instruction example: kept, or an exact / near duplicate of which kept row.

Thin dbt Python model (it reads refs and returns Arrow): the logic is
``synthlake.instructions.dedup``.
"""

from synthlake.instructions.dedup import DedupConfig, deduplicate
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="table")
    rows = (
        dbt.ref("int_instructions_normalized")
        .order("keep_rank")
        .project("id, normalized_text, text_hash")
        .to_arrow_table()
    )
    return deduplicate(rows, DedupConfig.from_settings(load_settings()))

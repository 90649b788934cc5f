"""One row per instruction example: kept, or an exact / near duplicate of which kept row.

Thin dbt Python model (it reads refs and returns Arrow): the logic is
``synthlake.instructions.dedup``. The rows come with the signatures
``int_instructions_minhash`` stored (signed once per text, not on every build), so no text
comes over to Python; ``keep_rank`` says the keep order, and the signatures wait in an
unnamed temporary file in the lake folder. The result is a stream of record batches
(dbt-duckdb registers it and creates the table from it), never whole in memory. A row
without its signature (a settings change between the two models) stops the build with
its id, never leaves the row out.
"""

from synthlake.instructions.dedup import DedupConfig, deduplicate_batches, minhash_config
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = load_settings()
    config = DedupConfig.from_settings(settings)
    signed = (
        dbt.ref("int_instructions_minhash")
        .filter(f"minhash_config = '{minhash_config(config)}'")
        .project("id as signed_id, text_hash as signed_hash, n_words, signature")
    )
    rows = (
        dbt.ref("int_instructions_normalized")
        .project("id, text_hash, keep_rank")
        .join(signed, "id = signed_id and text_hash = signed_hash", how="left")
        .project("id, text_hash, keep_rank, n_words, signature")
    )
    return deduplicate_batches(rows, config, spill_dir=settings.lake_path)

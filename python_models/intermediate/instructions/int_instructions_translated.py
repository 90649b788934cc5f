"""One row per (instruction example, target language, prompt version, LLM): the verified
translation, or the quarantined attempt with its reasons, or why it is untranslatable.

Incremental: pairs already stored are not planned again, so a rebuild sends nothing to
the LLM. Thin dbt Python model (it reads refs and returns Arrow): the logic
is ``synthlake.instructions.translate``.
"""

from synthlake.instructions.translate import SOURCE_COLUMNS, translate_rows
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="translation_id", tags=["llm_stage"])
    rows = (
        dbt.ref("int_instructions_checked")
        .filter("is_translation_source")
        .project(SOURCE_COLUMNS)
        .to_arrow_table()
    )
    seed = dbt.ref("target_languages").project("language_code").to_arrow_table()
    languages = seed.column("language_code").to_pylist()
    settings = load_settings()
    done = []
    if dbt.is_incremental:
        # --retry-quarantined: quarantined pairs are planned (and asked) again
        keep = "status != 'quarantined'" if settings.llm_retry_quarantined else "true"
        query = f"select translation_id from {dbt.this} where {keep}"
        done = [r[0] for r in session.sql(query).fetchall()]
    return translate_rows(rows, languages, settings, done=done)

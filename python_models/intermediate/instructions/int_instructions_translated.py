"""One row per (instruction example, target language, prompt version, LLM): the verified
translation, or the quarantined attempt with its reasons, or why it is untranslatable.

Incremental: pairs already stored are not planned again, so a rebuild sends nothing to
the LLM. Thin dbt Python model (it reads refs and returns Arrow): the logic
is ``synthlake.instructions.translate``.
"""

import pyarrow as pa

from synthlake.instructions.translate import (
    SOURCE_COLUMNS,
    TranslateConfig,
    translate_rows,
    translation_sources,
)
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="translation_id", tags=["llm_stage"])
    settings = load_settings()
    sources = dbt.ref("int_instructions_checked").filter("is_translation_source")
    # The ids first, then the texts of the chosen rows only (max_rows of 700k+ sources).
    ids = [row[0] for row in sources.project("id").fetchall()]
    chosen = translation_sources(ids, TranslateConfig.from_settings(settings))
    picked = session.from_arrow(pa.table({"chosen_id": pa.array(chosen, pa.string())}))
    rows = sources.join(picked, "id = chosen_id").project(SOURCE_COLUMNS).to_arrow_table()
    seed = dbt.ref("target_languages").project("language_code").to_arrow_table()
    languages = seed.column("language_code").to_pylist()
    done = []
    if dbt.is_incremental:
        # --retry-quarantined: quarantined pairs are planned (and asked) again
        keep = "status != 'quarantined'" if settings.llm_retry_quarantined else "true"
        query = f"select translation_id from {dbt.this} where {keep}"
        done = [r[0] for r in session.sql(query).fetchall()]
    return translate_rows(rows, languages, settings, done=done)

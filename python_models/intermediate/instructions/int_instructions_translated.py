"""One row per (instruction example, target language, prompt version, LLM): the verified
translation, or the quarantined attempt with its reasons, or why it is untranslatable.

Incremental: pairs already stored are not planned again, so a rebuild sends nothing to
the LLM. The rows to translate are the kept rows (int_instructions_deduplicated) written
in their label's language, which is what int_instructions_checked.is_translation_source
says, but checked here only as far as the seeded selection needs: the model does not wait
for the full language check, and dbt runs its rate-limited LLM calls beside it. Thin dbt
Python model (it reads refs and returns Arrow): the logic is
``synthlake.instructions.translate``.
"""

import pyarrow as pa

from synthlake.instructions.langid import LanguageIdentifier
from synthlake.instructions.translate import (
    SOURCE_COLUMNS,
    TranslateConfig,
    checked_translation_sources,
    translate_rows,
)
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="translation_id", tags=["llm_stage"])
    settings = load_settings()
    instructions = dbt.ref("stg_hf__instructions")
    kept = dbt.ref("int_instructions_deduplicated").filter("is_kept")
    identifier = LanguageIdentifier.for_instructions(settings, instructions)  # the check's

    def rows_of(ids, columns):
        picked = session.from_arrow(pa.table({"chosen_id": pa.array(ids, pa.string())}))
        return instructions.join(picked, "id = chosen_id").project(columns).to_arrow_table()

    # The ids first, then the texts of the rows checked or chosen only (of 700k+ rows).
    chosen = checked_translation_sources(
        [row[0] for row in kept.project("id").fetchall()],
        lambda ids: rows_of(ids, "id, language, turns"),
        identifier,
        TranslateConfig.from_settings(settings),
    )
    rows = rows_of(chosen, SOURCE_COLUMNS)
    seed = dbt.ref("target_languages").project("language_code").to_arrow_table()
    languages = seed.column("language_code").to_pylist()
    done = []
    if dbt.is_incremental:
        # --retry-quarantined: quarantined pairs are planned (and asked) again
        keep = "status != 'quarantined'" if settings.llm_retry_quarantined else "true"
        query = f"select translation_id from {dbt.this} where {keep}"
        done = [r[0] for r in session.sql(query).fetchall()]
    return translate_rows(rows, languages, settings, done=done)

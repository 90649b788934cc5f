"""One row per QA answer (and question, with SYNTHLAKE_TOXICITY_ON_QUESTIONS): Detoxify's 7
scores, or toxicity_status 'unavailable' with null scores when its weights are not here.

Incremental: texts already scored by the current model are not scored again; unavailable
rows are retried at each build (cheap: the model fails to resolve before loading), and
written only once while the weights stay missing. Which pairs have such a text is decided
in DuckDB (``pending_pairs``): the texts of the other pairs are not read into Python, and
without Detoxify's weights no text is, only their hashes (``pairs_to_read``).
Thin dbt Python model (it reads refs and returns Arrow): the logic is
``synthlake.quality.toxicity``.
"""

from synthlake.quality.toxicity import pairs_to_read, pending_pairs, score_pairs
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="toxicity_id")
    settings = load_settings()
    # questions only when they are scored: a news question holds its sources' texts
    fields = "answer, question" if settings.toxicity_on_questions else "answer"
    pairs = dbt.ref("int_qa_pairs_unioned").project(f"qa_id, {fields}")
    done = None
    if dbt.is_incremental:
        stored = session.sql(
            f"select qa_id, toxicity_id, text_hash, toxicity_model, toxicity_status "
            f"from {dbt.this} where toxicity_status in ('ok', 'unavailable')"
        )
        # only pairs with a text to score or to mark: the rest never leave DuckDB
        pairs, stored = pending_pairs(pairs, stored, settings)
        done = stored.to_arrow_table()
    return score_pairs(pairs_to_read(pairs, settings).to_arrow_table(), settings, done=done)

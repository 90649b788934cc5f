"""One row per QA answer (and question, with SYNTHLAKE_TOXICITY_ON_QUESTIONS): Detoxify's 7
scores, or toxicity_status 'unavailable' with null scores when its weights are not here.

Incremental: texts already scored by the current model are not scored again; unavailable
rows are retried at each build (cheap: the model fails to resolve before loading), and
written only once while the weights stay missing.
Thin dbt Python model (it reads refs and returns Arrow): the logic is
``synthlake.quality.toxicity``.
"""

from synthlake.quality.toxicity import score_pairs
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="toxicity_id")
    pairs = dbt.ref("int_qa_pairs_unioned").project("qa_id, question, answer").to_arrow_table()
    done = None
    if dbt.is_incremental:
        done = session.sql(
            f"select toxicity_id, text_hash, toxicity_model, toxicity_status from {dbt.this} "
            "where toxicity_status in ('ok', 'unavailable')"
        ).to_arrow_table()
    return score_pairs(pairs, load_settings(), done=done)

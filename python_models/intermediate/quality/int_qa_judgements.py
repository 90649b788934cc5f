"""One row per (QA pair, judge dimension): the judge's 0-5 score and explanation, or the
quarantined answer that never parsed.

Incremental: a pair is judged again only when it changed (qa_hash), or the judge LLM or
its prompt version did; a rebuild with nothing new sends nothing. Thin dbt Python model
(it reads refs and returns Arrow): the logic is ``synthlake.quality.judge``.
"""

from synthlake.quality.judge import judge_pairs
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="judgement_id", tags=["llm_stage"])
    pairs = dbt.ref("int_qa_pairs_unioned").project(
        "qa_id, domain, qa_hash, question, input, answer, language, sources"
    )
    dimensions = dbt.ref("judge_dimensions").to_arrow_table().to_pylist()
    settings = load_settings()
    done = None
    if dbt.is_incremental:
        # --retry-quarantined: quarantined judgements are asked again
        keep = "judge_status != 'quarantined'" if settings.llm_retry_quarantined else "true"
        done = session.sql(
            f"select judgement_id, qa_hash, judge_llm, prompt_version from {dbt.this} where {keep}"
        ).to_arrow_table()
    return judge_pairs(pairs.to_arrow_table(), dimensions, settings, done=done)

"""One row per (QA pair, judge dimension): the judge's 0-5 score and explanation, or the
quarantined answer that never parsed.

Incremental: a pair is judged again only when it changed (qa_hash), or the judge LLM or
its prompt version did; a rebuild with nothing new sends nothing. Thin dbt Python model
(it reads refs and returns Arrow): the logic is ``synthlake.quality.judge``.
"""

import pyarrow as pa

from synthlake.quality.judge import judge_pairs, judged_pair_ids
from synthlake.settings import load_settings

COLUMNS = "qa_id, domain, qa_hash, question, input, answer, language, sources"


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="judgement_id", tags=["llm_stage"])
    settings = load_settings()
    pairs = dbt.ref("int_qa_pairs_unioned")
    if settings.judge_max_pairs is not None:
        # the ids first, then the texts of the chosen pairs only (of 700k+ at seed scale)
        chosen = judged_pair_ids([row[0] for row in pairs.project("qa_id").fetchall()], settings)
        picked = session.from_arrow(pa.table({"chosen_id": pa.array(chosen, pa.string())}))
        pairs = pairs.join(picked, "qa_id = chosen_id")
    pairs = pairs.project(COLUMNS).order("qa_id")  # a join keeps no order: judge_limit cuts it
    dimensions = dbt.ref("judge_dimensions").to_arrow_table().to_pylist()
    done = None
    if dbt.is_incremental:
        # --retry-quarantined: quarantined judgements are asked again
        keep = "judge_status != 'quarantined'" if settings.llm_retry_quarantined else "true"
        done = session.sql(
            f"select judgement_id, qa_hash, judge_llm, prompt_version from {dbt.this} where {keep}"
        ).to_arrow_table()
    return judge_pairs(pairs.to_arrow_table(), dimensions, settings, done=done)

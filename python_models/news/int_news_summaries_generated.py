"""One row per integrated summary of a multi-article cluster (one QA pair). Incremental.

A cluster is summarized once per prompt version and LLM (qa_id); a cluster whose summary
failed validation has no row and is retried by the next run (from the LLM cache, so at
no model cost unless the prompt or the model changed). All calls go through the LLM
runner, stage 'summarize'. Logic: synthlake.news_integration.summarize.
"""

from synthlake.news_integration.summarize import summarize_cluster_sources
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="qa_id", tags=["llm_stage"])
    settings = load_settings()
    done = set()
    if dbt.is_incremental:
        done = {row[0] for row in session.sql(f"select qa_id from {dbt.this}").fetchall()}
    sources = dbt.ref("int_news_cluster_sources").to_arrow_table()
    return summarize_cluster_sources(sources, settings, skip_qa_ids=done)

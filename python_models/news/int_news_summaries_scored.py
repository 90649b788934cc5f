"""One row per summary: its similarity to each source, the statistics and the flag. Incremental.

Rows are (re)computed for new summaries and whenever the embedder, the text mode or the
hallucination thresholds differ from those stored. Logic: synthlake.news_integration.faithfulness.
"""

from synthlake.news_integration.faithfulness import score_summaries, stale_qa_ids
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="qa_id")
    settings = load_settings()
    summaries = dbt.ref("int_news_summaries_generated").project(
        "qa_id, cluster_id, answer, source_article_ids"
    )
    sources = dbt.ref("int_news_cluster_sources").project("cluster_id, article_id, embedding")
    scored = None
    if dbt.is_incremental:
        scored = session.sql(f"select * from {dbt.this}").to_arrow_table()
    summaries = summaries.to_arrow_table()
    todo = stale_qa_ids(summaries, scored, settings)
    return score_summaries(summaries, sources.to_arrow_table(), settings, only=todo)

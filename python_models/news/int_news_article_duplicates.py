"""One row per staged article: the canonical article it is a copy of (itself if none), and why.

Logic: synthlake.news_integration.dedup.find_duplicates (URL variants, content hashes, MinHash LSH).
"""

from synthlake.news_integration.dedup import find_duplicates
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = load_settings()
    articles = dbt.ref("stg_news__articles").project(
        "id, url, outlet, content, content_hash, published_at"
    )
    return find_duplicates(articles.to_arrow_table(), settings.news_near_dup_threshold)

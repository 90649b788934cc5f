"""One row per canonical article: the story cluster it belongs to.

Agglomerative clustering on the cosine of the article vectors plus the share of named
entities (title, subtitle, lead) within a time window (none for an article without an event
time), component by component of the sparse similarity graph.
Logic: synthlake.news_integration.cluster.
"""

from synthlake.news_integration.cluster import ClusterParams, assign_clusters
from synthlake.news_integration.embed import EmbeddingKey
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = load_settings()
    key = EmbeddingKey.from_settings(settings)
    articles = dbt.ref("int_news_articles_deduplicated").set_alias("a")
    embeddings = dbt.ref("int_news_article_embeddings").set_alias("e")
    embedder = key.embedder.replace("'", "''")
    joined = articles.join(
        embeddings.filter(f"embedder = '{embedder}' and text_mode = '{key.text_mode}'"),
        "a.article_id = e.article_id and a.content_hash = e.content_hash",
        how="left",
    ).project(
        "a.article_id, a.event_at, a.title, a.subtitle, a.content, e.embedding_id, e.embedding"
    )
    return assign_clusters(joined.to_arrow_table(), ClusterParams.from_settings(settings))

"""One row per (article version, embedder, text mode): the article's vector. Incremental.

A vector is computed once per article id and content hash (a changed article gets a new
row); switching the embedder or the text mode embeds everything again under the new key
and leaves the old vectors in place. Logic: synthlake.news_integration.embed; with
SYNTHLAKE_DASK_ADDRESS set the rows are embedded on that Dask cluster (synthlake.dask_embeddings).
"""

from synthlake.dask_embeddings import embed_articles_scaled
from synthlake.news_integration.embed import EMBEDDINGS_SCHEMA, EmbeddingKey
from synthlake.settings import load_settings


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="embedding_id")
    settings = load_settings()
    key = EmbeddingKey.from_settings(settings)
    articles = dbt.ref("int_news_articles_deduplicated").project(
        "article_id, content_hash, title, subtitle, content"
    )
    if dbt.is_incremental:
        embedder = key.embedder.replace("'", "''")
        articles = articles.filter(
            "article_id || ':' || content_hash not in ("
            f"select article_id || ':' || content_hash from {dbt.this} "
            f"where embedder = '{embedder}' and text_mode = '{key.text_mode}')"
        )
    todo = articles.to_arrow_table()
    if todo.num_rows == 0:
        return EMBEDDINGS_SCHEMA.empty_table()
    return embed_articles_scaled(todo, settings, key)

"""Model-bound work on a Dask cluster through Prefect's task runner (``prefect-dask``).

Default: in-process. With ``SYNTHLAKE_DASK_ADDRESS=tcp://scheduler:8786`` the embedding
stage cuts its rows into partitions of ``SYNTHLAKE_DASK_PARTITION_ROWS`` and embeds each as
a Prefect task on the cluster (``DaskTaskRunner(address=...)``); each worker loads the
embedder once. The result is the same table, in the same row order, as in-process.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import TYPE_CHECKING

import pyarrow as pa

from synthlake.embeddings import get_embedder
from synthlake.news_integration.embed import EmbeddingKey, embed_articles
from synthlake.settings import Settings

if TYPE_CHECKING:
    from prefect import Task

log = logging.getLogger(__name__)


def embed_partition(part: pa.Table, embedder: str, key: EmbeddingKey) -> pa.Table:
    """One partition on a worker (the embedder is loaded once per worker process)."""
    return embed_articles(part, get_embedder(embedder), key)


@cache
def embed_partition_task() -> Task:
    # built on first use: the in-process default (and a plain `dbt build`) imports no Prefect
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    return task(embed_partition, name="embed_partition", cache_policy=NO_CACHE, retries=2)


def partitions(table: pa.Table, rows: int) -> list[pa.Table]:
    return [table.slice(start, rows) for start in range(0, table.num_rows, rows)]


def embed_on_dask(
    articles: pa.Table, key: EmbeddingKey, *, embedder: str, address: str, partition_rows: int
) -> pa.Table:
    """``embed_articles`` with the partitions run as Prefect tasks on the Dask cluster."""
    from prefect_dask import DaskTaskRunner

    parts = partitions(articles, partition_rows)
    log.info("embedding %d articles in %d partitions on %s", articles.num_rows, len(parts), address)
    with DaskTaskRunner(address=address) as runner:
        futures = [
            runner.submit(embed_partition_task(), {"part": part, "embedder": embedder, "key": key})
            for part in parts
        ]
        results = [future.result() for future in futures]
    return pa.concat_tables(results)


def embed_articles_scaled(articles: pa.Table, settings: Settings, key: EmbeddingKey) -> pa.Table:
    """The embedding stage: on the Dask cluster when ``settings.dask_address`` is set."""
    if settings.dask_address and articles.num_rows > 0:
        return embed_on_dask(
            articles,
            key,
            embedder=settings.embedder,
            address=settings.dask_address,
            partition_rows=settings.dask_partition_rows,
        )
    return embed_articles(articles, get_embedder(settings=settings), key)

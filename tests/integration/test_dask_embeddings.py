"""The embedding stage on a local Dask cluster (127.0.0.1) through Prefect's DaskTaskRunner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthlake.dask_embeddings import embed_articles_scaled, partitions
from synthlake.embeddings import get_embedder, loaded_embedders
from synthlake.news_integration.embed import EmbeddingKey, embed_articles, vectors_of
from synthlake.news_integration.labelled import load_labelled
from synthlake.settings import load_settings

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "news_stories"


def fixture_articles():
    table = load_labelled(FIXTURE / "articles.jsonl", FIXTURE / "stories.csv")
    return table.rename_columns(["article_id" if c == "id" else c for c in table.column_names])


@pytest.mark.parametrize(("rows", "size", "expected"), [(22, 5, [5, 5, 5, 5, 2]), (3, 5, [3])])
def test_partitions_cover_every_row_in_order(rows: int, size: int, expected: list[int]) -> None:
    table = fixture_articles().slice(0, rows)
    parts = partitions(table, size)
    assert [p.num_rows for p in parts] == expected
    assert [a for p in parts for a in p.column("article_id").to_pylist()] == table.column(
        "article_id"
    ).to_pylist()


@pytest.mark.slow
def test_embeddings_on_a_local_dask_cluster_match_in_process(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster
    from prefect.testing.utilities import prefect_test_harness

    articles = fixture_articles()
    key = EmbeddingKey("usem3", "title_lead")
    in_process = embed_articles(articles, get_embedder("usem3"), key)

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        prefect_test_harness(server_startup_timeout=120),
    ):
        settings = load_settings(
            lake_root=tmp_path / "lake",
            dask_address=cluster.scheduler_address,
            dask_partition_rows=5,
        )
        on_dask = embed_articles_scaled(articles, settings, key)
        with Client(cluster) as client:
            loaded = client.run(loaded_embedders)  # {worker address: its embedders}

    assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    assert any("usem3" in names for names in loaded.values())  # computed on the workers
    for column in ("embedding_id", "article_id", "content_hash", "n_texts", "model"):
        assert on_dask.column(column).to_pylist() == in_process.column(column).to_pylist()
    np.testing.assert_allclose(vectors_of(on_dask), vectors_of(in_process), atol=1e-5)

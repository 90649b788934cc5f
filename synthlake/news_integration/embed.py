"""Article embeddings: one vector per article version (content hash) and embedder.

The text embedded is set by ``news_embed_text``:

- ``title_lead`` (default): title, subtitle and the lead (the opening paragraphs, about
  30-120 words) in one text. Different outlets' versions of a story share their facts in
  the title and lead, and diverge in the angle further down.
- ``title_chunks``: the title prefixed to each ~120-word chunk of the body, each chunk
  embedded, and the mean of the chunk vectors (re-normalized). More of the body counts,
  at several times the cost.

Agency datelines and credit lines are stripped first (see ``synthlake.news_integration.text``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import numpy as np
import pyarrow as pa

from synthlake.embeddings import Embedder, embedder_model_name, normalize_rows
from synthlake.lake import short_id
from synthlake.news_integration.text import chunks, lead

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

EmbedText = Literal["title_lead", "title_chunks"]

EMBEDDINGS_SCHEMA = pa.schema(
    [
        ("embedding_id", pa.string()),
        ("article_id", pa.string()),
        ("content_hash", pa.string()),
        ("embedder", pa.string()),  # the setting ('usem3', 'sentence-transformers:...')
        ("text_mode", pa.string()),
        ("model", pa.string()),  # the weights, with version
        ("dim", pa.int32()),
        ("n_texts", pa.int32()),  # texts embedded for this article (chunks)
        ("embedding", pa.list_(pa.float32())),
        ("embedded_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True, slots=True)
class EmbeddingKey:
    """Which vectors a run wants: the embedder setting and the text mode."""

    embedder: str
    text_mode: str

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddingKey:
        return cls(settings.embedder, settings.news_embed_text)

    def embedding_id(self, article_id: str, content_hash: str) -> str:
        return short_id(article_id, content_hash, self.embedder, self.text_mode, length=24)

    @property
    def model(self) -> str:
        return embedder_model_name(self.embedder)


def article_texts(
    title: str | None, subtitle: str | None, content: str | None, mode: str
) -> list[str]:
    """The text(s) to embed for one article under ``mode``."""
    head = ". ".join(p.strip().rstrip(".") for p in (title, subtitle) if p and p.strip())
    if mode == "title_lead":
        body = lead(content)
        return [f"{head}.\n{body}".strip() if head else body]
    if mode == "title_chunks":
        pieces = chunks(content) or [""]
        return [f"{head}.\n{piece}".strip() if head else piece for piece in pieces]
    raise ValueError(f"unknown news_embed_text {mode!r}; use 'title_lead' or 'title_chunks'")


def embed_articles(articles: pa.Table, embedder: Embedder, key: EmbeddingKey) -> pa.Table:
    """One row per input article with its vector (``EMBEDDINGS_SCHEMA``).

    ``articles`` needs article_id, content_hash, title, subtitle, content. All texts of the
    batch go to the embedder in one call (it batches), then chunk vectors are averaged.
    """
    if articles.num_rows == 0:
        return EMBEDDINGS_SCHEMA.empty_table()
    rows = articles.select(["article_id", "content_hash", "title", "subtitle", "content"])
    ids = rows.column("article_id").to_pylist()
    hashes = rows.column("content_hash").to_pylist()
    texts: list[str] = []
    owners: list[int] = []
    for i, (title, subtitle, content) in enumerate(
        zip(
            rows.column("title").to_pylist(),
            rows.column("subtitle").to_pylist(),
            rows.column("content").to_pylist(),
            strict=True,
        )
    ):
        pieces = article_texts(title, subtitle, content, key.text_mode)
        texts.extend(pieces)
        owners.extend([i] * len(pieces))
    vectors = embedder.encode(texts)
    owner = np.asarray(owners)
    counts = np.bincount(owner, minlength=len(ids))
    sums = np.zeros((len(ids), embedder.dim), dtype=np.float32)
    np.add.at(sums, owner, vectors)
    article_vectors = normalize_rows(sums)
    now = datetime.now(UTC)
    log.info("embedded %d articles (%d texts, %s, %s)", len(ids), len(texts), embedder.model, key)
    return pa.table(
        {
            "embedding_id": [key.embedding_id(a, h) for a, h in zip(ids, hashes, strict=True)],
            "article_id": ids,
            "content_hash": hashes,
            "embedder": [key.embedder] * len(ids),
            "text_mode": [key.text_mode] * len(ids),
            "model": [embedder.model] * len(ids),
            "dim": pa.array([embedder.dim] * len(ids), pa.int32()),
            "n_texts": pa.array(counts.astype(np.int32)),
            "embedding": pa.FixedSizeListArray.from_arrays(
                pa.array(article_vectors.reshape(-1), pa.float32()), embedder.dim
            ).cast(pa.list_(pa.float32())),
            "embedded_at": pa.array([now] * len(ids), pa.timestamp("us", tz="UTC")),
        },
        schema=EMBEDDINGS_SCHEMA,
    )


def vectors_of(table: pa.Table, column: str = "embedding") -> np.ndarray:
    """A list<float> column as an ``(n, dim)`` float32 matrix (all rows the same dim)."""
    if table.num_rows == 0:
        return np.zeros((0, 0), dtype=np.float32)
    col = table.column(column).combine_chunks()
    flat = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    lengths = np.diff(np.asarray(col.offsets.to_numpy(zero_copy_only=False)))
    if lengths.min() != lengths.max():
        raise ValueError(f"{column}: vectors of different sizes {sorted(set(lengths))}")
    return flat.reshape(table.num_rows, int(lengths[0]))


__all__ = [
    "EMBEDDINGS_SCHEMA",
    "EmbedText",
    "EmbeddingKey",
    "article_texts",
    "embed_articles",
    "vectors_of",
]

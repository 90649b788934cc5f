"""How close each summary stays to its sources: similarities, their spread, a flag.

For a QA pair, ``similarity`` is the list (aligned with the pair's sources, in their order)
of the **raw cosine similarity**, in [-1, 1] (not the angular similarity), between the
summary's vector and each source's stored vector. Both come from the same embedder
(``settings.embedder``): a source's vector is the one clustering used
(``int_news_article_embeddings``: title + lead, or the title+chunk mean), the summary's is
the mean of its ~120-word chunks' vectors, re-normalized. From the list: mean, min, max,
spread (max - min) and the population standard deviation.

``hallucination_flag`` is set when the mean is below ``news_hallucination_mean_similarity``
or the minimum is below ``news_hallucination_min_similarity``: a summary far from every
source, or one that leaves a source behind or contradicts it, is what the original study
filtered on. The thresholds used are stored with each row; rows are scored again when the
settings change.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from synthlake.embeddings import get_embedder, normalize_rows
from synthlake.news_integration.embed import EmbeddingKey, vectors_of
from synthlake.news_integration.text import chunks

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

SCORES_SCHEMA = pa.schema(
    [
        ("qa_id", pa.string()),
        ("cluster_id", pa.string()),
        ("embedder", pa.string()),
        ("text_mode", pa.string()),
        ("model", pa.string()),
        ("similarity", pa.list_(pa.float64())),  # raw cosine per source, sources' order
        ("similarity_mean", pa.float64()),
        ("similarity_min", pa.float64()),
        ("similarity_max", pa.float64()),
        ("similarity_spread", pa.float64()),  # max - min
        ("similarity_std", pa.float64()),  # population standard deviation
        ("hallucination_flag", pa.bool_()),
        ("hallucination_reason", pa.string()),  # low_mean, low_min, low_mean_and_min; null
        ("min_similarity_threshold", pa.float64()),
        ("mean_similarity_threshold", pa.float64()),
        ("scored_at", pa.timestamp("us", tz="UTC")),
    ]
)


def similarity_stats(similarity: np.ndarray) -> dict[str, float]:
    values = np.asarray(similarity, dtype=np.float64)
    if values.size == 0:
        raise ValueError("a summary needs at least one source to be scored")
    return {
        "similarity_mean": float(values.mean()),
        "similarity_min": float(values.min()),
        "similarity_max": float(values.max()),
        "similarity_spread": float(values.max() - values.min()),
        "similarity_std": float(values.std()),
    }


def hallucination(
    mean: float, low: float, min_threshold: float, mean_threshold: float
) -> str | None:
    """The reason a summary is flagged, or None."""
    low_mean, low_min = mean < mean_threshold, low < min_threshold
    if low_mean and low_min:
        return "low_mean_and_min"
    if low_mean:
        return "low_mean"
    if low_min:
        return "low_min"
    return None


def summary_vectors(texts: list[str], embedder: Any) -> np.ndarray:
    """One vector per text: the re-normalized mean of its chunks' vectors."""
    pieces: list[str] = []
    owners: list[int] = []
    for i, text in enumerate(texts):
        parts = chunks(text) or [text or ""]
        pieces.extend(parts)
        owners.extend([i] * len(parts))
    vectors = embedder.encode(pieces)
    sums = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    np.add.at(sums, np.asarray(owners, dtype=np.int64), vectors)
    return normalize_rows(sums)


def stale_qa_ids(
    summaries: pa.Table, scored: pa.Table | None, settings: Settings
) -> set[str] | None:
    """QA ids to (re)score: new ones, and those scored under other settings; None = all."""
    if scored is None or scored.num_rows == 0:
        return None
    key = EmbeddingKey.from_settings(settings)
    fresh = {
        row["qa_id"]
        for row in scored.select(
            [
                "qa_id",
                "embedder",
                "text_mode",
                "min_similarity_threshold",
                "mean_similarity_threshold",
            ]
        ).to_pylist()
        if row["embedder"] == key.embedder
        and row["text_mode"] == key.text_mode
        and row["min_similarity_threshold"] == settings.news_hallucination_min_similarity
        and row["mean_similarity_threshold"] == settings.news_hallucination_mean_similarity
    }
    return set(summaries.column("qa_id").to_pylist()) - fresh


def score_summaries(
    summaries: pa.Table,
    sources: pa.Table,
    settings: Settings,
    *,
    only: set[str] | None = None,
    embedder: Any = None,
) -> pa.Table:
    """``SCORES_SCHEMA`` rows for ``summaries`` (qa_id, cluster_id, answer, source_article_ids).

    ``sources`` holds the current clusters' members (cluster_id, article_id, embedding); a
    summary of a cluster that no longer exists is not scored (it is not in news_qa either).
    """
    if only is not None:
        summaries = summaries.filter(
            pa.array([q in only for q in summaries.column("qa_id").to_pylist()], pa.bool_())
        )
    if summaries.num_rows == 0 or sources.num_rows == 0:
        return SCORES_SCHEMA.empty_table()
    key = EmbeddingKey.from_settings(settings)
    source_vectors = vectors_of(sources)
    index = {
        (c, a): i
        for i, (c, a) in enumerate(
            zip(
                sources.column("cluster_id").to_pylist(),
                sources.column("article_id").to_pylist(),
                strict=True,
            )
        )
    }
    rows = summaries.to_pylist()
    scorable = [
        r for r in rows if all((r["cluster_id"], a) in index for a in r["source_article_ids"])
    ]
    if len(scorable) < len(rows):
        log.info(
            "faithfulness: %d summaries of former clusters not scored", len(rows) - len(scorable)
        )
    if not scorable:
        return SCORES_SCHEMA.empty_table()
    embedder = embedder or get_embedder(settings=settings)
    answers = summary_vectors([r["answer"] for r in scorable], embedder)
    min_t = settings.news_hallucination_min_similarity
    mean_t = settings.news_hallucination_mean_similarity
    now = datetime.now(UTC)
    out = []
    for row, vector in zip(scorable, answers, strict=True):
        ids = [index[(row["cluster_id"], a)] for a in row["source_article_ids"]]
        similarity = np.clip(source_vectors[ids] @ vector, -1.0, 1.0).astype(np.float64)
        stats = similarity_stats(similarity)
        reason = hallucination(stats["similarity_mean"], stats["similarity_min"], min_t, mean_t)
        out.append(
            {
                "qa_id": row["qa_id"],
                "cluster_id": row["cluster_id"],
                "embedder": key.embedder,
                "text_mode": key.text_mode,
                "model": embedder.model,
                "similarity": similarity.tolist(),
                **stats,
                "hallucination_flag": reason is not None,
                "hallucination_reason": reason,
                "min_similarity_threshold": min_t,
                "mean_similarity_threshold": mean_t,
                "scored_at": now,
            }
        )
    flagged = sum(r["hallucination_flag"] for r in out)
    log.info("faithfulness: scored %d summaries, flagged %d", len(out), flagged)
    return pa.Table.from_pylist(out, schema=SCORES_SCHEMA)


__all__ = [
    "SCORES_SCHEMA",
    "hallucination",
    "score_summaries",
    "similarity_stats",
    "stale_qa_ids",
    "summary_vectors",
]

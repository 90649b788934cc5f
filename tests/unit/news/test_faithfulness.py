from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from synthlake.news_integration.faithfulness import (
    SCORES_SCHEMA,
    hallucination,
    score_summaries,
    similarity_stats,
    stale_qa_ids,
)
from synthlake.settings import load_settings


def test_stats_of_a_similarity_list() -> None:
    stats = similarity_stats(np.array([0.2, 0.6, 0.7]))
    assert stats["similarity_mean"] == pytest.approx(0.5)
    assert stats["similarity_min"] == pytest.approx(0.2)
    assert stats["similarity_max"] == pytest.approx(0.7)
    assert stats["similarity_spread"] == pytest.approx(0.5)
    assert stats["similarity_std"] == pytest.approx(np.std([0.2, 0.6, 0.7]))
    with pytest.raises(ValueError, match="at least one source"):
        similarity_stats(np.array([]))


@pytest.mark.parametrize(
    ("mean", "low", "reason"),
    [
        (0.7, 0.6, None),
        (0.45, 0.45, "low_mean"),
        (0.6, 0.3, "low_min"),
        (0.3, 0.2, "low_mean_and_min"),
    ],
)
def test_hallucination_reason(mean: float, low: float, reason: str | None) -> None:
    assert hallucination(mean, low, min_threshold=0.4, mean_threshold=0.5) == reason


def sources_and_summaries(labelled, summary_of: dict[str, str]):
    table, vectors = labelled
    pick = [i for i, s in enumerate(table.column("story_id").to_pylist()) if s == "s01"]
    ids = [table.column("id")[i].as_py() for i in pick]
    sources = pa.table(
        {
            "cluster_id": ["c1"] * len(pick),
            "article_id": ids,
            "embedding": pa.array([vectors[i].tolist() for i in pick], pa.list_(pa.float32())),
        }
    )
    summaries = pa.table(
        {
            "qa_id": list(summary_of),
            "cluster_id": ["c1"] * len(summary_of),
            "answer": list(summary_of.values()),
            # the stored order of the sources is the order of the similarity list
            "source_article_ids": [list(reversed(ids))] * len(summary_of),
        }
    )
    return table, vectors, pick, sources, summaries


def test_scores_are_aligned_with_the_sources_and_flag_an_unrelated_text(labelled, embedder) -> None:
    faithful = (
        "In Lombardia i treni regionali si fermano per 24 ore tra martedì e mercoledì per "
        "uno sciopero del personale: sono previste fasce di garanzia al mattino e alla sera."
    )
    unrelated = (
        "Una ricetta di biscotti al burro: farina, zucchero, uova e un pizzico di sale, "
        "da cuocere in forno per dodici minuti."
    )
    settings = load_settings()
    _, vectors, pick, sources, summaries = sources_and_summaries(
        labelled, {"good": faithful, "bad": unrelated}
    )
    out = score_summaries(summaries, sources, settings, embedder=embedder)
    assert out.schema == SCORES_SCHEMA
    rows = {r["qa_id"]: r for r in out.to_pylist()}
    answer = embedder.encode([faithful])[0]
    expected = [float(vectors[i] @ answer) for i in reversed(pick)]
    assert rows["good"]["similarity"] == pytest.approx(expected, abs=1e-4)
    assert all(-1 <= s <= 1 for r in rows.values() for s in r["similarity"])
    assert rows["good"]["hallucination_flag"] is False
    assert rows["bad"]["hallucination_flag"] is True
    assert rows["bad"]["similarity_mean"] < rows["good"]["similarity_mean"]


def test_only_new_or_differently_scored_rows_are_stale(labelled, embedder) -> None:
    settings = load_settings()
    _, _, _, sources, summaries = sources_and_summaries(labelled, {"q1": "Sciopero dei treni."})
    scored = score_summaries(summaries, sources, settings, embedder=embedder)
    assert stale_qa_ids(summaries, None, settings) is None
    assert stale_qa_ids(summaries, scored, settings) == set()
    stricter = load_settings(news_hallucination_min_similarity=0.9)
    assert stale_qa_ids(summaries, scored, stricter) == {"q1"}
    assert score_summaries(summaries, sources, settings, only=set()).num_rows == 0


def test_a_summary_of_a_former_cluster_is_not_scored(labelled, embedder) -> None:
    settings = load_settings()
    _, _, _, sources, summaries = sources_and_summaries(labelled, {"q1": "Sciopero dei treni."})
    gone = summaries.set_column(1, "cluster_id", pa.array(["old"]))
    assert score_summaries(gone, sources, settings, embedder=embedder).num_rows == 0

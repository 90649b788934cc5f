"""Articles into stories: agglomerative clustering on cosine distance, within a time window.

A story is a cluster of the agglomerative hierarchical clustering of the article vectors
(scikit-learn, cosine distance ``1 - cos``, ``average`` or ``complete`` linkage, cut at
``news_cluster_distance_threshold``). The result is a partition (no article in two
clusters), and membership is transitive by construction. Two articles published more than
``news_cluster_window_days`` apart are given the largest cosine distance (2), because a
news story lives within days: under complete linkage they never share a cluster, under
average linkage such a pair weighs against a merge like two unrelated articles would.

Why it scales (rather than one n x n matrix over the whole archive): with average or
complete linkage, two clusters merge only when some pair across them is closer than the
threshold, so every cluster is connected in the sparse graph of "closer than the threshold
and within the window" pairs. The graph is built block by block along time (each article
is compared only with the articles of its window: O(n * articles per window)); its
connected components are independent sub-problems, each clustered exactly with the full
agglomerative algorithm on its own small matrix. The answer is the same as clustering the
whole archive at once under the same distance, at a cost that grows with n, not n^2. A
component larger than ``max_component`` (a chain of near-identical articles, e.g. daily
bulletins) falls back to scikit-learn's connectivity-constrained clustering on that graph
(linkage approximated along the graph's edges), with a warning.

Results do not depend on row order: rows are put in (time, id) order first, and a
cluster's id is a hash of its sorted member ids, so it is stable across runs as long as
its membership does not change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from synthlake.lake import short_id

log = logging.getLogger(__name__)

Linkage = Literal["average", "complete"]
FAR = 2.0  # the largest cosine distance: pairs outside the time window
DAY_S = 86_400.0

ASSIGNED_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("cluster_id", pa.string()),
        ("cluster_size", pa.int32()),
        ("nearest_member_similarity", pa.float64()),  # null for a singleton
        ("embedding_id", pa.string()),
        ("event_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True, slots=True)
class ClusterParams:
    distance_threshold: float = 0.38
    linkage: Linkage = "average"
    window_days: float = 2.0
    max_component: int = 4000
    block_rows: int = 1024  # rows per similarity block (memory: block_rows x window rows)

    def __post_init__(self) -> None:
        if not 0.0 < self.distance_threshold < FAR:
            raise ValueError(f"distance_threshold must be in (0, 2), got {self.distance_threshold}")
        if self.linkage not in ("average", "complete"):
            raise ValueError(f"linkage must be 'average' or 'complete', got {self.linkage!r}")
        if self.window_days <= 0:
            raise ValueError(f"window_days must be > 0, got {self.window_days}")

    @classmethod
    def from_settings(cls, settings: Any) -> ClusterParams:
        return cls(
            distance_threshold=settings.news_cluster_distance_threshold,
            linkage=settings.news_cluster_linkage,
            window_days=settings.news_cluster_window_days,
        )


@dataclass(slots=True)
class ClusterStats:
    articles: int = 0
    edges: int = 0
    components: int = 0
    largest_component: int = 0
    fallback_components: int = 0
    clusters: int = 0
    multi_article_clusters: int = 0
    seconds: float = 0.0

    def as_log(self) -> str:
        return ", ".join(f"{f.name} {getattr(self, f.name)}" for f in fields(self))


@dataclass(slots=True)
class Clustering:
    """Per input row (input order): its cluster id, cluster size and nearest member."""

    cluster_ids: list[str]
    sizes: np.ndarray
    nearest_similarity: np.ndarray  # max cosine to another member; NaN for a singleton
    stats: ClusterStats = field(default_factory=ClusterStats)


def cluster_id_for(member_ids: Sequence[str]) -> str:
    """A cluster's id: a hash of its sorted member ids (stable while membership is)."""
    return short_id("news-cluster", *sorted(member_ids))


def candidate_edges(
    vectors: np.ndarray, times_s: np.ndarray, params: ClusterParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i < j, rows sorted by time) within the window and closer than the threshold.

    Returns (i, j, cosine similarity). Rows must already be in time order.
    """
    n = len(vectors)
    window = params.window_days * DAY_S
    min_sim = 1.0 - params.distance_threshold
    rows_i: list[np.ndarray] = []
    rows_j: list[np.ndarray] = []
    sims: list[np.ndarray] = []
    for start in range(0, n, params.block_rows):
        stop = min(n, start + params.block_rows)
        hi = int(np.searchsorted(times_s, times_s[stop - 1] + window, side="right"))
        block = vectors[start:stop] @ vectors[start:hi].T  # (stop-start, hi-start)
        ii = np.arange(start, stop)[:, None]
        jj = np.arange(start, hi)[None, :]
        mask = (jj > ii) & (block > min_sim)
        mask &= (times_s[start:hi][None, :] - times_s[start:stop][:, None]) <= window
        bi, bj = np.nonzero(mask)
        rows_i.append(bi + start)
        rows_j.append(bj + start)
        sims.append(block[bi, bj])
    if not rows_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    return np.concatenate(rows_i), np.concatenate(rows_j), np.concatenate(sims)


def _agglomerate(vectors: np.ndarray, times_s: np.ndarray, params: ClusterParams) -> np.ndarray:
    """Exact agglomerative clustering of one component: labels 0..k-1."""
    from sklearn.cluster import AgglomerativeClustering

    if len(vectors) == 1:
        return np.zeros(1, dtype=np.int64)
    distance = 1.0 - (vectors @ vectors.T).astype(np.float64)
    np.clip(distance, 0.0, FAR, out=distance)
    outside = np.abs(times_s[:, None] - times_s[None, :]) > params.window_days * DAY_S
    distance[outside] = FAR
    np.fill_diagonal(distance, 0.0)
    model = AgglomerativeClustering(
        n_clusters=None,
        metric="precomputed",
        linkage=params.linkage,
        distance_threshold=params.distance_threshold,
    )
    return model.fit_predict(distance)


def _agglomerate_connected(
    vectors: np.ndarray, pairs: tuple[np.ndarray, np.ndarray], params: ClusterParams
) -> np.ndarray:
    """Connectivity-constrained clustering of a component too large for a full matrix."""
    from scipy.sparse import coo_matrix
    from sklearn.cluster import AgglomerativeClustering

    n = len(vectors)
    i, j = pairs
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)).tocsr()
    graph = graph + graph.T
    model = AgglomerativeClustering(
        n_clusters=None,
        metric="cosine",
        linkage=params.linkage,
        distance_threshold=params.distance_threshold,
        connectivity=graph,
        compute_full_tree=True,
    )
    return model.fit_predict(vectors)


def cluster_articles(
    article_ids: Sequence[str],
    times_s: np.ndarray,
    vectors: np.ndarray,
    params: ClusterParams,
) -> Clustering:
    """Cluster articles (L2-normalized vectors, times in epoch seconds) into stories."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    started = time.perf_counter()
    n = len(article_ids)
    stats = ClusterStats(articles=n)
    if n == 0:
        return Clustering([], np.zeros(0, dtype=np.int64), np.zeros(0), stats)
    if len(set(article_ids)) != n:
        raise ValueError("article ids must be unique")
    times_in = np.asarray(times_s, dtype=np.float64)
    if np.isnan(times_in).any():
        raise ValueError("every article needs a time (use ingested_at when published_at is null)")
    vectors_in = np.ascontiguousarray(vectors, dtype=np.float32)
    order = sorted(range(n), key=lambda k: (times_in[k], article_ids[k]))
    ids = [article_ids[k] for k in order]
    times = times_in[order]
    x = vectors_in[order]

    ei, ej, esim = candidate_edges(x, times, params)
    stats.edges = len(ei)
    graph = coo_matrix((np.ones(len(ei), dtype=np.int8), (ei, ej)), shape=(n, n))
    n_comp, comp = connected_components(graph, directed=False)
    stats.components = int(n_comp)

    labels = np.empty(n, dtype=np.int64)
    next_label = 0
    members_of = _group_indices(comp, n_comp)
    for c, members in enumerate(members_of):
        stats.largest_component = max(stats.largest_component, len(members))
        if len(members) <= 2:
            # one article, or two joined by an edge (closer than the threshold, in window)
            local = np.zeros(len(members), dtype=np.int64)
        elif len(members) <= params.max_component:
            local = _agglomerate(x[members], times[members], params)
        else:
            stats.fallback_components += 1
            local_index = np.full(n, -1, dtype=np.int64)
            local_index[members] = np.arange(len(members))
            pick = comp[ei] == c
            pi, pj = local_index[ei[pick]], local_index[ej[pick]]
            log.warning(
                "news clustering: a component of %d articles exceeds %d; clustered along its "
                "similarity graph (approximate %s linkage)",
                len(members),
                params.max_component,
                params.linkage,
            )
            local = _agglomerate_connected(x[members], (pi, pj), params)
        labels[members] = local + next_label
        next_label += int(local.max()) + 1

    # ids, sizes and nearest-member similarity per cluster
    cluster_members = _group_indices(labels, next_label)
    sorted_ids = [""] * n
    sizes = np.zeros(n, dtype=np.int64)
    nearest = np.full(n, np.nan)
    for members in cluster_members:
        cid = cluster_id_for([ids[m] for m in members])
        for m in members:
            sorted_ids[m] = cid
        sizes[members] = len(members)
        if len(members) > 1:
            sim = x[members] @ x[members].T
            np.fill_diagonal(sim, -np.inf)
            nearest[members] = sim.max(axis=1)
    stats.clusters = len(cluster_members)
    stats.multi_article_clusters = sum(1 for m in cluster_members if len(m) > 1)
    stats.seconds = round(time.perf_counter() - started, 3)

    # back to input order
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    log.info("news clustering: %s", stats.as_log())
    return Clustering(
        cluster_ids=[sorted_ids[k] for k in inverse],
        sizes=sizes[inverse],
        nearest_similarity=nearest[inverse],
        stats=stats,
    )


def cluster_full_matrix(vectors: np.ndarray, params: ClusterParams) -> np.ndarray:
    """The naive approach (one n x n cosine matrix, no window): for benchmarks and checks."""
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(
        n_clusters=None,
        metric="cosine",
        linkage=params.linkage,
        distance_threshold=params.distance_threshold,
    )
    return model.fit_predict(np.asarray(vectors, dtype=np.float64))


def assign_clusters(articles: pa.Table, params: ClusterParams) -> pa.Table:
    """The dbt model's work: ``ASSIGNED_SCHEMA`` rows from article_id, event_at, embedding.

    Articles without a vector under the current embedder (none after a normal build) are
    left out and counted in the log.
    """
    from synthlake.news.embed import vectors_of

    if articles.num_rows == 0:
        return ASSIGNED_SCHEMA.empty_table()
    has_vector = pc.is_valid(articles.column("embedding"))
    missing = articles.num_rows - pc.sum(has_vector).as_py()
    if missing:
        log.warning("news clustering: %d articles have no embedding yet; left out", missing)
        articles = articles.filter(has_vector)
    if articles.num_rows == 0:
        return ASSIGNED_SCHEMA.empty_table()
    ids = articles.column("article_id").to_pylist()
    events = articles.column("event_at").cast(pa.timestamp("us", tz="UTC"))
    times = events.cast(pa.int64()).to_numpy(zero_copy_only=False) / 1e6
    result = cluster_articles(ids, times, vectors_of(articles), params)
    nearest = [None if np.isnan(v) else float(v) for v in result.nearest_similarity]
    return pa.table(
        {
            "article_id": ids,
            "cluster_id": result.cluster_ids,
            "cluster_size": pa.array(result.sizes.astype(np.int32)),
            "nearest_member_similarity": pa.array(nearest, pa.float64()),
            "embedding_id": articles.column("embedding_id"),
            "event_at": events,
        },
        schema=ASSIGNED_SCHEMA,
    )


def _group_indices(labels: np.ndarray, n_groups: int) -> list[np.ndarray]:
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_groups + 1))
    return [order[bounds[g] : bounds[g + 1]] for g in range(n_groups)]


__all__ = [
    "ASSIGNED_SCHEMA",
    "ClusterParams",
    "ClusterStats",
    "Clustering",
    "candidate_edges",
    "cluster_articles",
    "assign_clusters",
    "cluster_full_matrix",
    "cluster_id_for",
]

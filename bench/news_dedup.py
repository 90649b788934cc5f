"""News near-duplicates as news accumulates: time per article at 1, 10 and 30 days.

The growth bench (``rehearsal_growth``) times ``int_news_article_duplicates`` inside the dbt
build, where it runs on one dbt thread beside the language check, a Python model that
holds the GIL for minutes: its wall time there grows with the language check, not with
the articles. This bench times the step alone, on the rehearsal's generated news (stories
across outlets and days, live pages, archive captures), imported through the real
importer: ``find_duplicates`` over every stored article, median of ``--repeat`` runs.

    .venv/bin/python -m bench.news_dedup [--days 1 10 30] [--repeat 3]

It prints, per size, the articles, the duplicates found, the median seconds and the
milliseconds per article, then the growth exponent between the sizes (1 = linear).
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
from synthlake.ingest.news.importer import import_news_file

from bench.rehearsal_inputs import _write_news_day
from synthlake.lake import Lake
from synthlake.news_integration.dedup import find_duplicates
from synthlake.settings import load_settings


def stored_articles(days: int, work: Path) -> tuple[Lake, int]:
    """A lake holding ``days`` days of the rehearsal's news, imported day by day."""
    settings = load_settings(lake_root=work / f"lake-{days}d")
    lake = Lake.from_settings(settings).ensure()
    inputs = work / f"inputs-{days}d"
    for day in range(1, days + 1):
        _write_news_day(inputs, seed=17, day=day)
    for path in sorted((inputs / "news").glob("*.jsonl")):
        import_news_file(path, lake, settings, run_id=f"bench-{path.stem}")
    return lake, days


def latest_versions(lake: Lake) -> object:
    """One row per article, its latest stored version (as staging keeps)."""
    glob = str(lake.raw / "news" / "**" / "*.parquet")
    return duckdb.sql(
        f"""
        select article_id, url, outlet, content, content_hash, published_at
        from read_parquet('{glob}', union_by_name = true)
        qualify row_number() over (partition by article_id order by ingested_at desc) = 1
        order by article_id
        """
    ).to_arrow_table()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[1, 10, 30])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    points: list[tuple[int, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="synthlake-news-dedup-") as tmp:
        print("| days | articles | duplicates | median s | ms per article |")
        print("|---|---|---|---|---|")
        for days in args.days:
            lake, _ = stored_articles(days, Path(tmp))
            articles = latest_versions(lake)
            find_duplicates(articles.slice(0, 50))  # imports and the MinHash permutations
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                mapping = find_duplicates(articles)
                times.append(time.perf_counter() - started)
            copies = mapping.num_rows - sum(mapping.column("is_canonical").to_pylist())
            median = statistics.median(times)
            points.append((days, articles.num_rows, median))
            print(
                f"| {days} | {articles.num_rows:,} | {copies:,} | {median:.2f} | "
                f"{1000 * median / articles.num_rows:.3f} |",
                flush=True,
            )
    for (d0, n0, t0), (d1, n1, t1) in zip(points, points[1:], strict=False):
        exponent = math.log(t1 / t0) / math.log(n1 / n0)
        print(f"{d0} -> {d1} days: time grows as articles^{exponent:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What DuckDB's first checkpoint after the instruction staging table costs, and why the
growth bench saw it as the news near-duplicate step's.

The growth bench times each dbt model as dbt does, from its start to its commit. At 760k
rows / 30 days, ``int_news_article_duplicates`` took 17-18 s inside the build against ~8 s
alone. A stack sampler and a watch on the warehouse's WAL in a rerun of that build showed
where the other ~9.5 s went: ``find_duplicates`` logged its result 7.8 s after the model
started, the model then sat in its one ``create table ... as select`` of 14,900 rows for
9.5 s, and the WAL fell from 30 MB to 1 KB when it returned. That statement's commit ran
the build's first checkpoint: DuckDB checkpoints at the first commit that finds the WAL
over ``checkpoint_threshold`` (16 MB), and the model before it
(``exp_files__news_articles``, 30 MB of article texts) had just put it there. What the
checkpoint does for so long is the staging table's: a parallel ``create table as`` writes
its row groups as each thread fills them, leaves a partly filled row group at each
thread's end, and the checkpoint merges those with their neighbours, rewriting hundreds
of megabytes.

This bench builds the staging table alone from a built lake's raw files, with the SQL dbt
compiled for it, into a scratch warehouse (named ``warehouse`` as the build's is, so the
compiled names resolve), then checkpoints it and prints: the rows, the ``create`` seconds,
the row groups and their rows before and after, the checkpoint's seconds and the megabytes
it wrote.

    .venv/bin/python -m bench.warehouse_checkpoint --lake LAKE [--threads 2]

``LAKE`` must have been built from scratch (its compiled SQL must create the table; an
incremental build compiles an insert instead).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

COMPILED = Path("dbt/target/run/synthlake/models/staging/hf/stg_hf__instructions.sql")


def row_groups(con, table: str) -> list[int]:  # noqa: ANN001 - a DuckDB connection
    """Rows per row group, in order (column 0's data segments summed, not its validity)."""
    return [
        int(rows)
        for _, rows in con.sql(
            f"select row_group_id, sum(count) from pragma_storage_info('{table}') "
            "where column_id = 0 and segment_type <> 'VALIDITY' "
            "group by row_group_id order by row_group_id"
        ).fetchall()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True, help="a lake built from scratch")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (the build's)")
    parser.add_argument(
        "--memory-limit", default="auto", help="DuckDB's, as the build sets it (auto: its default)"
    )
    args = parser.parse_args(argv)

    import duckdb

    from synthlake.lake import duckdb_memory_limit

    compiled = args.lake / COMPILED
    if not compiled.is_file():
        raise SystemExit(f"{compiled} is missing: build that lake first (synthlake run)")
    sql = compiled.read_text()
    if not sql.lstrip().lower().startswith("create"):
        raise SystemExit(
            f"{compiled} inserts into an existing table (an incremental build): "
            "build that lake from scratch first"
        )
    with tempfile.TemporaryDirectory(prefix="synthlake-checkpoint-") as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        con = duckdb.connect(
            str(path),
            config={
                "threads": args.threads,
                "memory_limit": duckdb_memory_limit(args.memory_limit),
            },
        )
        started = time.perf_counter()
        con.execute(sql)
        created_s = time.perf_counter() - started
        before = row_groups(con, "stg_hf__instructions")
        size_before = path.stat().st_size
        started = time.perf_counter()
        con.execute("checkpoint")
        checkpoint_s = time.perf_counter() - started
        after = row_groups(con, "stg_hf__instructions")
        written_mb = (path.stat().st_size - size_before) / 2**20
        con.close()
    full = 122_880  # DuckDB's row group size
    print(f"rows {sum(before):,}, DuckDB threads {args.threads}")
    print(f"create table as select: {created_s:.1f} s")
    print(
        f"row groups before the checkpoint: {len(before)} "
        f"({sum(n < full for n in before[:-1])} partly filled before the last): {before}"
    )
    print(f"row groups after: {len(after)}: {after}")
    print(f"checkpoint: {checkpoint_s:.1f} s, file grew {written_mb:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

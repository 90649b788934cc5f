"""Bulk upserts vs one-by-one ``update_one`` against a local MongoDB wire server.

Prints documents/s of:

1. ``bulk``: unordered ``bulk_write`` of ``UpdateOne(upsert=True)`` in batches,
2. ``one-by-one``: ``update_one(upsert=True)`` per document, timed on ``--one-by-one-docs``
   documents and scaled to ``--docs`` (said so in the output),

both into an empty collection with the same documents, and their ratio; then the real
export (``synthlake.export.mongo.export_mongo``: hash lookup + bulk upserts) of ``--docs`` news QA
documents from a DuckDB mart, and its rerun with no change (no write).

The server is ``mongod`` if on PATH, else the mongoeco wire server of ``.venv-mongo``
(``make mongo-server-env``), on a temporary SQLite file; ``--uri`` uses yours instead.
Read the figures with the server in mind: mongoeco is a Python server whose SQLite engine
scans the collection on each write, so its per-document cost grows with the collection
and dominates both methods; against mongod the round trip dominates one-by-one writes.
Defaults: 50,000 documents (one-by-one timed on 5,000) against mongod or ``--uri``;
2,000 (1,000) against mongoeco, where 50,000 would take hours.

It starts the server with the test suite's helper (``tests/fixtures/mongo.py``, not
installed), so run it from the repo root as a module:

    .venv/bin/python -m bench.mongo_upsert [--docs N] [--one-by-one-docs M] [--uri URI]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
from synthlake.export.mongo import BatchProgress, export_mongo, row_document

from synthlake.lake import Lake
from synthlake.settings import load_settings
from tests.fixtures.mongo import MongoServer

REPO = Path(__file__).resolve().parent.parent


def news_mart_sql(n: int) -> str:
    """``n`` news QA rows shaped like the real mart (two sources each, ~1.5 KB a document)."""
    return f"""
        select
            'n' || lpad(i::varchar, 7, '0') as doc_id,
            'c' || i as cluster_id,
            ['a' || i, 'b' || i] as lineage_ids,
            timestamptz '2024-01-01 00:00:00+00' + to_minutes(i) as date,
            ['tag' || (i % 50), 'tag' || (i % 7)] as tags,
            [
                {{'id': 'a' || i, 'title': 'Titolo ' || i, 'link': 'https://www.ansa.it/' || i,
                  'date': timestamptz '2024-01-01 00:00:00+00', 'content': repeat('testo ', 80),
                  'tags': ['t'], 'source_site': 'ansa'}},
                {{'id': 'b' || i, 'title': 'Altro ' || i, 'link': 'https://www.ilpost.it/' || i,
                  'date': timestamptz '2024-01-01 00:00:00+00', 'content': repeat('parola ', 60),
                  'tags': [], 'source_site': 'ilpost'}}
            ] as sources,
            [0.5 + (i % 50) / 100, 0.9]::double[] as similarity,
            (0.5 + (i % 50) / 100)::double as similarity_min,
            'Considerati i titoli e i contenuti, riassumili in un unico testo.' as question,
            repeat('riassunto ', 40) || i as answer,
            'it' as language,
            ((i % 100) / 1000)::double as toxicity,
            'summarize-v1' as prompt_version,
            'local:smollm2' as model,
        from range({n}) t(i)
    """


def build_lake(root: Path, n: int) -> Lake:
    lake = Lake(root)
    root.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(lake.warehouse)) as con:
        con.execute(f"create or replace table exp_mongo__news_qa as {news_mart_sql(n)}")
        con.execute(
            "create or replace table exp_mongo__instructions_qa as select 'x' as doc_id, "
            "'q' as question, 'a' as answer, 'en' as language, ['r'] as lineage_ids where false"
        )
    return lake


def mart_documents(lake: Lake, n: int) -> list[tuple[str, dict[str, Any]]]:
    with duckdb.connect(str(lake.warehouse), read_only=True) as con:
        cursor = con.execute(f"select * from exp_mongo__news_qa order by doc_id limit {n}")
        columns = [d[0] for d in cursor.description]
        return [row_document(columns, row) for row in cursor.fetchall()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, help="default 50000 (2000 on mongoeco)")
    parser.add_argument("--one-by-one-docs", type=int, help="default 5000 (1000 on mongoeco)")
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--uri", help="an existing server instead of starting one")
    args = parser.parse_args(argv)

    from pymongo import MongoClient, UpdateOne

    with tempfile.TemporaryDirectory(prefix="bench-mongo-") as tmp:
        server = None if args.uri else MongoServer.create(Path(tmp) / "server").start()
        uri = args.uri or server.uri
        kind = "given server" if args.uri else f"{server.kind} (SQLite file)"
        # mongoeco's cost per write grows with the collection: 50,000 documents would take
        # hours there, and `make bench` runs every script with its defaults
        small = server is not None and server.kind == "mongoeco"
        n = args.docs or (2_000 if small else 50_000)
        m = min(args.one_by_one_docs or (1_000 if small else 5_000), n)
        if small and args.docs is None:
            print("mongoeco: 2,000 documents by default (pass --docs 50000 to insist)")
        try:
            lake = build_lake(Path(tmp) / "lake", n)
            docs = mart_documents(lake, m)
            print(f"server: {kind}; {n} documents, batches of {args.batch}")
            with MongoClient(uri) as client:
                db = client["bench_upsert"]
                client.drop_database("bench_upsert")

                t0 = time.perf_counter()
                for start in range(0, m, args.batch):
                    ops = [
                        UpdateOne({"_id": i}, {"$set": f}, upsert=True)
                        for i, f in docs[start : start + args.batch]
                    ]
                    db.bulk.bulk_write(ops, ordered=False)
                bulk_s = time.perf_counter() - t0

                t0 = time.perf_counter()
                for doc_id, fields in docs:
                    db.single.update_one({"_id": doc_id}, {"$set": fields}, upsert=True)
                single_s = time.perf_counter() - t0
                assert db.bulk.count_documents({}) == db.single.count_documents({}) == m
                client.drop_database("bench_upsert")

            bulk_rate, single_rate = m / bulk_s, m / single_s
            print(f"same {m} documents into an empty collection:")
            print(f"  bulk unordered UpdateOne: {bulk_rate:10.1f} docs/s ({bulk_s:.1f} s)")
            print(f"  one-by-one update_one:    {single_rate:10.1f} docs/s ({single_s:.1f} s)")
            print(f"  ratio bulk / one-by-one:  {bulk_rate / single_rate:10.1f}x (target >= 10x)")
            if m < n:
                print(
                    f"  one-by-one for {n} documents, scaled from {m}: "
                    f"~{n / single_rate:.0f} s (not measured)"
                )

            settings = load_settings(
                lake_root=lake.root,
                mongodb_uri=uri,
                mongodb_database="bench_export",
                mongodb_batch_size=args.batch,
                mongodb_timeout_s=30,
            )
            marks: list[tuple[int, float]] = []

            def progress(p: BatchProgress) -> None:
                marks.append((p.rows_done, time.perf_counter()))

            t0 = time.perf_counter()
            first = export_mongo(settings, lake, on_batch=progress)
            export_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = export_mongo(settings, lake)
            rerun_s = time.perf_counter() - t0
            news, news_again = first.collections["news_qa"], again.collections["news_qa"]
            print(f"export_mongo of {n} news QA documents (hash lookup + bulk upserts):")
            print(
                f"  first run: {n / export_s:10.1f} docs/s ({export_s:.1f} s, "
                f"{news.inserted} inserted)"
            )
            if len(marks) > 1:
                rows, when = marks[-1][0] - marks[0][0], marks[-1][1] - marks[0][1]
                print(f"  after the first batch: {rows / when:10.1f} docs/s")
            print(
                f"  rerun, no change: {rerun_s:.1f} s, {again.writes} writes, "
                f"{news_again.unchanged} unchanged ({n / rerun_s:.0f} docs checked/s)"
            )
            with MongoClient(uri) as client:
                client.drop_database("bench_export")
        finally:
            if server is not None:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

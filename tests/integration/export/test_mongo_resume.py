"""A server killed mid-export, restarted on the same storage, then a rerun: exactly the mart."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pymongo import MongoClient
from synthlake.export.mongo import BatchProgress, MongoExportError, export_mongo

from synthlake.lake import Lake
from synthlake.settings import load_settings
from tests.fixtures.mongo import MongoServer
from tests.integration.export.marts import instructions_sql, write_marts

V1_ROWS = 80
V2_ROWS = 104  # rows 0..103 but every 8th: 10 of v1 removed, 21 new, the rest changed
BATCH = 10


def expected_v2() -> dict[str, str]:
    return {f"doc{i:06d}": f"Answer {i} (v2)" for i in range(V2_ROWS) if i % 8 != 0}


def test_kill_mid_export_then_rerun_ends_with_exactly_the_mart(tmp_path: Path) -> None:
    with MongoServer.create(tmp_path / "server") as server:
        settings = load_settings(
            lake_root=tmp_path / "lake",
            mongodb_uri=server.uri,
            mongodb_database="resume",
            mongodb_batch_size=BATCH,
            mongodb_timeout_s=1,
        )
        lake = Lake.from_settings(settings)
        write_marts(lake, instructions=instructions_sql(V1_ROWS))
        first = export_mongo(settings, lake).collections["instructions_qa"]
        assert first.inserted == V1_ROWS

        write_marts(lake, instructions=instructions_sql(V2_ROWS, version="v2", skip_every=8))
        killed = threading.Event()

        def killer() -> None:
            server.kill()
            killed.set()

        def after_batch(progress: BatchProgress) -> None:
            # after the first stored batch, a crash from another thread, as in production
            if progress.collection == "instructions_qa" and progress.batch == 1:
                threading.Thread(target=killer).start()
                assert killed.wait(10)

        with pytest.raises(MongoExportError) as info:
            export_mongo(settings, lake, on_batch=after_batch)

        error = info.value
        assert error.transient and error.batch == 2 and error.collection == "instructions_qa"
        assert str(error).startswith(f"MongoDB export to mongodb://127.0.0.1:{server.port}/ ")
        assert "at batch 2 (rows 11-20 of 91)" in str(error)
        assert "run the export again to finish" in str(error)

        server.start()  # same SQLite file, same port
        with MongoClient(server.uri) as client:
            col = client.resume.instructions_qa
            stored = {d["_id"]: d["answer"] for d in col.find()}
        # nothing stored before the crash was lost, and batch 1 (ids 1..11) was written
        assert {f"doc{i:06d}" for i in range(V1_ROWS)} <= set(stored)
        assert stored["doc000001"] == "Answer 1 (v2)"
        assert stored["doc000050"] == "Answer 50 (v1)"

        rerun = export_mongo(settings, lake).collections["instructions_qa"]

        with MongoClient(server.uri) as client:
            col = client.resume.instructions_qa
            final = {d["_id"]: d["answer"] for d in col.find()}
            count = col.count_documents({})
        assert final == expected_v2() and count == len(final)
        new = [i for i in range(V1_ROWS, V2_ROWS) if i % 8 != 0]
        gone = [i for i in range(V1_ROWS) if i % 8 == 0]
        assert rerun.unchanged == BATCH  # the batch stored before the crash
        assert (rerun.inserted, rerun.removed) == (len(new), len(gone)) == (21, 10)
        assert rerun.updated == len(final) - BATCH - len(new)

        assert export_mongo(settings, lake).writes == 0

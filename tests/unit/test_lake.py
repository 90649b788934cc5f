from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from synthlake.errors import CorruptRawFile, LakeError
from synthlake.lake import (
    RAW_TABLES,
    Lake,
    content_hash,
    duckdb_memory_lent,
    duckdb_size_bytes,
    read_only_warehouse,
)


def test_ensure_creates_layout_and_schema_files(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake").ensure()
    for folder in ("raw", "cache", "exports", "runs"):
        assert (lake.root / folder).is_dir()
    for table, schema in RAW_TABLES.items():
        assert lake.read_raw(table).schema == schema
        assert lake.read_raw(table).num_rows == 0


def test_require_on_a_missing_lake_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="no lake at .*synthlake run"):
        Lake(tmp_path / "nowhere").require()


def test_corrupt_parquet_is_named(lake: Lake) -> None:
    bad = lake.raw / "news" / "ingest_date=2024-01-01" / "part-x.parquet"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(CorruptRawFile) as info:
        lake.check_raw()
    assert str(bad) in str(info.value)
    with pytest.raises(CorruptRawFile, match="part-x.parquet"):
        lake.read_raw("news")


def test_write_raw_appends_partitioned_files(lake: Lake) -> None:
    schema = RAW_TABLES["rejects"]
    row = {name: None for name in schema.names} | {
        "reject_id": "a",
        "domain": "news",
        "source": "s",
        "locator": "l",
        "reason": "r",
        "ingest_date": "2024-01-02",
        "run_id": "run1",
    }
    first = lake.write_raw("rejects", pa.Table.from_pylist([row], schema=schema), "run1")
    second = lake.write_raw("rejects", pa.Table.from_pylist([row], schema=schema), "run1")
    assert first != second and first.parent.name == "ingest_date=2024-01-02"
    assert lake.read_raw("rejects").num_rows == 2
    assert lake.write_raw("rejects", schema.empty_table(), "run2") is None


def test_content_hash_separates_parts() -> None:
    assert content_hash("ab", "c") != content_hash("a", "bc")
    assert content_hash("x", None) == content_hash("x", "")


def test_a_read_only_warehouse_connection_has_the_memory_limit(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table t as select 1 as x")
    # a connection of the same process with default options is open meanwhile (as dbt's
    # can be in a run): the limit must not make the second connection a different config
    with duckdb.connect(str(warehouse), read_only=True) as other:
        with read_only_warehouse(warehouse, "1GB") as con:
            assert con.execute("select current_setting('memory_limit')").fetchone() == (
                "953.6 MiB",
            )
            assert con.execute("select x from t").fetchall() == [(1,)]
            with pytest.raises(duckdb.Error):
                con.execute("create table u (y integer)")  # read-only
        assert other.execute("select count(*) from t").fetchone() == (1,)


def test_duckdb_sizes_are_read_as_duckdb_prints_them() -> None:
    assert duckdb_size_bytes("953.6 MiB") == int(953.6 * 2**20)
    assert duckdb_size_bytes("2.7 GiB") == int(2.7 * 2**30)
    assert duckdb_size_bytes("0 bytes") == 0
    with pytest.raises(ValueError, match="not a DuckDB size"):
        duckdb_size_bytes("lots")


def test_memory_lent_lowers_the_whole_databases_limit_and_restores_it_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHLAKE_DUCKDB_MEMORY_LIMIT", "3GB")
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("set memory_limit = '3GB'")
        model_session = con.cursor()  # a dbt Python model's session: another connection
        limit = lambda c: c.execute("select current_setting('memory_limit')").fetchone()[0]  # noqa: E731
        with duckdb_memory_lent(model_session, 1_000_000_000) as lowered:
            limit_bytes = duckdb_size_bytes("2.7 GiB")  # DuckDB prints 3GB rounded
            assert lowered == max(limit_bytes * 2 // 3, limit_bytes - 10**9)
            # global to the database: dbt's other thread sees it too
            assert limit(con) == limit(model_session)
            assert abs(duckdb_size_bytes(limit(con)) - lowered) < 0.1 * 2**30
        assert limit(con) == "2.7 GiB"
        # restored after a failure inside too; never below two thirds of a small limit
        con.execute("set memory_limit = '600MB'")
        monkeypatch.setenv("SYNTHLAKE_DUCKDB_MEMORY_LIMIT", "600MB")
        with pytest.raises(RuntimeError), duckdb_memory_lent(model_session, 10**9) as lowered:
            assert lowered == duckdb_size_bytes("572.2 MiB") * 2 // 3
            raise RuntimeError("the check failed")
        assert limit(con) == "572.2 MiB"


def test_memory_that_duckdb_cannot_free_is_not_lent_and_the_block_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # an in-memory database with nowhere to spill cannot evict its table's blocks
    with duckdb.connect(config={"temp_directory": ""}) as con:
        con.execute("set memory_limit = '150MB'")
        con.execute("create table t as select repeat('x', 100) || range as s from range(1000000)")
        before = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
        ran = False
        with caplog.at_level("WARNING"), duckdb_memory_lent(con, 10**9) as lowered:
            ran = True
            assert lowered is None
            assert con.execute("select current_setting('memory_limit')").fetchall()[0][0] == before
        assert ran
        assert (
            "memory_limit stays" in caplog.text and "could not free up enough memory" in caplog.text
        )
        assert con.execute("select count(*) from t").fetchall() == [(1_000_000,)]

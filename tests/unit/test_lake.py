from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from synthlake.errors import CorruptRawFile, LakeError
from synthlake.lake import RAW_TABLES, Lake, content_hash, read_only_warehouse


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

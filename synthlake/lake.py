"""The lake on disk: its layout, the raw tables' schemas, and safe Parquet IO.

Layout under the root (``SYNTHLAKE_LAKE_ROOT``, default ``./lake``)::

    raw/<table>/ingest_date=YYYY-MM-DD/part-<run_id>.parquet   what ingest writes
    raw/<table>/_schema.parquet                                zero rows, the table's schema
    warehouse.duckdb                                           dbt's DuckDB
    cache/                                                     LLM cache, converted weights
    exports/                                                   files for people and MongoDB
    runs/<run_id>/                                             run summaries, training runs
    run.lock                                                   one run at a time (run_lock.py)
    prefect-server.pid, prefect-server.log                     a run's temporary Prefect API

Raw tables are append-only: a new version of a row is a new row with a newer
``ingested_at``; staging keeps the latest. Each table carries a zero-row ``_schema.parquet``
so dbt's sources resolve (and keep their column types) before the first ingest.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from synthlake.errors import CorruptRawFile, CorruptWarehouse, LakeError

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

TS = pa.timestamp("us", tz="UTC")

RAW_NEWS_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("url", pa.string()),
        ("outlet", pa.string()),
        ("title", pa.string()),
        ("subtitle", pa.string()),
        ("author", pa.string()),
        ("published_at", TS),
        ("published_at_text", pa.string()),
        ("published_at_source", pa.string()),  # 'text', 'url_path', 'capture' or 'none'
        ("snapshot_url", pa.string()),  # the web archive copy the text was read from
        ("captured_at", TS),  # when the archive captured that copy
        ("flags", pa.list_(pa.string())),  # kept but odd: 'unparsed_date', 'future_date'
        ("tags", pa.list_(pa.string())),
        ("content", pa.string()),
        ("source", pa.string()),
        ("content_hash", pa.string()),
        ("ingested_at", TS),
        ("ingest_date", pa.string()),
        ("run_id", pa.string()),
    ]
)

TURN = pa.struct([("from", pa.string()), ("value", pa.string())])

RAW_HF_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("source_dataset", pa.string()),
        ("source_revision", pa.string()),
        ("source_file", pa.string()),
        ("row_index", pa.int64()),
        ("shape", pa.string()),  # 'sharegpt' (SlimOrca) or 'alpaca' (OpenHermes)
        ("conversations", pa.list_(TURN)),
        ("instruction", pa.string()),
        ("input", pa.string()),
        ("output", pa.string()),
        ("language", pa.string()),
        ("content_hash", pa.string()),
        ("ingested_at", TS),
        ("ingest_date", pa.string()),
        ("run_id", pa.string()),
    ]
)

RAW_REJECTS_SCHEMA = pa.schema(
    [
        ("reject_id", pa.string()),  # hash of domain/source/locator/reason/raw: idempotent
        ("domain", pa.string()),
        ("source", pa.string()),  # file path or URL the row came from
        ("locator", pa.string()),  # line / row index / URL inside the source
        ("reason", pa.string()),  # short machine-readable code, e.g. 'empty_content'
        ("detail", pa.string()),  # what a person needs to fix it
        ("raw", pa.string()),  # the rejected record as JSON, truncated
        ("ingested_at", TS),
        ("ingest_date", pa.string()),
        ("run_id", pa.string()),
    ]
)

# Written by the LLM runner (synthlake/llm/): one row per request, cache hits included.
RAW_LLM_CALLS_SCHEMA = pa.schema(
    [
        ("call_id", pa.string()),  # unique per request per run
        ("row_id", pa.string()),
        ("stage", pa.string()),
        ("prompt_id", pa.string()),
        ("prompt_version", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("cache_key", pa.string()),
        ("cached", pa.bool_()),
        ("tokens_in", pa.int64()),
        ("tokens_out", pa.int64()),
        ("latency_s", pa.float64()),
        ("cost_usd", pa.float64()),  # what this run paid (0 for a cache hit); null: unpriced
        ("status", pa.string()),  # 'ok', 'invalid' (answer failed validation), 'failed'
        ("reason", pa.string()),  # the failure reason when status != 'ok'
        ("attempts", pa.int64()),
        ("run_id", pa.string()),
        ("ingested_at", TS),
        ("ingest_date", pa.string()),
    ]
)

# Requests that produced no usable answer (quarantine): never stored as answers.
RAW_LLM_FAILURES_SCHEMA = pa.schema(
    [
        ("failure_id", pa.string()),
        ("call_id", pa.string()),
        ("row_id", pa.string()),
        ("stage", pa.string()),
        ("prompt_id", pa.string()),
        ("prompt_version", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("reason", pa.string()),  # machine-readable, e.g. 'invalid_output', 'budget_exceeded'
        ("detail", pa.string()),  # what a person needs, naming the row
        ("raw_text", pa.string()),  # what the model answered, if anything
        ("attempts", pa.int64()),
        ("run_id", pa.string()),
        ("ingested_at", TS),
        ("ingest_date", pa.string()),
    ]
)

# Written by `synthlake evaluate` (train/evaluate.py): one row per eval-split row per
# variant ('base' or 'tuned') per evaluation run.
RAW_EVAL_RESULTS_SCHEMA = pa.schema(
    [
        ("eval_id", pa.string()),  # eval_run_id|variant|row_id
        ("eval_run_id", pa.string()),
        ("train_run_id", pa.string()),
        ("variant", pa.string()),  # 'base' or 'tuned'
        ("base_model", pa.string()),
        ("threshold", pa.float64()),  # the sweep's judge-score threshold; null outside a sweep
        ("snapshot_id", pa.string()),
        ("row_id", pa.string()),
        ("language", pa.string()),
        ("domain", pa.string()),
        ("source_dataset", pa.string()),
        ("prompt", pa.string()),
        ("answer", pa.string()),
        ("reference", pa.string()),
        ("generation_status", pa.string()),  # 'ok' or the LLM failure reason
        ("tokens_out", pa.int64()),
        ("answer_language", pa.string()),  # lingua, confident only; null when undecided
        ("in_prompt_language", pa.bool_()),  # null when the answer is too short to tell
        ("judge_score", pa.float64()),  # mean over the configured dimensions scored
        ("judge_status", pa.string()),  # 'ok', 'failed', 'skipped', 'no_answer'
        ("judge_dimensions", pa.string()),
        ("answer_words", pa.int64()),
        ("reference_words", pa.int64()),
        ("length_ratio", pa.float64()),  # answer words / reference words
        ("sim_reference", pa.float64()),  # news: cosine to the reference answer
        ("sim_sources_mean", pa.float64()),  # news: mean cosine to the sources
        ("sim_sources_min", pa.float64()),
        ("evaluated_at", TS),
        ("ingest_date", pa.string()),
    ]
)

RAW_TABLES: dict[str, pa.Schema] = {
    "news": RAW_NEWS_SCHEMA,
    "hf": RAW_HF_SCHEMA,
    "rejects": RAW_REJECTS_SCHEMA,
    "llm_calls": RAW_LLM_CALLS_SCHEMA,
    "llm_failures": RAW_LLM_FAILURES_SCHEMA,
    "eval_results": RAW_EVAL_RESULTS_SCHEMA,
}


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def content_hash(*parts: str | None) -> str:
    """SHA-256 over the parts, separated so that ("ab", "c") != ("a", "bc")."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update((part or "").encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def short_id(*parts: str | None, length: int = 16) -> str:
    return content_hash(*parts)[:length]


@dataclass(frozen=True, slots=True)
class Lake:
    root: Path

    @classmethod
    def from_settings(cls, settings) -> Lake:  # noqa: ANN001 - avoid an import cycle
        return cls(settings.lake_path)

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def table_dir(self, table: str) -> Path:
        if table not in RAW_TABLES:
            raise LakeError(f"unknown raw table {table!r}; known: {', '.join(RAW_TABLES)}")
        return self.raw / table

    def ensure(self) -> Lake:
        """Create the layout and each raw table's schema file; safe to call every run."""
        try:
            for path in (self.raw, self.cache, self.exports, self.runs):
                path.mkdir(parents=True, exist_ok=True)
            for table, schema in RAW_TABLES.items():
                directory = self.table_dir(table)
                directory.mkdir(exist_ok=True)
                schema_file = directory / "_schema.parquet"
                # Rewritten when the table gained columns, so dbt's sources see them.
                if not schema_file.exists() or pq.read_schema(schema_file) != schema:
                    atomic_write_parquet(schema.empty_table(), schema_file)
        except OSError as exc:
            raise LakeError(f"cannot create the lake at {self.root}: {exc}") from exc
        return self

    def require(self) -> Lake:
        """Fail with a clear message when the lake has not been created yet."""
        if not self.raw.is_dir():
            raise LakeError(
                f"no lake at {self.root} (missing {self.raw}). Run `synthlake ingest ...` or "
                "`synthlake run` first, or point SYNTHLAKE_LAKE_ROOT at an existing lake."
            )
        return self

    # --- raw IO ------------------------------------------------------------------------
    def raw_files(self, table: str) -> list[Path]:
        directory = self.table_dir(table)
        return sorted(directory.rglob("*.parquet")) if directory.is_dir() else []

    def write_raw(self, table: str, rows: pa.Table, run_id: str) -> Path | None:
        """Append ``rows`` as one new Parquet file of ``table``; returns its path."""
        if rows.num_rows == 0:
            return None
        schema = RAW_TABLES[table]
        rows = rows.select(schema.names).cast(schema)
        dates = set(rows.column("ingest_date").to_pylist())
        if len(dates) != 1:
            raise LakeError(f"one write must hold one ingest_date, got {sorted(dates)}")
        partition = self.table_dir(table) / f"ingest_date={dates.pop()}"
        partition.mkdir(parents=True, exist_ok=True)
        path = partition / f"part-{run_id}.parquet"
        n = 1
        while path.exists():
            n += 1
            path = partition / f"part-{run_id}-{n}.parquet"
        atomic_write_parquet(rows, path)
        return path

    def read_raw(self, table: str, columns: Iterable[str] | None = None) -> pa.Table:
        """All rows of a raw table; a corrupt file raises ``CorruptRawFile`` naming it."""
        schema = RAW_TABLES[table]
        wanted = list(columns) if columns is not None else schema.names
        parts = [schema.empty_table().select(wanted)]
        for path in self.raw_files(table):
            try:
                present = set(pq.read_schema(path).names)
                part = pq.read_table(path, columns=[c for c in wanted if c in present])
            except (pa.ArrowException, OSError) as exc:
                raise CorruptRawFile(path, str(exc)) from exc
            for name in wanted:  # a file written before a column was added: nulls
                if name not in present:
                    part = part.append_column(
                        schema.field(name), pa.nulls(part.num_rows, schema.field(name).type)
                    )
            parts.append(part.select(wanted).cast(schema.empty_table().select(wanted).schema))
        return pa.concat_tables(parts)

    def check_raw(self) -> int:
        """Open every raw file's footer; raise ``CorruptRawFile`` on the first bad one."""
        count = 0
        for table in RAW_TABLES:
            for path in self.raw_files(table):
                try:
                    pq.read_metadata(path)
                except (pa.ArrowException, OSError) as exc:
                    raise CorruptRawFile(path, str(exc)) from exc
                count += 1
        return count

    def check_warehouse(self) -> None:
        """Open the warehouse, when there is one; ``CorruptWarehouse`` when DuckDB cannot
        read it (it is derived from raw/, so the message says how to rebuild it)."""
        if not self.warehouse.is_file():
            return
        import duckdb

        try:
            with duckdb.connect(str(self.warehouse), read_only=True) as con:
                con.execute("select count(*) from duckdb_tables()").fetchall()
        except duckdb.Error as exc:
            if is_corrupt_warehouse_error(exc):
                raise CorruptWarehouse(self.warehouse, str(exc).splitlines()[0]) from exc
            # anything else (another process holds it, a connection of this process with
            # other options) is for the step that needs the warehouse to report


AUTO_MEMORY_LIMIT_BYTES = 3 * 1000**3  # DuckDB's "3GB" (it reads GB as 10^9 bytes)
AUTO_MACHINE_SHARE = 0.5


def duckdb_memory_limit(setting: str, physical_bytes: int | None = None) -> str:
    """The ``memory_limit`` DuckDB gets: the setting, or for ``auto`` the smaller of 3GB and
    half the machine (the dbt build's, and the exports' reads of the warehouse).

    The limit is DuckDB's alone, and the dbt build's Python models run in the same
    process beside it: lingua's language models, the embedding model, their Arrow batches.
    DuckDB fills its limit with the blocks its scans read and keeps them (its own default,
    80%, let the build's process hold 12.6 GB on a 23 GB machine at 760k rows). With 4GB
    the full rehearsal's first build peaked at 6.2 GB: DuckDB's ~4 GB while the language
    check held ~2 GB. Half the machine leaves the other half to the Python models on a
    small machine."""
    value = setting.strip()
    if value.lower() != "auto":
        return value
    if physical_bytes is None:
        physical_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if AUTO_MACHINE_SHARE * physical_bytes < AUTO_MEMORY_LIMIT_BYTES:
        return f"{AUTO_MACHINE_SHARE:.0%}"
    return f"{AUTO_MEMORY_LIMIT_BYTES // 1000**3}GB"


def read_only_warehouse(warehouse: Path, memory_limit: str = "auto") -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse, under DuckDB's memory limit
    (``duckdb_memory_limit`` of the setting). Without one DuckDB may fill 80% of the machine
    with the blocks it reads and its sorts: exporting the medium rehearsal's 100k staged
    instructions to Parquet peaked at 969 MB with DuckDB's default and 807 MB at 1GB. The
    limit is set after connecting, not as a connection option: a second connection to the
    same file in this process with other options is refused."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute(f"set memory_limit = '{duckdb_memory_limit(memory_limit)}'")
    except BaseException:
        con.close()
        raise
    return con


_SIZE_UNITS = {
    "bytes": 1,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
}


def duckdb_size_bytes(text: str) -> int:
    """Bytes of a size as DuckDB prints its settings ('2.7 GiB', '953.6 MiB', '0 bytes')."""
    number, _, unit = text.strip().partition(" ")
    try:
        return int(float(number) * _SIZE_UNITS[unit.strip().lower()])
    except (KeyError, ValueError):
        raise ValueError(f"not a DuckDB size: {text!r}") from None


@contextmanager
def duckdb_memory_lent(con: duckdb.DuckDBPyConnection, nbytes: int) -> Iterator[int | None]:
    """DuckDB's ``memory_limit`` lowered by ``nbytes`` (never below two thirds of it) for
    the block, then set back; yields the lowered limit in bytes, or None when DuckDB could
    not lower it (it must first evict blocks, and pinned ones cannot be: then the block
    runs under the full limit, with a warning).

    For a Python model that holds memory DuckDB does not count, in the same process, for
    a long time: the language check's child process and batches (~1 GB) for the ~25
    minutes of a 760k-row check, beside which dbt's other thread runs the big SQL marts
    (the full rehearsal's peak is there). Lent, DuckDB's share shrinks while the check
    runs, so the build's process stays near the limit's budget, and the marts beside it
    spill sooner (the check is the build's critical path there: they cost time, not the
    build's). Alone it did not lower the rehearsal's peak, which the check's own leak
    made (fixed in ``langid._prepare_batch``). ``memory_limit`` is global to the database, so
    every connection of the build sees the lowered limit."""
    import duckdb

    before = con.sql("select current_setting('memory_limit')").fetchall()[0][0]
    # dbt's profile sets the limit from this variable: restore it exactly (DuckDB prints
    # it rounded to a tenth of a GiB)
    restore = os.environ.get("SYNTHLAKE_DUCKDB_MEMORY_LIMIT") or before
    limit = duckdb_size_bytes(before)
    lowered = max(limit * 2 // 3, limit - nbytes)
    try:
        con.execute(f"set memory_limit = '{lowered}B'")
    except duckdb.Error as exc:
        log.warning(
            "DuckDB's memory_limit stays %s beside a step that needs %.1f GB outside it: %s",
            before,
            nbytes / 1e9,
            exc,
        )
        yield None
        return
    try:
        yield lowered
    finally:
        con.execute(f"set memory_limit = '{restore}'")


def is_corrupt_warehouse_error(exc: BaseException) -> bool:
    """DuckDB's errors for a damaged or foreign database file."""
    text = str(exc)
    return "Corrupt database file" in text or "not a valid DuckDB database file" in text


def atomic_write_parquet(table: pa.Table, path: Path) -> None:
    """Write to a temp name then rename, so a killed run never leaves half a Parquet file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def now_utc() -> datetime:
    return datetime.now(UTC)


def replace_folder(tmp: Path, target: Path) -> None:
    """Move the finished folder ``tmp`` to ``target``, replacing what was there.

    The old folder is renamed aside (``.<name>.old-<hex>``) first and deleted last, so a
    reader never sees a half folder; a crash between the two renames leaves the old one
    under that name, for the caller to restore. Both folders must be on one file system.
    """
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except OSError:
        if old.exists():
            os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)

"""Running dbt in-process, with synthlake's settings handed to the dbt project.

dbt reads the lake root and thread count from environment variables (see profiles.yml and
the sources' ``external_location``), so they are exported here as absolute values before
each invocation.

Inside a Prefect flow the build is one Prefect task whose log has dbt's node lines ("12 of
500 OK created ..."): the run log, the live display and Prefect's UI read them there. With
``SYNTHLAKE_DBT_NODE_TASKS=true`` prefect-dbt's runner makes every node its own Prefect
task instead. That is Prefect's per-node view, but it costs about 0.1 s per node on 2 cores
(task runs and their logs go through Prefect's API one event at a time, after dbt is done):
on the project's ~500 nodes, 442 of them data tests, about 45 s of a build, which a small
daily refresh pays in full (measured by ``bench/rehearsal.py``).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from synthlake.errors import CorruptWarehouse, DbtError
from synthlake.lake import Lake, duckdb_memory_limit, is_corrupt_warehouse_error
from synthlake.settings import Settings

log = logging.getLogger(__name__)


@contextmanager
def dbt_environment(settings: Settings) -> Iterator[None]:
    """Export the settings dbt needs, restoring the previous environment afterwards."""
    wanted = {
        "SYNTHLAKE_LAKE_ROOT": str(settings.lake_path),
        "SYNTHLAKE_DBT_THREADS": str(settings.dbt_threads),
        "SYNTHLAKE_DUCKDB_MEMORY_LIMIT": duckdb_memory_limit(settings.duckdb_memory_limit),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # dbt's logs beside its artifacts, in the lake, not in the repo.
        "DBT_LOG_PATH": str(dbt_artifacts_dir(settings) / "logs"),
    }
    previous = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def dbt_artifacts_dir(settings: Settings) -> Path:
    """dbt's target/ and logs/ live in the lake: two lakes built at once never share them."""
    return settings.lake_path / "dbt"


def _common_args(settings: Settings) -> list[str]:
    project = str(settings.project_dir)
    target = str(dbt_artifacts_dir(settings) / "target")
    return ["--project-dir", project, "--profiles-dir", project, "--target-path", target]


def run_dbt(args: list[str], settings: Settings, *, in_prefect: bool = False) -> Any:
    """Run a dbt command; raise ``DbtError`` with dbt's messages when it fails."""
    settings.lake_path.mkdir(parents=True, exist_ok=True)
    with dbt_environment(settings):
        try:
            result = _invoke(args, settings, in_prefect=in_prefect)
        finally:
            release_warehouse()
    if not result.success:
        message = _failure_message(args, result)
        if is_corrupt_warehouse_error(message):  # damaged past the header: found mid-build
            reason = next(line for line in message.splitlines() if "database file" in line)
            raise CorruptWarehouse(Lake.from_settings(settings).warehouse, reason.strip())
        raise DbtError(message)
    return result


def release_warehouse() -> None:
    """Close the DuckDB handle dbt-duckdb keeps open for the life of the process.

    dbt-duckdb caches one environment per process (``DuckDBConnectionManager._ENV``) and
    only drops it at exit; while it is open, the same process cannot open the warehouse
    read-only (export, summary) and other processes cannot open it at all. There is no
    public API for this, hence the private attribute.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    if env is not None and hasattr(env, "close"):
        env.close()


class HeapFreezer:
    """A dbt callback: once dbt has parsed the project and is about to run its nodes
    (``ConcurrencyLine``), move every object then alive out of the garbage collector's reach
    (``gc.freeze``); ``thaw`` (after the invocation) gives them back.

    Why: the build's Python models run in dbt's process, beside the LLM stages' clients.
    CPython's full collections walk every tracked object, and dbt's manifest, Prefect and the
    imported libraries are millions of them: each full collection held the GIL ~0.3 s, every
    ~30 s while the language check churned through its batches (seen with a stall monitor
    in the full rehearsal), and every LLM answer arriving then waited with it, up to a second
    between the socket and its commit to the cache. Frozen objects are not walked; objects
    freed by their reference count still are freed. One process may run two builds at once
    (a test's threads): the heap is thawed when the last of them ends.
    """

    _lock = threading.Lock()
    _active = 0

    def __init__(self) -> None:
        self._frozen = False

    def __call__(self, event: Any) -> None:
        if self._frozen or getattr(event.info, "name", "") != "ConcurrencyLine":
            return
        self._frozen = True
        with HeapFreezer._lock:
            HeapFreezer._active += 1
            gc.collect()  # what is garbage now is not kept for the whole build
            gc.freeze()
            # CPython runs a full collection only once the objects that reached the oldest
            # generation since the last one number a quarter of what it held after it:
            # counted before the freeze, that is the frozen millions, and cycles the build's
            # stages leave behind (an LLM stage's requests, clients, tracebacks) waited that
            # long (tests/unit/test_heap_freezer.py shows the accounting; the full
            # rehearsal's growth through the translation was the language check's, not
            # this). Collecting again, now with the heap frozen (nothing to walk), counts
            # only what is not frozen.
            gc.collect()

    def thaw(self) -> None:
        if not self._frozen:
            return
        self._frozen = False
        with HeapFreezer._lock:
            HeapFreezer._active -= 1
            if HeapFreezer._active == 0:
                gc.unfreeze()


def _invoke(args: list[str], settings: Settings, *, in_prefect: bool) -> Any:
    freezer = HeapFreezer()
    try:
        return _invoke_with(args, settings, in_prefect=in_prefect, freezer=freezer)
    finally:
        freezer.thaw()


def _invoke_with(
    args: list[str], settings: Settings, *, in_prefect: bool, freezer: HeapFreezer
) -> Any:
    if in_prefect and settings.dbt_node_tasks:
        from prefect_dbt import PrefectDbtRunner, PrefectDbtSettings

        runner = PrefectDbtRunner(
            settings=PrefectDbtSettings(
                project_dir=settings.project_dir,
                profiles_dir=settings.project_dir,
                target_path=dbt_artifacts_dir(settings) / "target",
            ),
            raise_on_failure=False,
        )
        return runner.invoke(args)
    from dbt.cli.main import dbtRunner

    if not in_prefect:
        return dbtRunner(callbacks=[freezer]).invoke([*args, *_common_args(settings)])
    from prefect import get_run_logger

    # dbt's own console output off (the run's display and log handlers show the lines),
    # its log file (DBT_LOG_PATH) at info as usual
    quiet = ["--log-level", "none", "--log-level-file", "info"]
    forward = NodeLineForwarder(get_run_logger())
    return dbtRunner(callbacks=[forward, freezer]).invoke([*args, *_common_args(settings), *quiet])


class NodeLineForwarder:
    """A dbt callback: dbt's info, warning and error lines onto a (Prefect run) logger.

    The logger is taken in the task's own thread: dbt calls back from its worker threads,
    where Prefect's run context is not set."""

    LEVELS = {"info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter) -> None:
        self.logger = logger

    def __call__(self, event: Any) -> None:
        level = self.LEVELS.get(str(getattr(event.info.level, "value", event.info.level)))
        if level is not None and event.info.msg:
            self.logger.log(level, event.info.msg)


def _failure_message(args: list[str], result: Any) -> str:
    lines = [f"dbt {' '.join(args)} failed:"]
    results = getattr(getattr(result, "result", None), "results", None) or []
    for node_result in results:
        status = str(getattr(node_result, "status", "")).lower()
        if status in {"error", "fail", "runtime error"}:
            node = getattr(node_result, "node", None)
            name = getattr(node, "unique_id", "?")
            lines.append(f"  {name}: {status}: {(node_result.message or '').strip()}")
    if len(lines) == 1 and result.exception is not None:
        lines.append(f"  {result.exception}")
    return "\n".join(lines)

"""One run at a time per lake: ``<lake>/run.lock``.

Two runs on one lake would both write ``warehouse.duckdb``; DuckDB lets one process hold
it, so the second failed deep inside dbt with a lock traceback. A run now takes an
exclusive ``flock`` on ``<lake>/run.lock`` before it starts anything, and a second one
stops at once, naming the run that holds the lake (PID, start time, command).

``flock`` belongs to the open file: the kernel releases it when the holder exits, however
it exits (``kill -9`` included), so a lock left by a dead process never blocks; the file
itself stays, holding the last holder's details, and is rewritten by the next holder.
The descriptor is not inherited by child processes (Python opens files close-on-exec), so
a server the run started cannot keep the lake locked after the run is gone.

Re-entrant within a process: ``synthlake run`` takes the lock and the ``refresh`` flow it
starts takes it again (a scheduled run of ``refresh`` takes it by itself).
"""

from __future__ import annotations

import fcntl
import functools
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from synthlake.errors import LakeNotWritable, RunLocked

LOCK_FILE = "run.lock"
_held: dict[Path, int] = {}  # lock path -> nesting depth, in this process


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"PID {info['pid']}, started {info['started_at']}: {info['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "details not written yet"


@contextmanager
def run_lock(lake_root: Path) -> Iterator[Path]:
    """Hold ``<lake_root>/run.lock`` for the body; ``RunLocked`` when another process has it."""
    path = Path(os.path.abspath(lake_root / LOCK_FILE))
    if path in _held:
        _held[path] += 1
        try:
            yield path
        finally:
            _held[path] -= 1
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise LakeNotWritable.from_os_error(exc, path) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunLocked(path, _holder(path)) from None
    try:
        info = {
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        _held[path] = 1
        yield path
    finally:
        _held.pop(path, None)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def holding_run_lock(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a flow function taking ``lake_root``: run it holding that lake's lock."""

    # Resolved annotations: Prefect validates a flow's parameters against its signature,
    # resolving string annotations (``from __future__ import annotations``) in the
    # wrapper's module, which is this one.
    signature = inspect.signature(func, eval_str=True)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from synthlake.settings import load_settings

        lake_root = signature.bind(*args, **kwargs).arguments.get("lake_root")
        overrides = {"lake_root": Path(lake_root)} if lake_root else {}
        with run_lock(load_settings(**overrides).lake_path):
            return func(*args, **kwargs)

    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    return wrapper

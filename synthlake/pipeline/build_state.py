"""Whether the warehouse already reflects exactly what is in the lake and the project.

A refresh that ingested nothing new would otherwise rerun every dbt model and data test
(about two minutes on the sample, 400+ nodes) to find nothing to do. The fingerprint
covers what a build reads: the raw Parquet files (path, size, modification time), the
settings, and the project's code (dbt models, seeds, macros, tests and the Python the
Python models import). The raw LLM journal (``llm_calls``, ``llm_failures``) is left out:
the build itself appends to it, and the marts over it are built after every LLM stage.
After a successful build the fingerprint is stored in ``lake/cache/build_state.json``; the
next refresh skips the build when nothing in it changed and no LLM stage left rows
unfinished (``synthlake/llm/unfinished.py``: rows whose request failed for a transient or
configuration reason, which a later run must ask again). ``synthlake build`` always builds.
``llm_retry_quarantined`` is left out of the fingerprint: the run that sets it builds
anyway, and the plain run after it must not rebuild for it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from synthlake.lake import Lake
from synthlake.llm.unfinished import unfinished_rows
from synthlake.settings import Settings

BUILD_WRITES = frozenset({"llm_calls", "llm_failures"})  # raw tables the build appends to
CODE_DIRS = ("models", "python_models", "seeds", "macros", "tests/dbt", "synthlake")
CODE_FILES = ("dbt_project.yml", "profiles.yml")
CODE_SUFFIXES = (".sql", ".py", ".yml", ".yaml", ".csv", ".toml")
STATE_FILE = "build_state.json"
NOT_FINGERPRINTED = {"llm_retry_quarantined"}  # a one-run switch, not what the build reads


def build_fingerprint(settings: Settings, lake: Lake) -> str:
    digest = hashlib.sha256()
    for path in sorted(lake.raw.rglob("*.parquet")):
        relative = path.relative_to(lake.raw)
        if relative.parts[0] in BUILD_WRITES:
            continue
        stat = path.stat()
        digest.update(f"raw\0{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    digest.update(settings.model_dump_json(exclude=NOT_FINGERPRINTED).encode())
    project = settings.project_dir
    files = [project / name for name in CODE_FILES if (project / name).is_file()]
    for folder in CODE_DIRS:
        files += [p for p in (project / folder).rglob("*") if p.suffix in CODE_SUFFIXES]
    for path in sorted(set(files)):
        digest.update(f"code\0{path.relative_to(project)}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _state_path(lake: Lake) -> Path:
    return lake.cache / STATE_FILE


def last_build(lake: Lake) -> dict[str, Any] | None:
    try:
        return json.loads(_state_path(lake).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_up_to_date(lake: Lake, fingerprint: str) -> bool:
    state = last_build(lake)
    if unfinished_rows(lake):
        return False
    return bool(state and state.get("fingerprint") == fingerprint and lake.warehouse.is_file())


def record_build(lake: Lake, fingerprint: str, run_id: str) -> None:
    path = _state_path(lake)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "fingerprint": fingerprint,
        "run_id": run_id,
        "built_at": datetime.now(UTC).isoformat(),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    tmp.replace(path)

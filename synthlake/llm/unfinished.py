"""Rows an LLM stage left for a later run, so that the next refresh builds again.

A row is done only when an answer was stored or a content failure was quarantined. A row
whose request failed for a transient or configuration reason is not stored, and the next
build asks again; but the build-skip check (``synthlake/pipeline/build_state.py``) sees only the
lake's raw files, the settings and the code, none of which changed when a provider came
back or a key was fixed. So each LLM stage writes here, at the end of every run, how
many of its rows it left unfinished (0 clears it), and a refresh builds whenever any
stage has some left.
"""

from __future__ import annotations

import json
from pathlib import Path

from synthlake.lake import Lake

UNFINISHED_FILE = "llm_unfinished.json"


def _path(lake: Lake) -> Path:
    return lake.cache / UNFINISHED_FILE


def unfinished_rows(lake: Lake) -> dict[str, int]:
    """Stage -> rows left for a later run (only stages with some)."""
    try:
        data = json.loads(_path(lake).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in data.items() if int(v) > 0}


def record_unfinished(lake: Lake, stage: str, rows: int) -> None:
    """Say how many rows ``stage`` left for a later run (atomic replace)."""
    path = _path(lake)
    path.parent.mkdir(parents=True, exist_ok=True)
    current = unfinished_rows(lake)
    if rows > 0:
        current[stage] = rows
    else:
        current.pop(stage, None)
    tmp = path.with_suffix(f".{stage}.tmp")
    tmp.write_text(json.dumps(current, sort_keys=True), encoding="utf-8")
    tmp.replace(path)

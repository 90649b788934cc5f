"""One `synthlake run` on the bundled sample, shared by every end-to-end module.

The pipeline runs as `make run` runs it (the sample profile, data/sample/synthlake.toml,
the embedded local models), in a temporary lake, then runs again at once. Each module
checks its stage on the same lake: running it once per module would cost the suite
several extra runs of the local LLM. ``SampleRun.first`` holds what the first run left,
so the rerun's effect can be checked too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from synthlake.settings import PROJECT_DIR as REPO

SAMPLE = REPO / "data" / "sample"
SAMPLE_CONFIG = SAMPLE / "synthlake.toml"


def cli(lake: Path, *args: str, timeout: int = 1500, **env: str) -> subprocess.CompletedProcess:
    """The real command line in a subprocess, with only the settings given here."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SYNTHLAKE_") or k == "SYNTHLAKE_MODEL_CACHE"  # the session's
    }
    environ |= {"SYNTHLAKE_LAKE_ROOT": str(lake), "SYNTHLAKE_CONFIG": str(SAMPLE_CONFIG), **env}
    return subprocess.run(
        [sys.executable, "-m", "synthlake.pipeline.cli", *args],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def rows(lake: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def uncached_llm_calls(lake: Path) -> dict[str, int]:
    """Requests sent to an LLM (not answered from the cache), per stage, from the raw log."""
    files = [str(p) for p in (lake / "raw" / "llm_calls").rglob("*.parquet")]
    with duckdb.connect() as con:
        return dict(
            con.execute(
                "select stage, count(*) from read_parquet(?, union_by_name=true) "
                "where not cached group by all",
                [files],
            ).fetchall()
        )


def raw_files(lake: Path) -> list[Path]:
    return sorted(
        p.relative_to(lake)
        for p in (lake / "raw").rglob("*.parquet")
        if "llm_calls" not in p.parts  # the LLM journal records cache hits too
    )


@dataclass
class SampleRun:
    lake: Path
    first: dict = field(default_factory=dict)
    rerun: subprocess.CompletedProcess | None = None


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    lake = tmp_path_factory.mktemp("e2e") / "lake"
    result = cli(lake, "run")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    first = {
        "raw_files": raw_files(lake),
        "llm_calls": uncached_llm_calls(lake),
        "news_qa": rows(lake, "select qa_id from news_qa order by qa_id"),
        "translations": rows(lake, "select count(*) from int_instructions_translated")[0][0],
        "judgements": rows(lake, "select count(*) from int_qa_judgements")[0][0],
        "stdout": result.stdout,
        "stderr": result.stderr,
        "run_results": json.loads((lake / "dbt" / "target" / "run_results.json").read_text()),
    }
    rerun = cli(lake, "run")
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-5000:]
    return SampleRun(lake=lake, first=first, rerun=rerun)

"""A batch killed mid-way (SIGKILL of a real process) resumes paying only for the rest."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from synthlake.lake import Lake
from synthlake.llm.cache import CACHE_FILE
from synthlake.llm.runner import LLMRunner
from synthlake.settings import load_settings
from tests.integration.llm.conftest import requests_for

CHILD = """
import sys
from synthlake.llm.runner import LLMRunner
from synthlake.settings import load_settings
from tests.integration.llm.conftest import requests_for

lake, base_url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
settings = load_settings(
    lake_root=lake, llm=f"openai:test-model@{base_url}", llm_concurrency=3, llm_timeout_s=600
)
LLMRunner(settings).run(requests_for(n))
print("finished: the test expected to kill me first", flush=True)
"""

REPO = Path(__file__).resolve().parents[3]


def _cached_answers(lake: Path) -> int:
    path = lake / "cache" / CACHE_FILE
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=1) as con:
            return con.execute("select count(*) from responses").fetchone()[0]
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def test_killed_batch_resumes_and_pays_only_for_unfinished_requests(openai_server, tmp_path):
    n, k = 12, 5
    lake_root = tmp_path / "lake"
    openai_server.hang_after(k)  # answer k requests, then hold every later one open
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(lake_root), openai_server.base_url, str(n)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while not (
            openai_server.completed == k
            and openai_server.call_count > k  # it is stuck on the (k+1)-th
            and _cached_answers(lake_root) == k  # and the k answers are committed
        ):
            assert child.poll() is None, child.stdout.read().decode()
            assert time.monotonic() < deadline, "the child never reached k answers"
            time.sleep(0.05)
    finally:
        child.kill()
        child.wait()
    assert openai_server.completed == k

    openai_server.hang_after(None)
    before = openai_server.call_count
    settings = load_settings(lake_root=lake_root, llm=f"openai:test-model@{openai_server.base_url}")
    results = LLMRunner(settings).run(requests_for(n))

    assert openai_server.call_count - before == n - k  # exactly the unfinished ones
    assert all(r.ok for r in results)
    assert sum(r.cached for r in results) == k
    assert [r.text for r in results] == [f"echo: question {i}" for i in range(n)]
    # The killed run's accounting was journaled per request and is not lost: the rerun
    # moved it to the lake beside its own rows.
    calls = Lake.from_settings(settings).read_raw("llm_calls").to_pylist()
    runs = {}
    for row in calls:
        runs.setdefault(row["run_id"], []).append(row)
    assert sorted(len(rows) for rows in runs.values()) == [k, n]
    killed_rows = next(rows for rows in runs.values() if len(rows) == k)
    assert not any(row["cached"] for row in killed_rows)

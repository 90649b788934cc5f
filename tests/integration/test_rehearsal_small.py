"""`bench/rehearsal.py --size small`: the seed-scale rehearsal as a smoke test (issue 17).

Runs the real script (four `synthlake run`s against the stand-in provider: reference,
killed with SIGKILL at half of the LLM requests with a provider restart before, resumed,
daily refresh) and asserts its correctness checks. Its timing checks (provider-limited
time, refresh <= 10%, share of the limit) are figures for the report, not asserted here:
tests never assert on wall time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_small_rehearsal_kill_resume_and_refresh(tmp_path):
    out = tmp_path / "rehearsal"
    done = subprocess.run(
        [sys.executable, "-m", "bench.rehearsal", "--size", "small", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert (out / "rehearsal.json").is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "rehearsal.json").read_text())
    checks = {c["check"]: c for c in report["checks"]}
    assert "| stage | wall s | peak RSS | rows | rows/s |" in (out / "rehearsal.md").read_text()

    # the kill happened mid-LLM, after a provider restart
    assert report["runs"]["killed"]["killed"]
    assert report["provider"]["at_kill"]["starts"] == 2
    assert (
        0 < report["provider"]["at_kill"]["answered"] < report["provider"]["reference"]["answered"]
    )
    # nothing lost, nothing twice, the same outputs
    for mart in report["comparison"]:
        assert mart["lost"] == 0 and mart["duplicates"] == 0, mart
        assert mart["reference"] == mart["resumed"] and mart["added"] == 0, mart
    # no answer the client received was paid again; a request in flight at the SIGKILL is
    # billed and lost with the process (the resume must ask again), and is counted apart
    resumed = report["provider"]["resumed"]
    assert resumed["paid_twice_received"] == 0, resumed
    assert resumed["paid_twice_in_flight"] <= resumed["in_flight_at_kill"]
    assert report["provider"]["refresh"]["paid_twice"] == resumed["paid_twice"]
    assert report["snapshot"]["reference"] is not None
    assert report["snapshot"]["reference"] == report["snapshot"]["resumed"]
    for name in ("0 rows lost", "0 duplicates", "0 requests paid twice", "identical outputs"):
        assert checks[name]["ok"], checks[name]
    # the daily refresh asked only for new or changed rows
    assert report["refresh"]["sent_for_unchanged"] == 0
    assert checks["daily refresh: 0 LLM requests for unchanged rows"]["ok"]
    # every LLM batch said what it would cost before sending
    assert report["cost"]["estimated"] > 0 and report["cost"]["journaled"] > 0

"""bench/rehearsal.py's count of requests paid twice, from the provider stand-in's ledger:
an answer the client received and paid again is told apart from one in flight at the
SIGKILL and from one the provider finished after the client's timeout had given up."""

from __future__ import annotations

import json
from pathlib import Path

from bench.rehearsal import paid_twice_apart_from_in_flight
from bench.rehearsal_provider import EVENTS, PAID

KILLED_AT = 1000.0
TIMEOUT_S = 20.0


def ledger(tmp_path: Path, requests: list[tuple[str, float, float]]) -> Path:
    """One 'ok' event and one paid row per (hash, start, end)."""
    events = [{"t0": t0, "h": h, "t1": t1, "what": "ok", "status": 200} for h, t0, t1 in requests]
    paid = [{"t": t1, "h": h, "tin": 10, "tout": 5} for h, _, t1 in requests]
    (tmp_path / EVENTS).write_text("".join(json.dumps(e) + "\n" for e in events))
    (tmp_path / PAID).write_text("".join(json.dumps(p) + "\n" for p in paid))
    return tmp_path


def test_received_in_flight_and_late_answers_are_counted_apart(tmp_path: Path) -> None:
    state = ledger(
        tmp_path,
        [
            ("kept", 100.0, 100.5),  # answered once
            ("received", 200.0, 200.4),  # received well before the kill...
            ("received", 1010.0, 1010.3),  # ... and asked again by the resume
            ("in-flight", 999.0, 999.9),  # answered 0.1 s before the kill
            ("in-flight", 1012.0, 1012.5),
            ("late", 500.0, 520.6),  # 20.6 s against a 20 s timeout
            ("late", 521.9, 522.3),  # the client's retry
        ],
    )
    counts = paid_twice_apart_from_in_flight(state, KILLED_AT, TIMEOUT_S)
    assert counts["paid_twice_received"] == 1
    assert counts["paid_twice_in_flight"] == 1
    assert counts["paid_twice_after_timeout"] == 1
    assert counts["in_flight_at_kill"] == 1
    # without the timeout, the late answer counts as received
    assert paid_twice_apart_from_in_flight(state, KILLED_AT)["paid_twice_received"] == 2

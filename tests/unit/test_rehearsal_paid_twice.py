"""bench/rehearsal.py's count of requests paid twice, from the provider stand-in's ledger
and the answers the killed run had committed to its cache: an answer the client received,
kept and paid again is told apart from one in flight at the SIGKILL, one billed before the
kill that the killed process had not stored yet, and one the provider finished after the
client's timeout had given up."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from bench.rehearsal import paid_twice_apart_from_in_flight, stored_answers
from bench.rehearsal_provider import EVENTS, PAID, answer_digest

KILLED_AT = 1000.0
TIMEOUT_S = 20.0


def ledger(tmp_path: Path, requests: list[tuple[str, float, float | None]]) -> Path:
    """One event per (hash, start, end); a paid row (its answer the hash's text) per
    request that ended; no end: the provider was still generating it."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    events, paid = [], []
    for h, t0, t1 in requests:
        if t1 is None:
            events.append({"t0": t0, "h": h, "adm": 10, "admitted": True})
            continue
        events.append({"t0": t0, "h": h, "t1": t1, "what": "ok", "status": 200})
        paid.append({"t": t1, "h": h, "tin": 10, "tout": 5, "a": answer_digest(h, 10, 5)})
    (tmp_path / EVENTS).write_text("".join(json.dumps(e) + "\n" for e in events))
    (tmp_path / PAID).write_text("".join(json.dumps(p) + "\n" for p in paid))
    return tmp_path


def cache_with(lake: Path, answers: list[str]) -> Path:
    """A lake whose LLM cache holds these answers, as the client stores them."""
    (lake / "cache").mkdir(parents=True)
    with sqlite3.connect(lake / "cache" / "llm.sqlite3") as con:
        con.execute("create table responses (text text, tokens_in integer, tokens_out integer)")
        con.executemany("insert into responses values (?, 10, 5)", [(a,) for a in answers])
    return lake


REQUESTS = [
    ("kept", 100.0, 100.5),  # answered once
    ("received", 200.0, 200.4),  # received and stored well before the kill...
    ("received", 1010.0, 1010.3),  # ... and asked again by the resume
    ("unstored", 999.0, 999.4),  # billed 0.6 s before the kill, not yet committed
    ("unstored", 1011.0, 1011.2),
    ("in-flight", 999.5, 1000.3),  # still being generated at the kill, billed after it
    ("hung", 999.0, None),  # never answered (the client gave up), never billed
    ("in-flight", 1012.0, 1012.5),
    ("late", 500.0, 520.6),  # 20.6 s against a 20 s timeout
    ("late", 521.9, 522.3),  # the client's retry
]


def test_received_unstored_in_flight_and_late_answers_are_counted_apart(tmp_path: Path) -> None:
    state = ledger(tmp_path / "provider", REQUESTS)
    lake = cache_with(tmp_path / "lake", ["kept", "received", "late"])
    stored = stored_answers(lake)
    assert stored == {answer_digest(a, 10, 5) for a in ("kept", "received", "late")}

    counts = paid_twice_apart_from_in_flight(state, KILLED_AT, TIMEOUT_S, stored)
    assert counts["paid_twice_received"] == 1
    assert counts["paid_twice_unstored_at_kill"] == 1
    assert abs(counts["unstored_oldest_s"] - 0.6) < 1e-6
    assert counts["paid_twice_in_flight"] == 1
    assert counts["in_flight_at_kill"] == 2  # the hung request too, billed never
    assert counts["paid_twice_after_timeout"] == 1


def test_without_the_evidence_an_answer_counts_as_received(tmp_path: Path) -> None:
    state = ledger(tmp_path / "provider", REQUESTS)
    # no cache read at the kill: the unstored answer cannot be told from a kept one
    assert paid_twice_apart_from_in_flight(state, KILLED_AT, TIMEOUT_S)["paid_twice_received"] == 2
    # an answer the killed run had stored and the resume paid again is never excused
    lake = cache_with(tmp_path / "lake", ["kept", "received", "late", "unstored"])
    counts = paid_twice_apart_from_in_flight(state, KILLED_AT, TIMEOUT_S, stored_answers(lake))
    assert counts["paid_twice_received"] == 2
    assert counts["paid_twice_unstored_at_kill"] == 0
    # without the timeout, the late answer counts as received too
    counts = paid_twice_apart_from_in_flight(state, KILLED_AT, None, stored_answers(lake))
    assert counts["paid_twice_received"] == 3

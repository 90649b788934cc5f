"""The LLM layer's own SQLite file: the response cache and the call journal.

Its own file (``lake/cache/llm.sqlite3``), never the DuckDB warehouse: dbt holds the
warehouse's write lock for a whole build, and LLM steps run *inside* that build.

- ``responses``: one row per successful answer, keyed by ``cache_key`` (a hash of
  provider, model, prompt id and version, messages and generation params). Only answers
  are stored: a failed call, or an answer that failed validation, is never cached.
- ``batch_jobs`` / ``batch_requests``: provider batch jobs submitted and not yet collected
  (``SYNTHLAKE_LLM_BATCH_API``), with the cache key of each request, so that a run that
  stops waiting, or is killed, never submits (and pays for) the same requests again: the
  next run collects the job instead.
- ``quarantine_journaled``: the ids of quarantine verdicts a stage reached on its own
  (a summary that is not one) and already journaled: the verdict on a cached answer is
  reached again on every build, and is journaled once, even when the run that first
  reached it was killed before journaling it.
- ``journal``: one row per finished request (call or failure), committed as it finishes.
  At the end of a batch the runner moves its rows into the lake's raw Parquet tables
  (``llm_calls``, ``llm_failures``) and deletes them; rows left by a process that was
  killed are moved by the next run, so the accounting loses nothing.

Hand-written on the stdlib ``sqlite3`` (WAL mode, a commit per finished request): the
access pattern is a key-value lookup plus an append-only outbox, and a cache library
(diskcache...) would add a dependency without giving the outbox.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from synthlake.llm.types import GenerationParams, Message

log = logging.getLogger(__name__)

CACHE_FILE = "llm.sqlite3"
KEY_VERSION = 1  # bump if the key's content changes meaning

_SCHEMA = """
create table if not exists responses (
    cache_key text primary key,
    provider text not null,
    model text not null,
    prompt_id text not null,
    prompt_version text not null,
    text text not null,
    tokens_in integer not null,
    tokens_out integer not null,
    finish_reason text,
    latency_s real,
    cost_usd real,
    created_at text not null
);
create table if not exists journal (
    seq integer primary key autoincrement,
    kind text not null check (kind in ('call', 'failure')),
    run_id text not null,
    host text not null,
    pid integer not null,
    payload text not null
);
create index if not exists journal_run on journal (run_id);
create table if not exists quarantine_journaled (
    failure_id text primary key
);
create table if not exists batch_jobs (
    job_id text primary key,
    provider text not null,
    model text not null,
    stage text not null,
    submitted_at text not null,
    finished_at text,
    outcome text,
    detail text
);
create table if not exists batch_requests (
    job_id text not null references batch_jobs (job_id),
    custom_id text not null,
    cache_key text not null,
    row_id text not null,
    prompt_id text not null,
    prompt_version text not null,
    primary key (job_id, custom_id)
);
"""


def cache_key(
    *,
    provider: str,
    model: str,
    prompt_id: str,
    prompt_version: str,
    messages: Sequence[Message],
    params: GenerationParams,
    model_fingerprint: str = "",
) -> str:
    """SHA-256 of everything that decides an answer. Remote base URLs are left out on
    purpose: the same model moved to another host keeps its cache."""
    payload = {
        "v": KEY_VERSION,
        "provider": provider,
        "model": model,
        "fingerprint": model_fingerprint,
        "prompt_id": prompt_id,
        "prompt_version": prompt_version,
        "messages": [[m.role, m.content] for m in messages],
        "params": params.as_key(),
    }
    data = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class CachedResponse:
    text: str
    tokens_in: int
    tokens_out: int
    finish_reason: str | None
    latency_s: float | None
    cost_usd: float | None

    @classmethod
    def of(cls, completion: Any, latency_s: float | None, cost_usd: float | None) -> CachedResponse:
        """A provider's ``Completion`` as the answer the runner caches and journals."""
        return cls(
            text=completion.text,
            tokens_in=completion.tokens_in,
            tokens_out=completion.tokens_out,
            finish_reason=completion.finish_reason,
            latency_s=latency_s,
            cost_usd=cost_usd,
        )


class BatchRequestRow(NamedTuple):
    custom_id: str
    cache_key: str
    row_id: str
    prompt_id: str
    prompt_version: str


@dataclass(slots=True)
class OpenBatchJob:
    job_id: str
    stage: str
    submitted_at: str
    requests: dict[str, BatchRequestRow]  # by custom_id


class LLMStore:
    """One connection to the cache file. Thread-safe; not shared across processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            path, timeout=60.0, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("pragma journal_mode=wal")
        self._conn.execute("pragma synchronous=normal")  # durable across a killed process
        self._conn.execute("pragma busy_timeout=60000")
        self._conn.executescript(_SCHEMA)
        self.host = socket.gethostname()
        self.pid = os.getpid()

    @classmethod
    def open(cls, cache_dir: Path) -> LLMStore:
        return cls(cache_dir / CACHE_FILE)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> LLMStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- cache -------------------------------------------------------------------------
    def output_history(self, provider: str, model: str) -> dict[str, tuple[int, float]]:
        """prompt_id -> (answers stored, their mean output tokens) for this provider and
        model: what the runner forecasts the output of new requests from."""
        with self._lock:
            rows = self._conn.execute(
                "select prompt_id, count(*), avg(tokens_out) from responses "
                "where provider = ? and model = ? group by prompt_id",
                (provider, model),
            ).fetchall()
        return {prompt_id: (int(n), float(mean)) for prompt_id, n, mean in rows}

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedResponse]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, CachedResponse] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    "select cache_key, text, tokens_in, tokens_out, finish_reason, latency_s, "
                    f"cost_usd from responses where cache_key in ({marks})",
                    chunk,
                ).fetchall()
                for row in rows:
                    found[row[0]] = CachedResponse(*row[1:])
        return found

    def put(
        self,
        key: str,
        *,
        provider: str,
        model: str,
        prompt_id: str,
        prompt_version: str,
        response: CachedResponse,
        journal: Sequence[tuple[str, str, dict[str, Any]]] = (),
    ) -> None:
        """Store an answer and its journal rows in one committed transaction."""
        with self._lock:
            self._conn.execute("begin immediate")
            try:
                self._conn.execute(
                    "insert or replace into responses values (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        key,
                        provider,
                        model,
                        prompt_id,
                        prompt_version,
                        response.text,
                        response.tokens_in,
                        response.tokens_out,
                        response.finish_reason,
                        response.latency_s,
                        response.cost_usd,
                        datetime.now(UTC).isoformat(),
                    ),
                )
                for row in journal:
                    self._journal(*row)
                self._conn.execute("commit")
            except BaseException:
                self._conn.execute("rollback")
                raise

    def forget(self, key: str) -> None:
        with self._lock:
            self._conn.execute("delete from responses where cache_key = ?", (key,))

    def count(self) -> int:
        with self._lock:
            return self._conn.execute("select count(*) from responses").fetchone()[0]

    # --- batch jobs --------------------------------------------------------------------
    def add_batch_job(
        self,
        job_id: str,
        *,
        provider: str,
        model: str,
        stage: str,
        requests: Sequence[BatchRequestRow],
    ) -> None:
        """Remember a submitted job and its requests, committed before anything waits."""
        with self._lock:
            self._conn.execute("begin immediate")
            try:
                self._conn.execute(
                    "insert or replace into batch_jobs values (?,?,?,?,?,null,null,null)",
                    (job_id, provider, model, stage, datetime.now(UTC).isoformat()),
                )
                self._conn.executemany(
                    "insert or replace into batch_requests values (?,?,?,?,?,?)",
                    [(job_id, *row) for row in requests],
                )
                self._conn.execute("commit")
            except BaseException:
                self._conn.execute("rollback")
                raise

    def open_batch_jobs(self, provider: str, model: str) -> dict[str, OpenBatchJob]:
        """Jobs of this provider and model not collected yet, with their requests."""
        with self._lock:
            jobs = self._conn.execute(
                "select job_id, stage, submitted_at from batch_jobs "
                "where provider = ? and model = ? and finished_at is null order by submitted_at",
                (provider, model),
            ).fetchall()
            found: dict[str, OpenBatchJob] = {}
            for job_id, stage, submitted_at in jobs:
                rows = self._conn.execute(
                    "select custom_id, cache_key, row_id, prompt_id, prompt_version "
                    "from batch_requests where job_id = ?",
                    (job_id,),
                ).fetchall()
                requests = {row[0]: BatchRequestRow(*row) for row in rows}
                found[job_id] = OpenBatchJob(job_id, stage, submitted_at, requests)
        return found

    def close_batch_job(self, job_id: str, outcome: str, detail: str) -> None:
        with self._lock:
            self._conn.execute(
                "update batch_jobs set finished_at = ?, outcome = ?, detail = ? where job_id = ?",
                (datetime.now(UTC).isoformat(), outcome, detail, job_id),
            )

    def batch_jobs(self) -> list[tuple[Any, ...]]:
        """Every job: (job_id, provider, model, stage, submitted_at, finished_at, outcome,
        detail), newest first."""
        with self._lock:
            return self._conn.execute(
                "select * from batch_jobs order by submitted_at desc"
            ).fetchall()

    # --- journal -----------------------------------------------------------------------
    def _journal(self, kind: str, run_id: str, payload: dict[str, Any]) -> None:
        self._conn.execute(
            "insert into journal (kind, run_id, host, pid, payload) values (?,?,?,?,?)",
            (kind, run_id, self.host, self.pid, json.dumps(payload, ensure_ascii=False)),
        )

    def journal(self, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Append (kind, run_id, payload) rows in one committed transaction."""
        if not rows:
            return
        with self._lock:
            self._conn.execute("begin immediate")
            try:
                for row in rows:
                    self._journal(*row)
                self._conn.execute("commit")
            except BaseException:
                self._conn.execute("rollback")
                raise

    def journal_once(self, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> int:
        """Append the failure rows whose ``failure_id`` was never journaled; return how many."""
        if not rows:
            return 0
        added = 0
        with self._lock:
            self._conn.execute("begin immediate")
            try:
                for row in rows:
                    cursor = self._conn.execute(
                        "insert or ignore into quarantine_journaled values (?)",
                        (row[2]["failure_id"],),
                    )
                    if cursor.rowcount:
                        self._journal(*row)
                        added += 1
                self._conn.execute("commit")
            except BaseException:
                self._conn.execute("rollback")
                raise
        return added

    def pending(
        self, run_id: str, *, exclude_runs: set[str] | frozenset[str] = frozenset()
    ) -> list[tuple[int, str, dict[str, Any]]]:
        """Journal rows to move to the lake: this run's, those of dead processes, and
        those of this process's earlier runs that could not move theirs (not in
        ``exclude_runs``, the runs still in flight here)."""
        with self._lock:
            owners = self._conn.execute("select distinct run_id, host, pid from journal").fetchall()
            runs = {run_id}
            for other_run, host, pid in owners:
                if other_run == run_id or host != self.host or other_run in exclude_runs:
                    continue
                if pid == self.pid or not _alive(pid):
                    runs.add(other_run)
            marks = ",".join("?" * len(runs))
            rows = self._conn.execute(
                f"select seq, kind, payload from journal where run_id in ({marks}) order by seq",
                sorted(runs),
            ).fetchall()
        return [(seq, kind, json.loads(payload)) for seq, kind, payload in rows]

    def delete_journal(self, seqs: Sequence[int]) -> None:
        with self._lock:
            self._conn.execute("begin immediate")
            try:
                for start in range(0, len(seqs), 500):
                    chunk = list(seqs[start : start + 500])
                    marks = ",".join("?" * len(chunk))
                    self._conn.execute(f"delete from journal where seq in ({marks})", chunk)
                self._conn.execute("commit")
            except BaseException:
                self._conn.execute("rollback")
                raise


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

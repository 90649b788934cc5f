"""Accounting: the budget guard, the rows of ``llm_calls`` / ``llm_failures``, and moving
the journal into the lake.

Every finished request is journaled in the cache's SQLite file as it finishes (so a killed
run loses no accounting); at the end of a batch the journal goes to the lake as one
Parquet file per table through ``Lake.write_raw``, which dbt reads as the ``llm`` source.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from synthlake.lake import RAW_TABLES, Lake
from synthlake.llm.cache import LLMStore
from synthlake.redact import redact

log = logging.getLogger(__name__)

RAW_TEXT_LIMIT = 20_000  # characters of a failed answer kept in llm_failures

# Runs in flight in this process: their journal rows are theirs to move.
_ACTIVE_RUNS: set[str] = set()
_ACTIVE_LOCK = threading.Lock()


def mark_active(run_id: str, active: bool) -> None:
    with _ACTIVE_LOCK:
        (_ACTIVE_RUNS.add if active else _ACTIVE_RUNS.discard)(run_id)


def active_runs() -> set[str]:
    with _ACTIVE_LOCK:
        return set(_ACTIVE_RUNS)


class BudgetGuard:
    """Stops a run before it can spend past ``llm_budget_usd``.

    A request is only sent when what is already spent, plus the worst case of the
    requests in flight, plus its own worst case (its prompt and ``max_new_tokens`` at list
    price) stays within the budget; so the budget is never overshot, even with many
    requests in flight. Unpriced models cannot be held to a budget: a warning says so.
    """

    def __init__(self, limit_usd: float | None) -> None:
        self.limit_usd = limit_usd
        self.spent_usd = 0.0
        self._reserved = 0.0
        self.exhausted = False
        self._warned_unpriced = False

    def reserve(self, worst_case_usd: float | None) -> float | None:
        """Returns the reservation to release, or None when the budget forbids the call."""
        if self.limit_usd is None:
            return 0.0
        if worst_case_usd is None:
            if not self._warned_unpriced:
                self._warned_unpriced = True
                log.warning("LLM budget set but this model has no price: it cannot be enforced")
            return 0.0
        if self.exhausted or self.spent_usd + self._reserved + worst_case_usd > self.limit_usd:
            if not self.exhausted:
                log.warning(
                    "LLM budget $%.4f reached ($%.4f spent): remaining requests are failed "
                    "with reason 'budget_exceeded'",
                    self.limit_usd,
                    self.spent_usd,
                )
            self.exhausted = True
            return None
        self._reserved += worst_case_usd
        return worst_case_usd

    def settle(self, reservation: float, actual_usd: float | None) -> None:
        self._reserved = max(0.0, self._reserved - reservation)
        if actual_usd:
            self.spent_usd += actual_usd


@dataclass(slots=True)
class RunStats:
    """Counters of one batch, logged at its end (each stage logs its counters
    when it ends) and kept on the runner."""

    run_id: str = ""
    requests: int = 0
    cached: int = 0  # answered from the persistent cache
    deduplicated: int = 0  # same key as another request of the batch
    called: int = 0  # requests sent to the provider
    attempts: int = 0  # HTTP calls / generations including retries
    succeeded: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0

    def as_log(self) -> str:
        failed = ", ".join(f"{k}={v}" for k, v in sorted(self.failed.items())) or "none"
        return (
            f"{self.requests} requests: {self.succeeded} answered ({self.cached} cached, "
            f"{self.deduplicated} deduplicated, {self.called} sent, {self.attempts} attempts), "
            f"failed: {failed}; tokens in/out {self.tokens_in}/{self.tokens_out}, "
            f"cost ${self.cost_usd:.6f}"
        )


def call_row(
    *,
    call_id: str,
    run_id: str,
    stage: str,
    row_id: str,
    prompt_id: str,
    prompt_version: str,
    provider: str,
    model: str,
    cache_key: str,
    cached: bool,
    tokens_in: int,
    tokens_out: int,
    latency_s: float | None,
    cost_usd: float | None,
    status: str,
    reason: str | None,
    attempts: int,
    finished_at: datetime,
    ingest_date: str,
) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "row_id": row_id,
        "stage": stage,
        "prompt_id": prompt_id,
        "prompt_version": prompt_version,
        "provider": provider,
        "model": model,
        "cache_key": cache_key,
        "cached": cached,
        "tokens_in": int(tokens_in),
        "tokens_out": int(tokens_out),
        "latency_s": latency_s,
        "cost_usd": cost_usd,
        "status": status,
        "reason": reason,
        "attempts": int(attempts),
        "run_id": run_id,
        "ingested_at": finished_at.isoformat(),
        "ingest_date": ingest_date,
    }


def failure_row(
    *,
    call_id: str | None,
    run_id: str,
    stage: str,
    row_id: str,
    prompt_id: str,
    prompt_version: str,
    provider: str,
    model: str,
    reason: str,
    detail: str,
    raw_text: str | None,
    attempts: int,
    finished_at: datetime,
    ingest_date: str,
) -> dict[str, Any]:
    detail, raw_text = redact(detail) or "", redact(raw_text)  # never a secret in the lake
    if raw_text is not None and len(raw_text) > RAW_TEXT_LIMIT:
        raw_text = raw_text[:RAW_TEXT_LIMIT] + f"... [{len(raw_text) - RAW_TEXT_LIMIT} more chars]"
    return {
        "failure_id": uuid.uuid4().hex,
        "call_id": call_id,
        "row_id": row_id,
        "stage": stage,
        "prompt_id": prompt_id,
        "prompt_version": prompt_version,
        "provider": provider,
        "model": model,
        "reason": reason,
        "detail": detail,
        "raw_text": raw_text,
        "attempts": int(attempts),
        "run_id": run_id,
        "ingested_at": finished_at.isoformat(),
        "ingest_date": ingest_date,
    }


def flush_journal(store: LLMStore, lake: Lake, run_id: str) -> dict[str, int]:
    """Move this run's journal rows (and those of dead runs) into the lake's raw tables.

    Write first, delete after: a crash in between leaves rows that a later run writes
    again, and staging keeps one row per ``call_id`` / ``failure_id``.
    """
    pending = store.pending(run_id, exclude_runs=active_runs() - {run_id})
    if not pending:
        return {}
    by_table: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for _, kind, payload in pending:
        table = "llm_calls" if kind == "call" else "llm_failures"
        by_table[(table, payload["ingest_date"])].append(payload)
    lake.ensure()
    written: Counter[str] = Counter()
    for (table, _), rows in sorted(by_table.items()):
        schema = RAW_TABLES[table]
        for row in rows:
            row["ingested_at"] = datetime.fromisoformat(row["ingested_at"])
        lake.write_raw(table, pa.Table.from_pylist(rows, schema=schema), run_id)
        written[table] += len(rows)
    store.delete_journal([seq for seq, _, _ in pending])
    return dict(written)

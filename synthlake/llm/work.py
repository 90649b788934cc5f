"""The records of one runner batch, and what the batch-API path needs of the runner.

``runner.py`` builds them and ``batch.py`` works on them; both import this module and
neither imports the other's internals: the runner hands a ``BatchSession`` a
:class:`RunnerForBatch` (its public ``run_online`` / ``finish_answer`` / ``finish_failure``),
not itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from synthlake.llm.accounting import BudgetGuard, RunStats
from synthlake.llm.cache import CachedResponse, LLMStore
from synthlake.llm.prices import PriceTable
from synthlake.llm.providers.base import Encoded
from synthlake.llm.retry import RetryPolicy
from synthlake.llm.types import GenerationParams, LLMRequest, LLMResult, Message

if TYPE_CHECKING:
    from synthlake.settings import Settings

# The progress lines are the runner's: logged under its name, as before they moved here.
log = logging.getLogger("synthlake.llm.runner")

Validator = Callable[[str], Any]


@dataclass(slots=True)
class WorkItem:
    """One request of a batch, prepared: its messages, params, cache key and encoding."""

    index: int
    request: LLMRequest
    messages: tuple[Message, ...]
    params: GenerationParams
    key: str
    encoded: Encoded


@dataclass(slots=True)
class RunContext:
    """What one ``LLMRunner.arun`` call shares with the code that finishes its requests."""

    run_id: str
    store: LLMStore
    stats: RunStats
    started: datetime
    validate: Validator | None
    record_invalid: bool
    results: list[LLMResult | None]
    followers: dict[str, list[WorkItem]]
    progress: Progress

    @property
    def ingest_date(self) -> str:
        return self.started.strftime("%Y-%m-%d")


# Called with the ``Progress`` at a batch's start, after each unit of work and at its end:
# the run's live display (``synthlake/pipeline/run_display.py``) counts requests with it.
PROGRESS_LISTENERS: list[Callable[[Progress], None]] = []


class Progress:
    """Logs how far a long batch is, at most every 30 s: requests finished (answered from
    the provider, from the cache, failed) out of the batch's total.

    ``step`` only counts; ``report`` logs, and is called once a unit of work is over (a
    remote request, a local forward pass), so that a line never says 1 done while a whole
    batch of answers has come back."""

    def __init__(self, total: int, what: str) -> None:
        self.total, self.what = total, what
        self.answered = self.cached = self.failed = 0
        self._last = time.monotonic()

    @property
    def done(self) -> int:
        return self.answered + self.cached + self.failed

    def step(self, *, ok: bool = True, cached: bool = False) -> None:
        if not ok:
            self.failed += 1
        elif cached:
            self.cached += 1
        else:
            self.answered += 1

    def notify(self) -> None:
        for listener in PROGRESS_LISTENERS:
            listener(self)

    def report(self) -> None:
        self.notify()
        now = time.monotonic()
        if now - self._last >= 30 and self.total:
            self._last = now
            log.info(
                "%s: %d/%d requests done (%d answered, %d cached, %d failed)",
                self.what,
                self.done,
                self.total,
                self.answered,
                self.cached,
                self.failed,
            )


class RunnerForBatch(Protocol):
    """What a ``BatchSession`` needs of the runner, for one ``arun`` call."""

    provider: Any
    settings: Settings
    stage: str
    budget: BudgetGuard
    prices: PriceTable
    retry: RetryPolicy

    async def run_online(self, items: list[WorkItem]) -> None:
        """Send ``items`` through the live API (retries, limits, the usual finishing)."""
        ...

    def finish_answer(
        self, item: WorkItem, answer: CachedResponse, *, attempts: int, cost: float | None
    ) -> None:
        """A new answer: validate, cache and journal it (and its duplicates)."""
        ...

    def finish_failure(
        self, item: WorkItem, reason: str, detail: str, raw_text: str | None, *, attempts: int
    ) -> None:
        """A request (and its duplicates) that got no answer: journaled, never cached."""
        ...

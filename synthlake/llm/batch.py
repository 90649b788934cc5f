"""Remote requests as provider batch jobs (``SYNTHLAKE_LLM_BATCH_API``): half price, slower.

OpenAI and Gemini both answer batch jobs within 24 hours at half the list price. For a
scheduled refresh that is the better trade: nothing downstream needs the answers within
seconds. With the setting on, the runner sends the requests a batch could not answer from
the cache like this:

1. Jobs left open by earlier runs for this provider and model (``batch_jobs`` in the LLM
   cache file) that hold some of these requests are collected, not submitted again.
2. The other requests are cut into jobs of at most ``llm_batch_max_requests`` requests and
   the provider's size limit. Each job is submitted (transient errors retried by the usual
   policy) and written to the cache file *before* any waiting, so a run that is killed
   while it waits never pays twice: the next run collects the job.
3. Jobs are polled every ``llm_batch_poll_s`` seconds, for at most ``llm_batch_wait_s``.
4. Answers go through the same validation, cache and ``llm_calls`` journal as online ones,
   priced at the batch rate. A request the job never ran (it expired or was cancelled) or
   answered with a transient error (429, 5xx) is sent again online, with the usual
   retries; any other error is a failure naming the row and the job.
5. A job still running at the deadline stays open; its requests fail with the transient
   reason ``batch_pending`` (not stored by the stages), and the next run collects it.

A server with no batch API (a 404/405 on submission, as vLLM or Ollama answer) gets the
requests online, with a warning. Hand-written: neither SDK resumes jobs across processes or
ties them to a response cache, which is what makes batch mode safe in a scheduled pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from synthlake.llm.accounting import call_row
from synthlake.llm.cache import BatchRequestRow, CachedResponse
from synthlake.llm.providers.base import (
    BatchEntry,
    BatchPoll,
    BatchProvider,
    Completion,
    ProviderError,
)
from synthlake.llm.retry import call_with_retries
from synthlake.llm.work import RunContext, RunnerForBatch, WorkItem

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

_NO_BATCH_API = (404, 405, 501)


def uses_batch_api(settings: Settings, provider: Any) -> bool:
    """Whether the runner sends this provider's requests as batch jobs."""
    return bool(settings.llm_batch_api) and provider.remote and isinstance(provider, BatchProvider)


@dataclass(slots=True)
class _Job:
    job_id: str
    items: dict[str, WorkItem]  # custom_id -> the request of this run it answers
    requests: dict[str, BatchRequestRow]  # every request of the job, by custom_id
    stage: str
    started: float = field(default_factory=time.monotonic)


class BatchSession:
    """One runner batch sent through the provider's batch API."""

    def __init__(self, runner: RunnerForBatch, ctx: RunContext) -> None:
        self.runner = runner
        self.ctx = ctx
        self.provider: Any = runner.provider
        self.settings = runner.settings
        self.reservations: dict[str, float] = {}
        self.online: list[WorkItem] = []  # sent again through the live API afterwards
        self.what = f"{self.provider.name}:{self.provider.model}"

    async def run(self, leaders: list[WorkItem]) -> None:
        pending = self._group(leaders)
        jobs = self._resume(pending)
        async with self.provider.session() as client:
            jobs += await self._submit(client, self._reserve(pending))
            await self._wait(client, jobs)
        if self.online:
            log.info("%s: %d requests sent again online", self.what, len(self.online))
            await self.runner.run_online(self.online)

    # --- before submitting -------------------------------------------------------------
    def _group(self, leaders: list[WorkItem]) -> dict[str, WorkItem]:
        """One request per cache key (with the cache off, duplicates are still leaders)."""
        by_key: dict[str, WorkItem] = {}
        for item in leaders:
            if item.key in by_key:
                self.ctx.followers.setdefault(item.key, []).append(item)
                self.ctx.stats.deduplicated += 1
            else:
                by_key[item.key] = item
        return by_key

    def _resume(self, pending: dict[str, WorkItem]) -> list[_Job]:
        """Open jobs from earlier runs holding some of these requests (taken out of
        ``pending``)."""
        jobs = []
        store = self.ctx.store
        for job in store.open_batch_jobs(self.provider.name, self.provider.model).values():
            mine = {
                custom_id: pending.pop(row.cache_key)
                for custom_id, row in job.requests.items()
                if row.cache_key in pending
            }
            if mine:
                log.info(
                    "%s: collecting batch job %s, submitted %s, for %d of these requests",
                    self.what,
                    job.job_id,
                    job.submitted_at,
                    len(mine),
                )
                jobs.append(_Job(job.job_id, mine, job.requests, job.stage))
        return jobs

    def _reserve(self, pending: dict[str, WorkItem]) -> list[WorkItem]:
        """The requests the budget lets through, at their worst-case batch price."""
        allowed = []
        budget = self.runner.budget
        for item in pending.values():
            worst = self.runner.prices.cost(
                self.provider.name,
                self.provider.model,
                item.encoded.tokens_in,
                item.params.max_new_tokens or 0,
                batch=True,
            )
            reservation = budget.reserve(worst)
            if reservation is None:
                detail = (
                    f"row {item.request.row_id!r}: not sent, the LLM budget "
                    f"${budget.limit_usd:g} is spent (${budget.spent_usd:.4f}); "
                    "raise SYNTHLAKE_LLM_BUDGET_USD and rerun to answer it"
                )
                self.runner.finish_failure(item, "budget_exceeded", detail, None, attempts=0)
                continue
            self.reservations[item.key] = reservation
            allowed.append(item)
        return allowed

    def _settle(self, item: WorkItem, actual: float | None) -> None:
        self.runner.budget.settle(self.reservations.pop(item.key, 0.0), actual)

    # --- submitting --------------------------------------------------------------------
    async def _submit(self, client: Any, items: list[WorkItem]) -> list[_Job]:
        jobs: list[_Job] = []
        chunks = list(
            _chunks(items, self.settings.llm_batch_max_requests, self.provider.batch_max_bytes)
        )
        for number, chunk in enumerate(chunks, start=1):
            label = f"synthlake-{self.runner.stage}-{self.ctx.run_id}-{number}"
            entries = [BatchEntry(it.key, it.encoded, it.params) for it in chunk]
            try:
                job_id, _ = await call_with_retries(
                    lambda entries=entries, label=label: self.provider.batch_submit(
                        client, entries, label
                    ),
                    self.runner.retry,
                    what=f"{self.what}: submitting a batch job of {len(chunk)} requests",
                )
            except ProviderError as error:
                if error.status in _NO_BATCH_API:
                    log.warning(
                        "%s: the server offers no batch API (%s); sending %d requests online. "
                        "Unset SYNTHLAKE_LLM_BATCH_API for this provider.",
                        self.what,
                        error,
                        len(chunk),
                    )
                    for item in chunk:
                        self._settle(item, 0.0)
                    self.online += chunk
                    continue
                self._fail_all(chunk, error.kind, f"submitting its batch job: {error}", error)
                continue
            except Exception as error:  # noqa: BLE001 - an SDK surprise must not sink the rest
                log.exception("%s: submitting a batch job failed", self.what)
                self._fail_all(chunk, "provider_error", f"submitting its batch job: {error}")
                continue
            rows = [
                BatchRequestRow(
                    it.key,
                    it.key,
                    it.request.row_id,
                    it.request.prompt_id,
                    str(it.request.prompt_version),
                )
                for it in chunk
            ]
            self.ctx.store.add_batch_job(
                job_id,
                provider=self.provider.name,
                model=self.provider.model,
                stage=self.runner.stage,
                requests=rows,
            )
            self.ctx.stats.called += len(chunk)
            self.ctx.stats.attempts += len(chunk)
            log.info("%s: submitted batch job %s (%d requests)", self.what, job_id, len(chunk))
            requests = {row.custom_id: row for row in rows}
            jobs.append(_Job(job_id, {it.key: it for it in chunk}, requests, self.runner.stage))
        return jobs

    # --- waiting and collecting --------------------------------------------------------
    async def _wait(self, client: Any, jobs: list[_Job]) -> None:
        poll_s = self.settings.llm_batch_poll_s
        deadline = time.monotonic() + self.settings.llm_batch_wait_s
        running = list(jobs)
        last_state: dict[str, str] = {}
        while running:
            for job in list(running):
                try:
                    poll, _ = await call_with_retries(
                        lambda job=job: self.provider.batch_poll(client, job.job_id),
                        self.runner.retry,
                        what=f"{self.what}: batch job {job.job_id}",
                    )
                except ProviderError as error:
                    running.remove(job)
                    if error.retryable:  # the provider is unreachable: the next run asks
                        self._leave_pending(job, f"could not be read ({error})")
                    else:  # the job is gone (404) or forbidden: answer its requests online
                        log.warning("%s: batch job %s: %s", self.what, job.job_id, error)
                        self.ctx.store.close_batch_job(job.job_id, "unreadable", str(error))
                        for item in job.items.values():
                            self._settle(item, 0.0)
                        self.online += list(job.items.values())
                    continue
                if last_state.get(job.job_id) != poll.detail:
                    last_state[job.job_id] = poll.detail
                    log.info("%s: batch job %s: %s", self.what, job.job_id, poll.detail)
                if poll.state == "running":
                    continue
                running.remove(job)
                await self._collect(client, job, poll)
            if not running:
                break
            if time.monotonic() + poll_s > deadline:
                for job in running:
                    self._leave_pending(
                        job, f"not finished after {self.settings.llm_batch_wait_s:g} s"
                    )
                break
            await asyncio.sleep(poll_s)

    async def _collect(self, client: Any, job: _Job, poll: BatchPoll) -> None:
        if poll.state == "failed":
            # the job as a whole, not one row's content: nothing is stored for its rows, the
            # next run asks again (and a job that keeps failing fails the stage's share)
            self._fail_all(
                list(job.items.values()), "provider_error", f"batch job {job.job_id} {poll.detail}"
            )
            self.ctx.store.close_batch_job(job.job_id, poll.state, poll.detail)
            return
        entries = {custom_id: it.encoded for custom_id, it in job.items.items()}
        try:
            results, _ = await call_with_retries(
                lambda: self.provider.batch_results(client, poll, entries),
                self.runner.retry,
                what=f"{self.what}: results of batch job {job.job_id}",
            )
        except ProviderError as error:
            self._leave_pending(job, f"finished, but its results could not be read ({error})")
            return
        latency = time.monotonic() - job.started
        for custom_id, item in job.items.items():
            result = results.get(custom_id)
            if result is None or (isinstance(result, ProviderError) and result.retryable):
                self._settle(item, 0.0)
                self.online.append(item)  # never ran, or a transient error: ask online
            elif isinstance(result, ProviderError):
                self._settle(item, 0.0)
                detail = f"row {item.request.row_id!r}: {self.what}: batch job {job.job_id}: "
                self.runner.finish_failure(
                    item, result.kind, detail + str(result), result.raw_text, attempts=1
                )
            else:
                self._finish(item, result, latency)
        self._keep_others(job, results, latency)
        self.ctx.store.close_batch_job(job.job_id, poll.state, poll.detail)

    def _cost(self, completion: Completion) -> float | None:
        return self.runner.prices.cost(
            self.provider.name,
            self.provider.model,
            completion.tokens_in,
            completion.tokens_out,
            batch=True,
        )

    def _finish(self, item: WorkItem, completion: Completion, latency: float) -> None:
        cost = self._cost(completion)
        self._settle(item, cost)
        answer = CachedResponse.of(completion, latency, cost)
        self.runner.finish_answer(item, answer, attempts=1, cost=cost)

    def _keep_others(self, job: _Job, results: dict[str, Any], latency: float) -> None:
        """Answers of a resumed job for requests this run does not hold (another stage,
        or rows whose input changed): paid for, so cached and journaled all the same."""
        if not self.settings.llm_cache:
            return
        now = datetime.now(UTC)
        for custom_id, result in results.items():
            row = job.requests.get(custom_id)
            if custom_id in job.items or row is None or not isinstance(result, Completion):
                continue
            cost = self._cost(result)
            answer = CachedResponse.of(result, None, cost)
            call = call_row(
                call_id=uuid.uuid4().hex,
                run_id=self.ctx.run_id,
                stage=job.stage,
                row_id=row.row_id,
                prompt_id=row.prompt_id,
                prompt_version=row.prompt_version,
                provider=self.provider.name,
                model=self.provider.model,
                cache_key=row.cache_key,
                cached=False,
                tokens_in=result.tokens_in,
                tokens_out=result.tokens_out,
                latency_s=latency,
                cost_usd=cost,
                status="ok",
                reason=None,
                attempts=1,
                finished_at=now,
                ingest_date=self.ctx.ingest_date,
            )
            self.ctx.store.put(
                row.cache_key,
                provider=self.provider.name,
                model=self.provider.model,
                prompt_id=row.prompt_id,
                prompt_version=row.prompt_version,
                response=answer,
                journal=[("call", self.ctx.run_id, call)],
            )

    # --- failures ----------------------------------------------------------------------
    def _leave_pending(self, job: _Job, why: str) -> None:
        """The job stays open in the cache file; its requests fail as ``batch_pending``."""
        log.warning(
            "%s: batch job %s %s; the next run collects it (%d requests left pending)",
            self.what,
            job.job_id,
            why,
            len(job.items),
        )
        for item in job.items.values():
            self._settle(item, 0.0)
            detail = (
                f"row {item.request.row_id!r}: {self.what}: batch job {job.job_id} {why}; "
                "the next run collects its answer"
            )
            self.runner.finish_failure(item, "batch_pending", detail, None, attempts=1)

    def _fail_all(
        self,
        items: Sequence[WorkItem],
        reason: str,
        why: str,
        error: ProviderError | None = None,
    ) -> None:
        for item in items:
            self._settle(item, 0.0)
            detail = f"row {item.request.row_id!r}: {self.what}: {why}"
            raw = error.raw_text if error is not None else None
            self.runner.finish_failure(item, reason, detail, raw, attempts=1)


def _chunks(items: list[WorkItem], max_requests: int, max_bytes: int) -> Iterator[list[WorkItem]]:
    """Consecutive jobs within both limits (a request's size: its text, ~4 bytes a token,
    plus the JSON around it)."""
    chunk: list[WorkItem] = []
    size = 0
    for item in items:
        item_bytes = 4 * item.encoded.tokens_in + 512
        if chunk and (len(chunk) >= max_requests or size + item_bytes > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_bytes
    if chunk:
        yield chunk

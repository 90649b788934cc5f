"""The one runner every LLM call in synthlake goes through.

``LLMRunner.run(requests)`` returns one result per request, in order: an ``LLMResponse``
or an ``LLMFailure`` (with a reason and the raw text), never an exception that loses the
rest of the batch. Around the provider it adds:

- validation of the input (empty conversations, bad roles, undecodable text, prompts over
  the model's context) as failures naming the row;
- the persistent cache (``synthlake/llm/cache.py``): a rerun, or a resume after the
  process was killed mid-batch, pays only for the requests that never finished;
- for remote providers, asyncio concurrency (``llm_concurrency``), a requests/tokens per
  minute bucket and retries that honour ``Retry-After``, or, with ``llm_batch_api``, the
  provider's batch jobs (``synthlake/llm/batch.py``); for the local provider, batched
  forward passes (``llm_batch_size``) in a worker thread;
- a budget (``llm_budget_usd``) that fails the remaining requests with
  ``budget_exceeded`` instead of overspending, and token/cost accounting into the lake's
  ``llm_calls`` / ``llm_failures`` tables.

Hand-written rather than taken from a client library (LiteLLM and the like): the cache
must be keyed by prompt *version* and journaled per request in the lake's own SQLite,
failures must come back as rows with raw text instead of exceptions, and the local
provider batches in-process; no library does those together.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import math
import random
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from synthlake.errors import LLMStageFailed
from synthlake.lake import Lake, new_run_id, short_id
from synthlake.llm.accounting import (
    BudgetGuard,
    RunStats,
    call_row,
    failure_row,
    flush_journal,
    mark_active,
)
from synthlake.llm.batch import BatchSession, uses_batch_api
from synthlake.llm.cache import CachedResponse, LLMStore, cache_key
from synthlake.llm.limits import ProviderLimiter
from synthlake.llm.prices import PriceTable
from synthlake.llm.providers import Encoded, Provider, ProviderError, get_provider
from synthlake.llm.providers.base import estimate_tokens
from synthlake.llm.retry import RetryPolicy, call_with_retries
from synthlake.llm.types import (
    GenerationParams,
    LLMFailure,
    LLMRequest,
    LLMResponse,
    LLMResult,
    RequestRejected,
    failure_kind,
    normalize_messages,
)

# PROGRESS_LISTENERS: read here by synthlake/pipeline/run_display.py
from synthlake.llm.work import (
    PROGRESS_LISTENERS as PROGRESS_LISTENERS,
)
from synthlake.llm.work import Progress, RunContext, Validator, WorkItem
from synthlake.redact import redact_uri

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

STAGES_WITH_OVERRIDE = ("summarize", "translate", "judge")
# Configuration failures in a row (a bad key, an unknown model, no server) after which the
# runner stops calling the provider for the rest of the stage: the answer will not change.
CONFIG_FAILURES_BEFORE_STOP = 3
# Failures that are a user's own limit, not the provider's health: never fail a stage.
NOT_A_FAULT = frozenset({"budget_exceeded"})
T = TypeVar("T")


class LLMRunner:
    """Runs batches of ``LLMRequest`` against one provider/model for one stage.

    The budget applies to the runner's lifetime (one stage run, several batches).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        stage: str | None = None,
        spec: Any = None,
        provider: Provider | None = None,
        prices: PriceTable | None = None,
        retry: RetryPolicy | None = None,
        run_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.stage = stage or "adhoc"
        if spec is None:
            spec = settings.llm_for(stage if stage in STAGES_WITH_OVERRIDE else None)
        self.spec = spec
        self._provider = provider
        self.prices = prices or PriceTable.from_settings(settings)
        self.retry = retry or RetryPolicy.from_settings(settings)
        self.fixed_run_id = run_id
        self.lake = Lake.from_settings(settings)
        self.budget = BudgetGuard(settings.llm_budget_usd)
        self.last_stats: RunStats | None = None
        # Over the runner's lifetime (one stage): what ``check_health`` judges.
        self.totals = RunStats(run_id="stage")
        self._config_streak = 0
        self._stopped: tuple[str, str] | None = None  # (reason, detail) once given up on

    # --- public ------------------------------------------------------------------------
    @property
    def provider(self) -> Provider:
        if self._provider is None:
            self._provider = get_provider(self.spec, self.settings)
        return self._provider

    def run(
        self,
        requests: Sequence[LLMRequest],
        *,
        validate: Validator | None = None,
        record_invalid: bool = True,
    ) -> list[LLMResult]:
        """Synchronous ``arun``; works inside a running event loop too (own thread)."""
        return run_sync(self.arun(requests, validate=validate, record_invalid=record_invalid))

    async def arun(
        self,
        requests: Sequence[LLMRequest],
        *,
        validate: Validator | None = None,
        record_invalid: bool = True,
    ) -> list[LLMResult]:
        """One result per request, in order.

        ``validate(text)`` (optional) parses an answer; if it raises, the result is an
        ``LLMFailure('invalid_output')`` and the answer is not cached. Such failures are
        written to ``llm_failures`` unless ``record_invalid`` is false (the structured
        helper records only its final verdict).
        """
        run_id = self.fixed_run_id or new_run_id()
        provider = self.provider
        what = f"llm {self.stage} ({provider.name}:{provider.model})"
        self.lake.ensure()
        store = LLMStore.open(self.lake.cache)
        stats = RunStats(run_id=run_id, requests=len(requests))
        ctx = RunContext(
            run_id=run_id,
            store=store,
            stats=stats,
            started=datetime.now(UTC),
            validate=validate,
            record_invalid=record_invalid,
            results=[None] * len(requests),
            followers={},
            progress=Progress(len(requests), what),
        )
        mark_active(run_id, True)
        ctx.progress.notify()
        try:
            if not provider.remote:
                await asyncio.to_thread(provider.load)
            items = self._prepare(ctx, requests, exact_tokens=True)
            leaders = self._answer_from_cache(ctx, items)
            if leaders:
                self._log_estimate(ctx, leaders, what)
                if uses_batch_api(self.settings, provider):
                    await BatchSession(_BatchLink(self, ctx), ctx).run(leaders)
                elif provider.remote:
                    await self._run_remote(ctx, leaders)
                else:
                    await self._run_local(ctx, leaders)
        finally:
            mark_active(run_id, False)
            try:
                written = flush_journal(store, self.lake, run_id)
                log.debug("%s: wrote %s", what, written)
            except Exception:  # noqa: BLE001 - the journal keeps the rows for the next run
                log.exception("%s: could not write llm_calls/llm_failures; kept for next run", what)
            store.close()
            self.last_stats = stats
            self._add_to_totals(stats)
        log.info("%s run %s: %s", what, run_id, stats.as_log())
        ctx.progress.notify()
        missing = [i for i, r in enumerate(ctx.results) if r is None]
        if missing:  # a bug, not a provider problem: say so loudly
            raise RuntimeError(f"LLM runner left {len(missing)} requests without a result")
        return ctx.results  # type: ignore[return-value]

    def estimate(self, requests: Sequence[LLMRequest]) -> tuple[int, int, float | None, int]:
        """(tokens_in, max tokens_out, usd, uncached requests) of what a run would send.

        Cached and duplicate requests are free; output is counted at ``max_new_tokens``
        (an upper bound). ``usd`` is None when the model has no price.
        """
        ctx_store = None
        try:
            items: list[WorkItem] = []
            rejected = 0
            for index, request in enumerate(requests):
                try:
                    items.append(self._prepare_one(index, request, exact_tokens=False))
                except Exception:  # noqa: BLE001 - a dry run counts what a run would refuse
                    rejected += 1
            hits: dict[str, CachedResponse] = {}
            if self.settings.llm_cache and items and self.lake.cache.is_dir():
                ctx_store = LLMStore.open(self.lake.cache)
                hits = ctx_store.get_many(item.key for item in items)
            seen: set[str] = set()
            tokens_in = tokens_out = 0
            for item in items:
                if item.key in hits or item.key in seen:
                    continue
                seen.add(item.key)
                tokens_in += item.encoded.tokens_in
                tokens_out += item.params.max_new_tokens or 0
        finally:
            if ctx_store is not None:
                ctx_store.close()
        batch = uses_batch_api(self.settings, self.provider)
        usd = self.prices.cost(
            self.provider.name, self.provider.model, tokens_in, tokens_out, batch=batch
        )
        if rejected:
            log.info("estimate: %d requests would be rejected before sending", rejected)
        return tokens_in, tokens_out, usd, len(seen)

    def _log_estimate(self, ctx: RunContext, leaders: list[WorkItem], what: str) -> None:
        """One log line, before anything is sent: the requests about to go out, their
        tokens and cost, forecast (``forecast_tokens_out``) and at most (output at
        ``max_new_tokens``). ``bench/rehearsal.py`` compares it with the journal."""
        provider = self.provider
        tokens_in = sum(item.encoded.tokens_in for item in leaders)
        cap = sum(item.params.max_new_tokens or 0 for item in leaders)
        forecast = forecast_tokens_out(
            leaders, ctx.store.output_history(provider.name, provider.model)
        )
        batch = uses_batch_api(self.settings, provider)
        usd = self.prices.cost(provider.name, provider.model, tokens_in, forecast, batch=batch)
        usd_cap = self.prices.cost(provider.name, provider.model, tokens_in, cap, batch=batch)
        cost = (
            f"cost ~${usd:.6f} (at most ${usd_cap:.6f})"
            if usd is not None and usd_cap is not None
            else "cost unknown (no price)"
        )
        log.info(
            "%s estimate before sending: %d requests, tokens in ~%d, out ~%d (at most %d), %s",
            what,
            len(leaders),
            tokens_in,
            forecast,
            cap,
            cost,
        )

    def _log_pilot(self, leaders: list[WorkItem], pilot: PilotForecast) -> None:
        """The batch's forecast once its pilot is answered (see ``PilotForecast``)."""
        provider = self.provider
        tokens_out = pilot.tokens_out()
        if tokens_out is None:
            return
        tokens_in = sum(item.encoded.tokens_in for item in leaders)
        batch = uses_batch_api(self.settings, provider)
        usd = self.prices.cost(provider.name, provider.model, tokens_in, tokens_out, batch=batch)
        log.info(
            "llm %s (%s:%s) forecast after a pilot of %d answers: %d requests, tokens in ~%d, "
            "out ~%d, %s",
            self.stage,
            provider.name,
            provider.model,
            pilot.answered,
            len(leaders),
            tokens_in,
            tokens_out,
            f"cost ~${usd:.6f}" if usd is not None else "cost unknown (no price)",
        )

    # --- preparation -------------------------------------------------------------------
    def _prepare_one(self, index: int, request: LLMRequest, *, exact_tokens: bool) -> WorkItem:
        provider = self.provider
        messages = normalize_messages(request.row_id, request.messages)
        params = request.params.resolved(self.settings.llm_max_new_tokens)
        if exact_tokens or provider.remote:
            encoded = provider.encode(messages)
        else:  # a dry run of a local model: no need to load it
            encoded = Encoded(messages=messages, tokens_in=estimate_tokens(messages))
        if exact_tokens:
            limit = provider.context_tokens()
            needed = encoded.tokens_in + (params.max_new_tokens or 0)
            if limit is not None and needed > limit:
                how = "" if not provider.remote else "about "
                raise RequestRejected(
                    "context_overflow",
                    f"row {request.row_id!r}: the prompt is {how}{encoded.tokens_in} tokens; "
                    f"with max_new_tokens={params.max_new_tokens} it needs {needed}, over the "
                    f"{limit}-token context of {provider.name}:{provider.model}. Shorten the "
                    "input or lower max_new_tokens.",
                )
        key = cache_key(
            provider=provider.name,
            model=provider.model,
            prompt_id=request.prompt_id,
            prompt_version=str(request.prompt_version),
            messages=messages,
            params=params,
            model_fingerprint=getattr(provider, "fingerprint", ""),
        )
        return WorkItem(index, request, messages, params, key, encoded)

    def _prepare(
        self, ctx: RunContext, requests: Sequence[LLMRequest], *, exact_tokens: bool
    ) -> list[WorkItem]:
        items: list[WorkItem] = []
        journal = []
        for index, request in enumerate(requests):
            try:
                items.append(self._prepare_one(index, request, exact_tokens=exact_tokens))
            except RequestRejected as exc:
                failure = self._failure(request, exc.reason, exc.detail, None, attempts=0)
                journal += self._record_failure(ctx, failure)
                ctx.results[index] = failure
            except Exception as exc:  # noqa: BLE001 - e.g. a tokenizer choking on the text
                failure = self._failure(
                    request,
                    "invalid_request",
                    f"row {request.row_id!r}: cannot prepare the request "
                    f"({type(exc).__name__}: {exc})",
                    None,
                    attempts=0,
                )
                journal += self._record_failure(ctx, failure)
                ctx.results[index] = failure
        ctx.store.journal(journal)
        return items

    def _answer_from_cache(self, ctx: RunContext, items: list[WorkItem]) -> list[WorkItem]:
        """Answer cache hits; group duplicates behind one leader; return the leaders.

        With ``llm_retry_quarantined`` the cache is not read (it is still written): the
        stages then plan only rows whose answer was quarantined, and a cached answer
        would only bring the same verdict back."""
        read_cache = self.settings.llm_cache and not self.settings.llm_retry_quarantined
        hits = ctx.store.get_many(i.key for i in items) if read_cache else {}
        journal = []
        leaders: list[WorkItem] = []
        for item in items:
            hit = hits.get(item.key)
            if hit is not None:
                ctx.stats.cached += 1
                journal += self._finish_answer(ctx, item, hit, cached=True, attempts=0, cost=0.0)
            elif self.settings.llm_cache and item.key in ctx.followers:
                ctx.stats.deduplicated += 1
                ctx.followers[item.key].append(item)
            else:
                ctx.followers.setdefault(item.key, [])
                leaders.append(item)
        ctx.store.journal(journal)
        return leaders

    # --- remote ------------------------------------------------------------------------
    async def _run_remote(self, ctx: RunContext, leaders: list[WorkItem]) -> None:
        provider = self.provider
        settings = self.settings
        limiter = ProviderLimiter(
            settings.llm_requests_per_minute,
            settings.llm_tokens_per_minute,
            provider_key=self.spec.identity,  # stages running at once share the limit
        )
        pilot = PilotForecast(leaders)
        queue = collections.deque(pilot.send_order())

        def on_error(error: ProviderError, tokens: int) -> None:
            # A 429 pauses every worker, unless it says the limits have room for this
            # request: then the provider is congested, not this client too fast, and only
            # the request that got it waits (a hosted provider's sporadic 429s would
            # otherwise idle the whole client for seconds each).
            room = error.limit_room
            if error.kind == "rate_limited" and error.retry_after:
                if room is None or room[0] < 1 or room[1] < tokens:
                    limiter.pause_for(error.retry_after)

        async with provider.session() as client:

            async def worker() -> None:
                while queue:
                    item = queue.popleft()
                    await self._one_remote(ctx, client, limiter, on_error, item)
                    ctx.progress.report()
                    if pilot.observe(item, ctx.results[item.index]):
                        self._log_pilot(leaders, pilot)

            workers = min(settings.llm_concurrency, len(leaders))
            await asyncio.gather(*(worker() for _ in range(workers)))

    async def _one_remote(
        self,
        ctx: RunContext,
        client: Any,
        limiter: ProviderLimiter,
        on_error: Callable[[ProviderError, int], None],
        item: WorkItem,
    ) -> None:
        provider = self.provider
        if self._stopped is not None:
            reason, why = self._stopped
            detail = f"row {item.request.row_id!r}: not sent: {why}"
            self._finish_failure(ctx, item, reason, detail, None, attempts=0)
            return
        worst = self.prices.cost(
            provider.name, provider.model, item.encoded.tokens_in, item.params.max_new_tokens or 0
        )
        reservation = self.budget.reserve(worst)
        if reservation is None:
            detail = (
                f"row {item.request.row_id!r}: not sent, the LLM budget "
                f"${self.budget.limit_usd:g} is spent (${self.budget.spent_usd:.4f}); "
                "raise SYNTHLAKE_LLM_BUDGET_USD and rerun to answer it"
            )
            self._finish_failure(ctx, item, "budget_exceeded", detail, None, attempts=0)
            return
        tokens = item.encoded.tokens_in + (item.params.max_new_tokens or 0)
        latency = 0.0

        async def attempt() -> Any:
            nonlocal latency
            await limiter.acquire(tokens)
            started = time.monotonic()
            try:
                return await provider.complete(client, item.encoded, item.params)
            finally:
                latency = time.monotonic() - started

        ctx.stats.called += 1
        try:
            completion, attempts = await call_with_retries(
                attempt,
                self.retry,
                on_error=lambda error: on_error(error, tokens),
                what=f"row {item.request.row_id!r}",
            )
        except ProviderError as error:
            self.budget.settle(reservation, 0.0)  # failed attempts are not billed
            attempts = getattr(error, "attempts", 1)
            ctx.stats.attempts += attempts
            detail = f"row {item.request.row_id!r}: {provider.name}:{provider.model}: {error}"
            if attempts > 1:
                detail += f" (after {attempts} attempts)"
            self._note_outcome(error.kind, error)
            self._finish_failure(ctx, item, error.kind, detail, error.raw_text, attempts=attempts)
            return
        except Exception as error:  # noqa: BLE001 - an SDK surprise must not sink the batch
            self.budget.settle(reservation, 0.0)
            ctx.stats.attempts += 1
            log.exception("row %r: unexpected error from %s", item.request.row_id, provider.name)
            detail = f"row {item.request.row_id!r}: {type(error).__name__}: {error}"
            self._finish_failure(ctx, item, "provider_error", detail, None, attempts=1)
            return
        ctx.stats.attempts += attempts
        self._note_outcome(None, None)
        actual = self.prices.cost(
            provider.name, provider.model, completion.tokens_in, completion.tokens_out
        )
        self.budget.settle(reservation, actual)
        answer = CachedResponse.of(completion, latency, actual)
        self._finish_fresh(ctx, item, answer, attempts=attempts, cost=actual)

    # --- local -------------------------------------------------------------------------
    async def _run_local(self, ctx: RunContext, leaders: list[WorkItem]) -> None:
        provider = self.provider
        batch_size = self.settings.llm_batch_size
        groups: dict[GenerationParams, list[WorkItem]] = collections.defaultdict(list)
        for item in leaders:
            groups[item.params].append(item)
        for params, group in groups.items():
            # Similar lengths together: less padding, fewer wasted positions.
            group.sort(key=lambda it: it.encoded.tokens_in)
            for start in range(0, len(group), batch_size):
                chunk = group[start : start + batch_size]
                ctx.stats.called += len(chunk)
                ctx.stats.attempts += len(chunk)
                started = time.monotonic()
                try:
                    completions = await asyncio.to_thread(
                        provider.generate_batch, [it.encoded for it in chunk], params
                    )
                except Exception as error:  # noqa: BLE001 - fail the chunk, keep the rest
                    log.exception("local generation failed for %d rows", len(chunk))
                    for it in chunk:
                        detail = (
                            f"row {it.request.row_id!r}: local:{provider.model}: "
                            f"{type(error).__name__}: {error}"
                        )
                        self._finish_failure(ctx, it, "provider_error", detail, None, attempts=1)
                    continue
                latency = time.monotonic() - started
                for it, completion in zip(chunk, completions, strict=True):
                    cost = self.prices.cost(
                        provider.name, provider.model, completion.tokens_in, completion.tokens_out
                    )
                    answer = CachedResponse.of(completion, latency, cost)
                    self._finish_fresh(ctx, it, answer, attempts=1, cost=cost)
                ctx.progress.report()

    # --- stage health --------------------------------------------------------------------
    def _note_outcome(self, reason: str | None, error: ProviderError | None) -> None:
        """Count configuration failures in a row; past a few, stop calling the provider."""
        if reason is None or failure_kind(reason) != "configuration":
            self._config_streak = 0
            return
        self._config_streak += 1
        if self._stopped is None and self._config_streak >= CONFIG_FAILURES_BEFORE_STOP:
            why = (
                f"{self._llm_name()} failed {self._config_streak} requests in a row with "
                f"{reason} ({error}); not called again in this stage"
            )
            self._stopped = (reason, why)
            log.error("llm %s: %s", self.stage, why)

    def _add_to_totals(self, stats: RunStats) -> None:
        totals = self.totals
        totals.requests += stats.requests
        totals.cached += stats.cached
        totals.deduplicated += stats.deduplicated
        totals.called += stats.called
        totals.attempts += stats.attempts
        totals.succeeded += stats.succeeded
        totals.failed.update(stats.failed)
        totals.tokens_in += stats.tokens_in
        totals.tokens_out += stats.tokens_out
        totals.cost_usd += stats.cost_usd

    def _llm_name(self) -> str:
        return redact_uri(str(self.spec))

    def _setting_to_fix(self, reason: str) -> str:
        stage_setting = f"llm_{self.stage}"
        llm_setting = (
            f"SYNTHLAKE_{stage_setting.upper()}"
            if getattr(self.settings, stage_setting, None)
            else "SYNTHLAKE_LLM"
        )
        if reason == "auth_error":
            keys = {
                "openai": "OPENAI_API_KEY (or SYNTHLAKE_OPENAI_API_KEY)",
                "gemini": "GEMINI_API_KEY (or SYNTHLAKE_GEMINI_API_KEY)",
            }
            return keys.get(self.spec.provider, "the provider's API key")
        if reason == "model_not_found":
            return f"the model name (and base URL path) in {llm_setting}"
        return f"the base URL in {llm_setting}, or start the server it names"

    def check_health(self) -> None:
        """Fail the stage (``LLMStageFailed``) when its LLM work cannot be trusted.

        Called by each LLM stage once its requests are done, so that a provider that
        refuses everyone fails the dbt build and the run with a non-zero exit instead of a
        warning. Fails on: any configuration failure (a bad key, an unknown model, no
        server); every request without an answer; or a share of requests over
        ``llm_max_failure_share`` failed for non-content reasons. Answers already received
        are in the cache, so the rerun after the fix pays nothing for them.
        """
        totals = self.totals
        if totals.requests == 0:
            return
        failed = {r: n for r, n in totals.failed.items() if r not in NOT_A_FAULT}
        config = {r: n for r, n in failed.items() if failure_kind(r) == "configuration"}
        unfinished = sum(n for r, n in failed.items() if failure_kind(r) != "content")
        no_answer = sum(n for r, n in failed.items() if r != "invalid_output")
        where = f"llm {self.stage} ({self._llm_name()})"
        after = (
            "nothing was stored for these rows; the next run asks again (answers received "
            "so far are cached and cost nothing then)"
        )
        if config:
            reason = max(config, key=config.__getitem__)
            first = self._stopped[1] if self._stopped else f"{reason} on every call"
            raise LLMStageFailed(
                f"{where}: {sum(config.values())} of {totals.requests} requests failed with "
                f"{', '.join(f'{r}={n}' for r, n in sorted(config.items()))}: {first}. "
                f"Fix {self._setting_to_fix(reason)} and rerun: {after}."
            )
        if no_answer >= totals.requests:
            raise LLMStageFailed(
                f"{where}: every one of {totals.requests} requests failed "
                f"({', '.join(f'{r}={n}' for r, n in sorted(failed.items()))}); {after}."
            )
        share = unfinished / totals.requests
        if share > self.settings.llm_max_failure_share:
            raise LLMStageFailed(
                f"{where}: {unfinished} of {totals.requests} requests ({share:.0%}) failed "
                f"without an answer ({', '.join(f'{r}={n}' for r, n in sorted(failed.items()))}),"
                f" over SYNTHLAKE_LLM_MAX_FAILURE_SHARE={self.settings.llm_max_failure_share:g};"
                f" {after}."
            )

    def unfinished(self) -> int:
        """Requests of this stage that a later run must ask again (transient or
        configuration failures, budget stops included)."""
        return sum(n for r, n in self.totals.failed.items() if failure_kind(r) != "content")

    # --- finishing ---------------------------------------------------------------------
    def _finish_fresh(
        self,
        ctx: RunContext,
        item: WorkItem,
        answer: CachedResponse,
        *,
        attempts: int,
        cost: float | None,
    ) -> None:
        """A new answer: validate it, then cache it (if valid) together with the journal
        rows of the request and its duplicates, in one committed transaction."""
        journal = self._finish_answer(ctx, item, answer, cached=False, attempts=attempts, cost=cost)
        result = ctx.results[item.index]
        for follower in ctx.followers.pop(item.key, []):
            journal += self._finish_answer(ctx, follower, answer, cached=True, attempts=0, cost=0.0)
        if result is not None and result.ok and self.settings.llm_cache:
            provider = self.provider
            ctx.store.put(
                item.key,
                provider=provider.name,
                model=provider.model,
                prompt_id=item.request.prompt_id,
                prompt_version=str(item.request.prompt_version),
                response=answer,
                journal=journal,
            )
        else:
            ctx.store.journal(journal)

    def _finish_answer(
        self,
        ctx: RunContext,
        item: WorkItem,
        answer: CachedResponse,
        *,
        cached: bool,
        attempts: int,
        cost: float | None,
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """Build the result of one request from an answer; return its journal rows."""
        provider = self.provider
        request = item.request
        response = LLMResponse(
            row_id=request.row_id,
            text=answer.text,
            tokens_in=answer.tokens_in,
            tokens_out=answer.tokens_out,
            latency_s=0.0 if cached else (answer.latency_s or 0.0),
            provider=provider.name,
            model=provider.model,
            prompt_id=request.prompt_id,
            prompt_version=str(request.prompt_version),
            cached=cached,
            cost_usd=cost,
            attempts=attempts,
            finish_reason=answer.finish_reason,
            cache_key=item.key,
        )
        ctx.stats.tokens_in += 0 if cached else answer.tokens_in
        ctx.stats.tokens_out += 0 if cached else answer.tokens_out
        ctx.stats.cost_usd += cost or 0.0
        result: LLMResult = response
        status, reason = "ok", None
        if ctx.validate is not None:
            try:
                response.parsed = ctx.validate(answer.text)
            except Exception as exc:  # noqa: BLE001 - any validator error means "invalid"
                result = LLMFailure(
                    row_id=request.row_id,
                    reason="invalid_output",
                    detail=f"row {request.row_id!r}: the answer does not validate: "
                    f"{_short_error(exc)}",
                    raw_text=answer.text,
                    provider=provider.name,
                    model=provider.model,
                    prompt_id=request.prompt_id,
                    prompt_version=str(request.prompt_version),
                    attempts=attempts,
                    cache_key=item.key,
                    tokens_in=answer.tokens_in,
                    tokens_out=answer.tokens_out,
                    cost_usd=cost,
                )
                status, reason = "invalid", "invalid_output"
        ctx.results[item.index] = result
        if result.ok:
            ctx.stats.succeeded += 1
        else:
            ctx.stats.failed[reason or "invalid_output"] += 1
        ctx.progress.step(ok=result.ok, cached=cached)
        now = datetime.now(UTC)
        call_id = uuid.uuid4().hex
        result.call_id = call_id
        rows: list[tuple[str, str, dict[str, Any]]] = [
            (
                "call",
                ctx.run_id,
                call_row(
                    call_id=call_id,
                    run_id=ctx.run_id,
                    stage=self.stage,
                    row_id=request.row_id,
                    prompt_id=request.prompt_id,
                    prompt_version=str(request.prompt_version),
                    provider=provider.name,
                    model=provider.model,
                    cache_key=item.key,
                    cached=cached,
                    tokens_in=answer.tokens_in,
                    tokens_out=answer.tokens_out,
                    latency_s=response.latency_s,
                    cost_usd=cost,
                    status=status,
                    reason=reason,
                    attempts=attempts,
                    finished_at=now,
                    ingest_date=ctx.ingest_date,
                ),
            )
        ]
        if not result.ok and ctx.record_invalid:
            rows.append(("failure", ctx.run_id, self._failure_row(ctx, result, now)))
        return rows

    def _finish_failure(
        self,
        ctx: RunContext,
        item: WorkItem,
        reason: str,
        detail: str,
        raw_text: str | None,
        *,
        attempts: int,
    ) -> None:
        """A request (and its duplicates) that got no answer: never cached."""
        journal: list[tuple[str, str, dict[str, Any]]] = []
        for it in [item, *ctx.followers.pop(item.key, [])]:
            failure = self._failure(it.request, reason, detail, raw_text, attempts=attempts)
            failure.cache_key = it.key
            ctx.results[it.index] = failure
            journal += self._record_failure(ctx, failure)
        ctx.store.journal(journal)

    def _failure(
        self,
        request: LLMRequest,
        reason: str,
        detail: str,
        raw_text: str | None,
        *,
        attempts: int,
    ) -> LLMFailure:
        provider = self.provider
        return LLMFailure(
            row_id=request.row_id,
            reason=reason,  # type: ignore[arg-type]
            detail=detail,
            raw_text=raw_text,
            provider=provider.name,
            model=provider.model,
            prompt_id=request.prompt_id,
            prompt_version=str(request.prompt_version),
            attempts=attempts,
        )

    def _record_failure(
        self, ctx: RunContext, failure: LLMFailure
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """The journal rows (a failed call and its failure) of a request with no answer."""
        ctx.stats.failed[failure.reason] += 1
        ctx.progress.step(ok=False)
        now = datetime.now(UTC)
        failure.call_id = uuid.uuid4().hex
        call = call_row(
            call_id=failure.call_id,
            run_id=ctx.run_id,
            stage=self.stage,
            row_id=failure.row_id,
            prompt_id=failure.prompt_id,
            prompt_version=failure.prompt_version,
            provider=failure.provider,
            model=failure.model,
            cache_key=failure.cache_key,
            cached=False,
            tokens_in=failure.tokens_in,
            tokens_out=failure.tokens_out,
            latency_s=None,
            cost_usd=failure.cost_usd,
            status="failed",
            reason=failure.reason,
            attempts=failure.attempts,
            finished_at=now,
            ingest_date=ctx.ingest_date,
        )
        return [
            ("call", ctx.run_id, call),
            ("failure", ctx.run_id, self._failure_row(ctx, failure, now)),
        ]

    def _failure_row(self, ctx: RunContext, failure: LLMFailure, now: datetime) -> dict[str, Any]:
        return failure_row(
            call_id=failure.call_id,
            run_id=ctx.run_id,
            stage=self.stage,
            row_id=failure.row_id,
            prompt_id=failure.prompt_id,
            prompt_version=failure.prompt_version,
            provider=failure.provider,
            model=failure.model,
            reason=failure.reason,
            detail=failure.detail,
            raw_text=failure.raw_text,
            attempts=failure.attempts,
            finished_at=now,
            ingest_date=ctx.ingest_date,
        )

    def record_failures(self, failures: Sequence[LLMFailure]) -> None:
        """Quarantine verdicts reached outside a batch (a stage's own validation of an
        answer, the structured helper's final verdict).

        Each verdict is journaled once: its ``failure_id`` is a hash of what decides it
        (stage, row, prompt, model, reason, the answer), so the same verdict reached again
        on a cached answer, by this run or any later one, adds no row, and a verdict whose
        run died before journaling it is journaled by the next run that reaches it."""
        if not failures:
            return
        run_id = self.fixed_run_id or new_run_id()
        self.lake.ensure()
        now = datetime.now(UTC)
        with LLMStore.open(self.lake.cache) as store:
            ctx = RunContext(
                run_id=run_id,
                store=store,
                stats=RunStats(run_id=run_id),
                started=now,
                validate=None,
                record_invalid=True,
                results=[],
                followers={},
                progress=Progress(0, "quarantine"),
            )
            rows = []
            for failure in failures:
                row = self._failure_row(ctx, failure, now)
                row["failure_id"] = short_id(
                    "quarantine",
                    self.stage,
                    failure.row_id,
                    failure.prompt_id,
                    failure.prompt_version,
                    failure.provider,
                    failure.model,
                    failure.reason,
                    failure.raw_text or "",
                    length=32,
                )
                rows.append(("failure", run_id, row))
            store.journal_once(rows)
            flush_journal(store, self.lake, run_id)


class _BatchLink:
    """The runner as a ``BatchSession`` sees it (``work.RunnerForBatch``), for one run."""

    def __init__(self, runner: LLMRunner, ctx: RunContext) -> None:
        self._runner = runner
        self._ctx = ctx
        self.provider = runner.provider
        self.settings = runner.settings
        self.stage = runner.stage
        self.budget = runner.budget
        self.prices = runner.prices
        self.retry = runner.retry

    async def run_online(self, items: list[WorkItem]) -> None:
        await self._runner._run_remote(self._ctx, items)

    def finish_answer(
        self, item: WorkItem, answer: CachedResponse, *, attempts: int, cost: float | None
    ) -> None:
        self._runner._finish_fresh(self._ctx, item, answer, attempts=attempts, cost=cost)

    def finish_failure(
        self, item: WorkItem, reason: str, detail: str, raw_text: str | None, *, attempts: int
    ) -> None:
        self._runner._finish_failure(self._ctx, item, reason, detail, raw_text, attempts=attempts)


# Answers of a prompt (same provider and model) in the cache before their mean output
# length is trusted as the forecast of new requests of that prompt.
HISTORY_MIN_ANSWERS = 20
PILOT_SHARE = 0.05  # of a batch's requests: the pilot whose answers forecast the rest
PILOT_MIN = 20  # requests in a pilot at least (and per prompt, for a prompt's own mean)


class PilotForecast:
    """A batch's output tokens forecast from its pilot: ``PILOT_SHARE`` of its requests
    (at least ``PILOT_MIN``), one drawn at random from each of as many equal slices of the
    batch (a stratified sample, seeded: the same batch gets the same pilot), sent first.

    Before sending, a batch of prompts with no answers in the cache can only be costed at
    ``max_new_tokens`` (an upper bound: 52% over the journal in the rehearsal). Once every
    pilot request has finished, each request's cap times the pilot answers' output-to-cap
    ratio (``_OutputRate``; per prompt with ``PILOT_MIN`` answers, else over all), summed
    over the batch, is the forecast, logged
    while ~95% of the batch is still to go. The pilot is the requests *sent* first, not the
    first answers: short answers come back first, and would forecast too little. It is
    spread over the whole batch, not its head: a batch comes in the order its stage
    reads the rows, and the head was 11% short on the rehearsal's translations (its
    first rows were shorter than the rest). A batch no larger than a pilot gets no
    forecast (it is its own pilot).
    """

    def __init__(self, leaders: Sequence[WorkItem]) -> None:
        n = len(leaders)
        size = max(PILOT_MIN, math.ceil(n * PILOT_SHARE))
        self.leaders = leaders
        self.done = n <= size  # nothing left to forecast
        self.pending: set[int] = set()
        if not self.done:
            rng = random.Random(n)
            picks = (rng.randrange(k * n // size, (k + 1) * n // size) for k in range(size))
            self.pending = {leaders[i].index for i in picks}
        self.out: dict[str, list[tuple[int, int]]] = {}  # prompt id -> (output tokens, cap)
        self.answered = 0

    def send_order(self) -> list[WorkItem]:
        """The batch with its pilot first (each part in batch order)."""
        first = [item for item in self.leaders if item.index in self.pending]
        return first + [item for item in self.leaders if item.index not in self.pending]

    def observe(self, item: WorkItem, result: LLMResult | None) -> bool:
        """Count a finished request; True once, when the last pilot request finishes."""
        if self.done or item.index not in self.pending:
            return False
        self.pending.discard(item.index)
        tokens_out = getattr(result, "tokens_out", None)
        if tokens_out and not getattr(result, "cached", False):
            cap = item.params.max_new_tokens or 0
            self.out.setdefault(item.request.prompt_id, []).append((tokens_out, cap))
            self.answered += 1
        if self.pending:
            return False
        self.done = True
        return True

    def tokens_out(self) -> int | None:
        """The forecast output tokens of the whole batch; None when the pilot got no answer."""
        every = [answer for answers in self.out.values() for answer in answers]
        if not every:
            return None
        overall = _OutputRate(every)
        rates = {p: _OutputRate(a) for p, a in self.out.items() if len(a) >= PILOT_MIN}
        return round(
            sum(
                rates.get(item.request.prompt_id, overall).expected(item.params.max_new_tokens)
                for item in self.leaders
            )
        )


class _OutputRate:
    """How long a prompt's pilot answers were: per request, and per token of their cap.

    A stage that sizes each request's ``max_new_tokens`` to its input (translation: a
    unit's cap grows with its length) gets answers that grow with the cap, so a request's
    forecast is its cap times the pilot's output-to-cap ratio. One flat mean, capped per
    request, clipped the short units and never raised the long ones: 16% short on the
    rehearsal's translations. With one cap for all, both are the same.
    """

    def __init__(self, answers: Sequence[tuple[int, int]]) -> None:
        self.mean = sum(out for out, _ in answers) / len(answers)
        capped = [(out, cap) for out, cap in answers if cap]
        caps = sum(cap for _, cap in capped)
        self.ratio = sum(out for out, _ in capped) / caps if caps else None

    def expected(self, cap: int | None) -> float:
        if cap and self.ratio is not None:
            return cap * self.ratio
        return min(cap, self.mean) if cap else self.mean


def forecast_tokens_out(items: Sequence[WorkItem], history: dict[str, tuple[int, float]]) -> int:
    """Output tokens a batch is expected to cost: for a prompt with at least
    ``HISTORY_MIN_ANSWERS`` earlier answers, their mean (never over the request's
    ``max_new_tokens``); otherwise ``max_new_tokens`` (the upper bound ``estimate`` uses)."""
    total = 0.0
    for item in items:
        cap = item.params.max_new_tokens or 0
        answers, mean = history.get(item.request.prompt_id, (0, 0.0))
        total += min(cap, mean) if answers >= HISTORY_MIN_ANSWERS and cap else cap
    return round(total)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop is already
    running in this thread (a notebook, an async Prefect task): then on a private loop in a
    worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="llm-runner") as pool:
        return pool.submit(asyncio.run, coro).result()


def _short_error(exc: BaseException, limit: int = 1500) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[:limit] + "..."


def run_batch(
    requests: Sequence[LLMRequest],
    settings: Settings,
    *,
    stage: str | None = None,
    spec: Any = None,
    validate: Validator | None = None,
) -> list[LLMResult]:
    """One batch through a fresh runner (stage's LLM from settings unless ``spec``)."""
    return LLMRunner(settings, stage=stage, spec=spec).run(requests, validate=validate)

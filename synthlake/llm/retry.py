"""Retries for remote LLM calls: tenacity, with a wait that honours ``Retry-After``.

tenacity does the looping; what is ours is the *policy*: which errors are retried (429,
5xx, 408/409, timeouts, connection errors: never another 4xx), how long to wait (the
server's ``retry-after-ms`` / ``Retry-After`` / Gemini ``RetryInfo`` when it gives one,
else exponential backoff with jitter), and a bounded total (attempts and seconds). The
SDKs' own retries are switched off by the providers so that these are the only ones.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

from synthlake.llm.providers.base import ProviderError

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s\s*$")


def parse_retry_after(
    headers: Mapping[str, str] | None, body: Any = None, *, now: datetime | None = None
) -> float | None:
    """Seconds the server asked us to wait, from headers or a Gemini error body.

    Understands ``retry-after-ms`` (OpenAI), ``Retry-After`` as seconds or an HTTP date
    (RFC 9110) and ``google.rpc.RetryInfo.retryDelay`` ("13s", "1.5s").
    """
    if headers:
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        value = lowered.get("retry-after-ms")
        if value:
            try:
                return max(0.0, float(value) / 1000.0)
            except ValueError:
                pass
        value = lowered.get("retry-after")
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                try:
                    when = parsedate_to_datetime(value)
                except (TypeError, ValueError, IndexError):
                    when = None
                if when is not None:
                    if when.tzinfo is None:
                        when = when.replace(tzinfo=UTC)
                    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    for detail in _error_details(body):
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _error_details(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return []
    error = body.get("error", body)
    details = error.get("details") if isinstance(error, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a remote call is retried. ``max_retries`` comes from ``llm_max_retries``."""

    max_retries: int = 5
    base_s: float = 1.0  # first backoff (before jitter)
    cap_s: float = 30.0  # largest backoff
    max_retry_after_s: float = 120.0  # a server asking for longer than this: give up
    max_total_s: float = 600.0  # waits + attempts of one request, bounded

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RetryPolicy:
        values = {
            "max_retries": settings.llm_max_retries,
            "max_total_s": max(60.0, settings.llm_timeout_s * (settings.llm_max_retries + 1)),
        }
        values.update(overrides)
        return cls(**values)

    def backoff(self, retry_number: int) -> float:
        """Exponential backoff with 'equal jitter': half fixed, half random."""
        ceiling = min(self.cap_s, self.base_s * (2 ** max(0, retry_number - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def wait_for(self, error: ProviderError, retry_number: int) -> float:
        if error.retry_after is not None:
            # The server's figure is a floor; a little jitter spreads the herd.
            return error.retry_after + random.uniform(0, min(1.0, 0.1 * error.retry_after))
        return self.backoff(retry_number)

    def should_retry(self, error: BaseException) -> bool:
        if not isinstance(error, ProviderError) or not error.retryable:
            return False
        if error.retry_after is not None and error.retry_after > self.max_retry_after_s:
            log.warning(
                "server asked to wait %.0f s (over %.0f s): not retrying",
                error.retry_after,
                self.max_retry_after_s,
            )
            return False
        return True


async def call_with_retries(
    attempt_fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_error: Callable[[ProviderError], None] | None = None,
    what: str = "request",
) -> tuple[T, int]:
    """Run ``attempt_fn`` until it succeeds or the policy gives up; returns (result, attempts).

    On giving up, the last ``ProviderError`` is raised with ``.attempts`` set.
    """

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ProviderError):
            return policy.wait_for(error, state.attempt_number)
        return policy.backoff(state.attempt_number)

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.info(
            "%s: attempt %d failed (%s); retrying in %.2f s",
            what,
            state.attempt_number,
            error,
            state.next_action.sleep if state.next_action else 0.0,
        )

    attempts = 0

    async def one_attempt() -> T:
        nonlocal attempts
        attempts += 1
        try:
            return await attempt_fn()
        except ProviderError as error:
            if on_error is not None:
                on_error(error)
            raise

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_retries + 1) | stop_before_delay(policy.max_total_s),
        wait=wait,
        retry=retry_if_exception(policy.should_retry),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        result = await retrying(one_attempt)
    except ProviderError as error:
        error.attempts = attempts  # type: ignore[attr-defined]
        raise
    return result, attempts

"""Client-side pacing of a remote provider: requests/minute, tokens/minute, and a pause.

Requests leave evenly spaced at the configured rate (no burst at start-up that the
provider would answer with 429s): each takes the next free slot of a schedule one period
apart (``RequestPacer``). A slot is kept even when its request wakes up late (a busy event
loop, a loaded machine), so lateness does not lower the rate; only slots more than two
periods (at most ``CATCH_UP_S``) old are given up, so at most two late requests leave
together. (A
one-request leaky bucket loses every slot its waiter wakes up late for: measured at 80%
of a 3,000/min limit on a loaded 2-core machine, 63% with 5 ms of work per request.)
Tokens go through an aiolimiter leaky bucket that holds one second of tokens; a
request takes ``estimated prompt tokens + max_new_tokens`` from it (what providers count
against a tokens-per-minute limit), in bucket-sized slices when it is bigger than the
bucket. A 429 that names a ``Retry-After`` pauses the whole provider (``pause_for``), not
just the request that got it: the other workers would only collect 429s too.

One process runs several LLM stages at once (dbt's threads: a translation beside the
news summaries), each batch on its own event loop in its own thread. The request schedule
and the 429 pause are therefore shared by every batch of the process that talks to the
same provider and model (``shared_pace``), under a thread lock and on ``time.monotonic``
(the clock of asyncio's loops): two stages each pacing at the whole limit sent twice the
limit, and the full rehearsal collected 1,095 429s and left three stories for a later
build. The token bucket (aiolimiter) stays per batch: its waiters are futures of one
event loop. Several processes sharing one API key should divide the limits between them
(see the llm README).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time

from aiolimiter import AsyncLimiter

CATCH_UP_S = 0.1  # how far behind its schedule the pacer may catch up


class RequestPacer:
    """Slots ``1/rate`` apart, handed out in order; a waiter sleeps until its slot.
    Thread-safe: batches on several threads' event loops may share one."""

    def __init__(self, per_second: float, catch_up_s: float | None = None) -> None:
        self.period = 1.0 / per_second
        # at most a few slots' worth: a late wake-up is caught up, never turned into a burst
        self.catch_up_s = min(CATCH_UP_S, 2 * self.period) if catch_up_s is None else catch_up_s
        self._next: float | None = None
        self._lock = threading.Lock()

    def reserve(self, now: float) -> float:
        """The time of the next free slot (now or later), taken."""
        with self._lock:
            if self._next is None or self._next < now - self.catch_up_s:
                self._next = now  # idle (or far behind): start again from now, no burst
            slot = self._next
            self._next = slot + self.period
            return slot

    async def acquire(self) -> None:
        delay = self.reserve(time.monotonic()) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class SharedPace:
    """What every batch of a process that calls one provider and model shares: the
    request schedule and the pause a 429 asks for (monotonic seconds)."""

    def __init__(self, requests_per_minute: float) -> None:
        self.requests = RequestPacer(requests_per_minute / 60.0)
        self.paused_until = 0.0
        self._lock = threading.Lock()

    def pause_until(self, when: float) -> None:
        with self._lock:
            self.paused_until = max(self.paused_until, when)


_SHARED: dict[tuple[str, float], SharedPace] = {}
_SHARED_LOCK = threading.Lock()


def shared_pace(provider_key: str, requests_per_minute: float) -> SharedPace:
    """The process's one ``SharedPace`` for a provider and model at this rate."""
    with _SHARED_LOCK:
        key = (provider_key, float(requests_per_minute))
        if key not in _SHARED:
            _SHARED[key] = SharedPace(requests_per_minute)
        return _SHARED[key]


class ProviderLimiter:
    """A batch's pacing: ``provider_key`` (the LLM's identity) shares the request schedule
    and the 429 pause with the process's other batches for the same provider and model;
    without it (tests, one-off use) they are the batch's own."""

    def __init__(
        self,
        requests_per_minute: float,
        tokens_per_minute: float,
        provider_key: str | None = None,
    ) -> None:
        if requests_per_minute <= 0 or tokens_per_minute <= 0:
            raise ValueError("rate limits must be positive")
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self._pace = (
            SharedPace(requests_per_minute)
            if provider_key is None
            else shared_pace(provider_key, requests_per_minute)
        )
        self._requests = self._pace.requests
        self._token_capacity = max(1.0, tokens_per_minute / 60.0)
        self._tokens = AsyncLimiter(self._token_capacity, 1.0)

    @property
    def _paused_until(self) -> float:
        return self._pace.paused_until

    def pause_for(self, seconds: float) -> None:
        """Hold every request of this provider for ``seconds`` from now (a 429's wish)."""
        self._pace.pause_until(time.monotonic() + max(0.0, seconds))

    async def _wait_pause(self) -> None:
        while (delay := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(delay)

    async def acquire(self, tokens: int) -> None:
        """Wait until one request of ``tokens`` tokens may leave now."""
        remaining = float(max(0, tokens))
        # Slices of at most a full bucket, so that a request bigger than one second of
        # tokens waits as long as its size asks (aiolimiter refuses amounts > capacity).
        slices = max(1, math.ceil(remaining / self._token_capacity))
        for _ in range(slices):
            part = min(remaining, self._token_capacity)
            if part > 0:
                await self._tokens.acquire(part)
            remaining -= part
        while True:
            await self._wait_pause()
            await self._requests.acquire()
            # A pause that began while we queued for the slot: wait it out and take a
            # fresh slot, so that the queued requests do not all leave at its end.
            if self._paused_until <= time.monotonic():
                return

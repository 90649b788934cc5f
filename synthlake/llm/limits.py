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

The limiter is built per batch (per event loop); it paces one process. Several processes
sharing one API key should divide the limits between them (see the llm README).
"""

from __future__ import annotations

import asyncio
import math

from aiolimiter import AsyncLimiter

CATCH_UP_S = 0.1  # how far behind its schedule the pacer may catch up


class RequestPacer:
    """Slots ``1/rate`` apart, handed out in order; a waiter sleeps until its slot."""

    def __init__(self, per_second: float, catch_up_s: float | None = None) -> None:
        self.period = 1.0 / per_second
        # at most a few slots' worth: a late wake-up is caught up, never turned into a burst
        self.catch_up_s = min(CATCH_UP_S, 2 * self.period) if catch_up_s is None else catch_up_s
        self._next: float | None = None

    def reserve(self, now: float) -> float:
        """The time of the next free slot (now or later), taken."""
        if self._next is None or self._next < now - self.catch_up_s:
            self._next = now  # idle (or far behind): start again from now, no burst
        slot = self._next
        self._next = slot + self.period
        return slot

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.reserve(loop.time()) - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


class ProviderLimiter:
    def __init__(self, requests_per_minute: float, tokens_per_minute: float) -> None:
        if requests_per_minute <= 0 or tokens_per_minute <= 0:
            raise ValueError("rate limits must be positive")
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self._requests = RequestPacer(requests_per_minute / 60.0)
        self._token_capacity = max(1.0, tokens_per_minute / 60.0)
        self._tokens = AsyncLimiter(self._token_capacity, 1.0)
        self._paused_until = 0.0

    def pause_for(self, seconds: float) -> None:
        """Hold every request of this provider for ``seconds`` from now (a 429's wish)."""
        loop = asyncio.get_running_loop()
        self._paused_until = max(self._paused_until, loop.time() + max(0.0, seconds))

    async def _wait_pause(self) -> None:
        loop = asyncio.get_running_loop()
        while (delay := self._paused_until - loop.time()) > 0:
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
        loop = asyncio.get_running_loop()
        while True:
            await self._wait_pause()
            await self._requests.acquire()
            # A pause that began while we queued for the slot: wait it out and take a
            # fresh slot, so that the queued requests do not all leave at its end.
            if self._paused_until <= loop.time():
                return

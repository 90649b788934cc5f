"""The retry policy and the client-side limiter, without a network."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from synthlake.llm.limits import ProviderLimiter
from synthlake.llm.providers.base import ProviderError
from synthlake.llm.retry import RetryPolicy, call_with_retries, parse_retry_after

NOW = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Retry-After": "3"}, None, 3.0),
        ({"retry-after": "1.5"}, None, 1.5),
        ({"retry-after-ms": "250", "Retry-After": "1"}, None, 0.25),
        ({"Retry-After": "Mon, 05 Jan 2026 12:00:07 GMT"}, None, 7.0),
        ({"Retry-After": "Mon, 05 Jan 2026 11:00:00 GMT"}, None, 0.0),  # in the past
        ({"Retry-After": "soon"}, None, None),
        ({}, None, None),
        (
            {},
            {
                "error": {
                    "code": 429,
                    "details": [
                        {"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
                        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"},
                    ],
                }
            },
            13.0,
        ),
        ({}, {"error": {"details": [{"retryDelay": "13s"}]}}, None),  # not a RetryInfo
    ],
)
def test_parse_retry_after(headers, body, expected):
    assert parse_retry_after(headers, body, now=NOW) == expected


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (ProviderError("rate_limited", "429", status=429), True),
        (ProviderError("server_error", "503", status=503), True),
        (ProviderError("timeout", "slow"), True),
        (ProviderError("connection_error", "refused"), True),
        (ProviderError("client_error", "401", status=401), False),
        (ProviderError("context_overflow", "too long", status=400), False),
        (ProviderError("bad_response", "html"), False),
        (ProviderError("rate_limited", "daily quota", status=429, retry_after=3600), False),
        (ValueError("not a provider error"), False),
    ],
)
def test_what_is_retried(error, retried):
    assert RetryPolicy().should_retry(error) is retried


def test_backoff_grows_with_jitter_and_is_capped():
    policy = RetryPolicy(base_s=1.0, cap_s=8.0)
    for n, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        waits = [policy.backoff(n) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert max(waits) - min(waits) > 0  # jittered
    honoured = policy.wait_for(ProviderError("rate_limited", "x", retry_after=5.0), 1)
    assert 5.0 <= honoured <= 5.5


def test_call_with_retries_counts_attempts_and_stops():
    policy = RetryPolicy(max_retries=2, base_s=0.001, cap_s=0.002)
    outcomes = [ProviderError("server_error", "boom"), ProviderError("timeout", "slow"), "ok"]
    seen = []

    async def attempt():
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    result, attempts = asyncio.run(call_with_retries(attempt, policy, on_error=seen.append))
    assert (result, attempts) == ("ok", 3)
    assert [e.kind for e in seen] == ["server_error", "timeout"]

    async def always_down():
        raise ProviderError("server_error", "down")

    with pytest.raises(ProviderError) as caught:
        asyncio.run(call_with_retries(always_down, policy))
    assert caught.value.attempts == 3

    calls = 0

    async def unauthorized():
        nonlocal calls
        calls += 1
        raise ProviderError("client_error", "401")

    with pytest.raises(ProviderError):
        asyncio.run(call_with_retries(unauthorized, policy))
    assert calls == 1


def _max_in_window(times: list[float], window: float) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_limiter_spaces_requests_evenly():
    async def go() -> list[float]:
        limiter = ProviderLimiter(requests_per_minute=1200, tokens_per_minute=10**9)
        loop = asyncio.get_running_loop()
        stamps: list[float] = []

        async def one() -> None:
            await limiter.acquire(10)
            stamps.append(loop.time())

        await asyncio.gather(*(one() for _ in range(12)))
        return sorted(stamps)

    stamps = asyncio.run(go())
    assert _max_in_window(stamps, 0.25) <= 0.25 * 20 + 1  # 20/s, no burst at start


def _send_from_two_threads(key_a: str | None, key_b: str | None) -> list[float]:
    """Two batches, each on its own thread's event loop (as two dbt threads' LLM stages
    are), each sending 12 requests through its own limiter at 1,200/min."""
    import threading
    import time

    stamps: list[float] = []
    lock = threading.Lock()

    def batch(key: str | None) -> None:
        async def go() -> None:
            limiter = ProviderLimiter(1200, 10**9, provider_key=key)

            async def one() -> None:
                await limiter.acquire(10)
                with lock:
                    stamps.append(time.monotonic())

            await asyncio.gather(*(one() for _ in range(12)))

        asyncio.run(go())

    threads = [threading.Thread(target=batch, args=(k,)) for k in (key_a, key_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(stamps)


def test_stages_running_at_once_share_their_providers_request_rate():
    key = f"openai:m@http://limits-test-{id(object())}"
    shared = _send_from_two_threads(key, key)
    # 20/s between them both: at most 10 in half a second, +1 at the edges, +2 late slots
    # caught up (CATCH_UP_S)
    assert _max_in_window(shared, 0.5) <= 13
    # each its own provider: each may send at the whole rate (what two stages sent before:
    # ~22 in half a second)
    apart = _send_from_two_threads(key + "/a", key + "/b")
    assert _max_in_window(apart, 0.5) >= 17


def test_a_429_pause_holds_the_other_stages_of_the_process():
    key = f"openai:m@http://pause-test-{id(object())}"

    async def first() -> None:
        ProviderLimiter(1200, 10**9, provider_key=key).pause_for(0.6)

    async def second() -> float:
        import time

        limiter = ProviderLimiter(1200, 10**9, provider_key=key)
        started = time.monotonic()
        await limiter.acquire(10)
        return time.monotonic() - started

    asyncio.run(first())
    assert asyncio.run(second()) >= 0.5  # another batch, another loop: still paused


def test_limiter_charges_tokens_for_big_requests():
    async def go() -> list[float]:
        limiter = ProviderLimiter(requests_per_minute=60_000, tokens_per_minute=60 * 400)
        loop = asyncio.get_running_loop()
        stamps = []
        for _ in range(4):
            await limiter.acquire(200)  # two requests fill the 400-token bucket
            stamps.append(loop.time())
        return stamps

    stamps = asyncio.run(go())
    # 800 tokens at 400/s with a 400-token bucket: the last leaves >= 1 s after the first.
    assert stamps[-1] - stamps[0] >= 0.95


def test_limiter_refuses_nonsense():
    with pytest.raises(ValueError):
        ProviderLimiter(0, 10)

"""Client-side pacing, measured where it matters: arrivals counted at the server."""

from __future__ import annotations

from tests.fixtures.llm_servers import Fault
from tests.integration.llm.conftest import requests_for

# Arrivals in any one-second window may exceed the rate by one request (the first
# request of a window and the one a full period later) plus one for network jitter.
SLACK = 2


def test_requests_per_minute_is_never_exceeded(openai_server, make_runner):
    rate_per_s = 10
    runner = make_runner(llm_requests_per_minute=rate_per_s * 60, llm_concurrency=16)
    results = runner.run(requests_for(25))

    assert all(r.ok for r in results)
    assert openai_server.call_count == 25
    assert openai_server.max_in_window(1.0) <= rate_per_s + SLACK
    # Without the limiter 16 workers would send 16 at once: the check can fail.
    assert openai_server.max_in_window(0.25) <= rate_per_s * 0.25 + SLACK


def test_tokens_per_minute_paces_big_requests(openai_server, make_runner):
    # Each request takes ~4 prompt tokens + 100 max_new_tokens from a 300 tokens/s
    # bucket: about 3 requests a second, although requests/minute would allow 100/s.
    runner = make_runner(
        llm_requests_per_minute=6000, llm_tokens_per_minute=300 * 60, llm_concurrency=16
    )
    results = runner.run(requests_for(9, max_new_tokens=100))

    assert all(r.ok for r in results)
    assert openai_server.max_in_window(1.0) <= 3 + 3  # bucket (one second) + refill


def test_a_429_pauses_the_whole_provider(openai_server, make_runner):
    # 30 requests at 100/s would all leave within ~0.3 s; a 429 with Retry-After: 1 on
    # the first must hold the other workers too, not only the request that got it.
    openai_server.script(Fault.status_code(429, header="1"))
    runner = make_runner(llm_requests_per_minute=6000, llm_concurrency=4)
    results = runner.run(requests_for(30))

    assert all(r.ok for r in results)
    arrivals = openai_server.generation_requests()
    first_429 = next(r for r in arrivals if r.status == 429)
    # Only requests that had already left the bucket when the 429 came back (at most the
    # other 3 workers) may arrive during the pause; without it ~29 would.
    during_pause = [r for r in arrivals if first_429.t < r.t < first_429.t + 1.0]
    assert len(during_pause) <= 3
    assert sum(1 for r in arrivals if r.t >= first_429.t + 1.0) >= 25

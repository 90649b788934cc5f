"""A 429 that says the limits still have room pauses only its own request.

Hosted providers answer some 429s for their own congestion, not for the client's pace;
OpenAI's carry ``x-ratelimit-remaining-requests`` / ``-tokens`` then, with room left. If
each of those paused every worker for its Retry-After, a client at 50 requests/s meeting
1% of them would idle more than half the time (issue 17: the share of the provider's limit
sustained). A 429 that says nothing is left, or says nothing at all
(``test_rate_limit.py::test_a_429_pauses_the_whole_provider``), still pauses them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.llm_servers import Fault, OpenAICompatServer
from tests.integration.llm.conftest import requests_for


class RemainingHeadersServer(OpenAICompatServer):
    """Sends OpenAI's ``x-ratelimit-remaining-*`` headers on its 429s."""

    remaining = ("100", "100000")

    def _send_raw(self, h: Any, status: int, data: bytes, content_type: str, headers=None) -> bool:
        if status == 429:
            requests, tokens = self.remaining
            headers = {
                **(headers or {}),
                "x-ratelimit-remaining-requests": requests,
                "x-ratelimit-remaining-tokens": tokens,
            }
        return super()._send_raw(h, status, data, content_type, headers)


@pytest.fixture
def openai_server() -> Iterator[RemainingHeadersServer]:
    with RemainingHeadersServer() as server:
        yield server


def arrivals_after_429(server: OpenAICompatServer, window_s: float) -> tuple[int, int]:
    arrivals = server.generation_requests()
    first = next(r for r in arrivals if r.status == 429)
    during = [r for r in arrivals if first.t < r.t < first.t + window_s]
    return len(during), len(arrivals)


def test_a_429_with_room_left_does_not_pause_the_other_workers(openai_server, make_runner):
    openai_server.script(Fault.status_code(429, header="1"))
    runner = make_runner(llm_requests_per_minute=6000, llm_concurrency=4)
    results = runner.run(requests_for(30))

    assert all(r.ok for r in results)
    during, total = arrivals_after_429(openai_server, 0.9)
    assert total == 31  # 30 answers and the one 429, retried once
    # the other workers kept going at 100/s: most requests arrived during its Retry-After
    assert during >= 20


@pytest.mark.parametrize("remaining", [("0", "100000"), ("100", "3")])
def test_a_429_with_no_room_left_pauses_the_whole_provider(openai_server, make_runner, remaining):
    openai_server.remaining = remaining  # no request left, or fewer tokens than one needs
    openai_server.script(Fault.status_code(429, header="1"))
    runner = make_runner(llm_requests_per_minute=6000, llm_concurrency=4)
    results = runner.run(requests_for(30))

    assert all(r.ok for r in results)
    during, _ = arrivals_after_429(openai_server, 1.0)
    assert during <= 3  # only requests already on their way (the other 3 workers)

"""A vLLM-style endpoint under high concurrency: 200 requests, 32 in flight.

The scale path of the README ("Scaling out"): the runner pointed at an OpenAI-compatible
server with ``SYNTHLAKE_LLM_CONCURRENCY=32``. Checked at the server: every row answered
exactly once, requests really overlapped, and never more than 32 at a time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from tests.integration.llm.conftest import requests_for

CONCURRENCY = 32
N = 200


class InFlight:
    """A reply function that holds each request 0.2 s and counts how many overlap."""

    def __init__(self, hold_s: float = 0.2) -> None:
        self.hold_s = hold_s
        self.now = 0
        self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, body: Any) -> str:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.hold_s)
        with self.lock:
            self.now -= 1
        return "answer to " + body["messages"][-1]["content"]


def test_200_requests_at_concurrency_32_are_answered_once_each(make_runner, openai_server):
    in_flight = InFlight()
    openai_server.reply_fn = in_flight
    runner = make_runner(
        llm_concurrency=CONCURRENCY,
        llm_requests_per_minute=100_000,
        llm_tokens_per_minute=100_000_000,
        llm_cache=False,
    )
    results = runner.run(requests_for(N))

    assert [r.row_id for r in results] == [f"row-{i}" for i in range(N)]
    assert all(r.ok for r in results)
    assert [r.text for r in results] == [f"answer to question {i}" for i in range(N)]
    asked = Counter(r.body["messages"][-1]["content"] for r in openai_server.generation_requests())
    assert asked == Counter(f"question {i}" for i in range(N))  # once each, no retry
    # overlapping for real (a serial client would peak at 1), and never above the setting
    assert CONCURRENCY // 2 <= in_flight.peak <= CONCURRENCY

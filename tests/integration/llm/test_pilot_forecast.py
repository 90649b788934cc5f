"""The runner's forecast after a pilot (issue 17: on a fresh lake the estimate before
sending is the ``max_new_tokens`` bound, 52% over what the rehearsal's provider billed).

Against a server whose long answers take longer, as a real model's do: the pilot is the
requests *sent* first, so its answers are a fair sample, while the first answers *back*
are the short ones and would forecast too little. And against a batch whose head is not
like the rest (a stage reads its rows in an order that can follow their length): the
pilot is spread over the whole batch.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from synthlake.llm.types import GenerationParams
from tests.fixtures.llm_servers import OpenAICompatServer
from tests.integration.llm.conftest import requests_for

SHORT, LONG = 40, 160  # output tokens of even and odd questions (4 characters a token)
FORECAST = re.compile(r"forecast after a pilot of (\d+) answers: (\d+) requests, .* out ~(\d+)")


class LengthyServer(OpenAICompatServer):
    """Answers question i with SHORT tokens when ``is_short(i)``, LONG otherwise (by
    default: even i short); a token takes 2 ms, so the short answers come back first."""

    is_short = staticmethod(lambda i: i % 2 == 0)
    token_s = 0.002

    def default_reply(self, body: Any) -> str:
        question = body["messages"][-1]["content"]
        tokens = SHORT if self.is_short(int(question.split()[-1])) else LONG
        time.sleep(self.token_s * tokens)
        return "x" * (4 * tokens)


@pytest.fixture
def openai_server() -> Iterator[LengthyServer]:
    with LengthyServer() as server:
        yield server


def sent_order(server: OpenAICompatServer) -> list[int]:
    """Question numbers in the order they arrived (with concurrency 1: the send order)."""
    return [
        int(r.body["messages"][-1]["content"].split()[-1])
        for r in sorted(server.requests, key=lambda r: r.t)
        if r.method == "POST"
    ]


def forecasts(caplog: pytest.LogCaptureFixture) -> list[tuple[int, int, int]]:
    found = [FORECAST.search(r.getMessage()) for r in caplog.records]
    return [tuple(map(int, m.groups())) for m in found if m]


def test_the_pilot_forecast_matches_what_the_batch_cost(openai_server, make_runner, caplog):
    caplog.set_level(logging.INFO, logger="synthlake.llm.runner")
    runner = make_runner(llm_requests_per_minute=60_000, llm_concurrency=8)
    results = runner.run(requests_for(400, max_new_tokens=512))

    assert all(r.ok for r in results)
    actual = sum(r.tokens_out for r in results)
    assert actual == 200 * SHORT + 200 * LONG
    # one forecast, from a pilot of 5% (20 of 400) drawn one per slice of 20 requests
    ((answered, requests, forecast),) = forecasts(caplog)
    assert (answered, requests) == (20, 400)
    assert abs(forecast - actual) <= 0.15 * actual
    # the bound the estimate before sending has to use on a fresh lake
    assert 400 * 512 > 2 * actual


def test_the_pilot_is_spread_over_a_batch_whose_head_is_short(
    openai_server, make_runner, caplog, monkeypatch
):
    """The first half of the batch is short, the second long: the head alone (20 short
    answers) would forecast 1,600 tokens less than the batch's 16,000 x 2 / 2."""
    monkeypatch.setattr(openai_server, "is_short", lambda i: i < 200)
    monkeypatch.setattr(openai_server, "token_s", 0.0)  # the order answers come back: moot
    caplog.set_level(logging.INFO, logger="synthlake.llm.runner")
    runner = make_runner(llm_requests_per_minute=60_000, llm_concurrency=1)
    results = runner.run(requests_for(400, max_new_tokens=512))

    assert all(r.ok for r in results)
    actual = sum(r.tokens_out for r in results)
    assert forecasts(caplog) == [(20, 400, actual)]  # 10 short and 10 long: exact
    sent = sent_order(openai_server)
    # the pilot went first: one request from each slice of 20
    assert [k * 20 <= i < (k + 1) * 20 for k, i in enumerate(sent[:20])] == [True] * 20
    assert sorted(sent) == list(range(400))  # each request sent once


def test_a_forecast_follows_each_request_s_cap(openai_server, make_runner, caplog, monkeypatch):
    """Every answer is half its request's ``max_tokens`` (output grows with the cap, as a
    translation's grows with the unit whose length set it). Caps of 64 and 256: one flat
    mean of 80 tokens, capped per request, would forecast 200 x 64 + 200 x 80 = 28,800
    tokens for a batch that costs 32,000."""
    monkeypatch.setattr(
        openai_server, "reply_fn", lambda body: "x" * (4 * (body["max_tokens"] // 2))
    )
    caplog.set_level(logging.INFO, logger="synthlake.llm.runner")
    requests = [
        replace(r, params=GenerationParams(max_new_tokens=64 if i % 2 == 0 else 256))
        for i, r in enumerate(requests_for(400))
    ]
    runner = make_runner(llm_requests_per_minute=60_000, llm_concurrency=8)
    results = runner.run(requests)

    assert all(r.ok for r in results)
    actual = sum(r.tokens_out for r in results)
    assert actual == 200 * 32 + 200 * 128
    assert forecasts(caplog) == [(20, 400, actual)]


@pytest.mark.parametrize("n", [1, 5, 20])
def test_a_batch_no_larger_than_a_pilot_gets_no_forecast(openai_server, make_runner, caplog, n):
    caplog.set_level(logging.INFO, logger="synthlake.llm.runner")
    results = make_runner(llm_concurrency=8).run(requests_for(n, max_new_tokens=512))
    assert len(results) == n and all(r.ok for r in results)
    assert forecasts(caplog) == []

"""The runner's forecast after a pilot (issue 17: on a fresh lake the estimate before
sending is the ``max_new_tokens`` bound, 52% over what the rehearsal's provider billed).

Against a server whose long answers take longer, as a real model's do: the pilot is the
first requests *sent*, so its answers are a fair sample, while the first answers *back*
are the short ones and would forecast too little.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.llm_servers import OpenAICompatServer
from tests.integration.llm.conftest import requests_for

SHORT, LONG = 40, 160  # output tokens of even and odd questions (4 characters a token)
FORECAST = re.compile(r"forecast after a pilot of (\d+) answers: (\d+) requests, .* out ~(\d+)")


class LengthyServer(OpenAICompatServer):
    """Answers question i with SHORT tokens when i is even, LONG when odd; a token takes
    2 ms, so the short answers come back first."""

    def default_reply(self, body: Any) -> str:
        question = body["messages"][-1]["content"]
        tokens = SHORT if int(question.split()[-1]) % 2 == 0 else LONG
        time.sleep(0.002 * tokens)
        return "x" * (4 * tokens)


@pytest.fixture
def openai_server() -> Iterator[LengthyServer]:
    with LengthyServer() as server:
        yield server


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
    # one forecast, from the first 5% sent (20 of 400): half short, half long
    assert forecasts(caplog) == [(20, 400, actual)]
    # the bound the estimate before sending has to use on a fresh lake
    assert 400 * 512 > 2 * actual


def test_a_batch_no_larger_than_a_pilot_gets_no_forecast(openai_server, make_runner, caplog):
    caplog.set_level(logging.INFO, logger="synthlake.llm.runner")
    results = make_runner(llm_concurrency=8).run(requests_for(20, max_new_tokens=512))
    assert all(r.ok for r in results)
    assert forecasts(caplog) == []

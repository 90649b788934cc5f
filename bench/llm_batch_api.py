"""Batch API against online calls: HTTP calls, estimated cost and client time per request.

The same requests (a priced model, 1.0 / 2.0 $ per 1M tokens in / out) go once online to
the OpenAI-compatible test server and once as batch jobs (SYNTHLAKE_LLM_BATCH_API) to the
Files/Batch API stand-in (tests/fixtures/llm_batch_servers.py, both on 127.0.0.1). The
stand-in finishes a job at its second poll: provider-side waiting is not what this
measures (real jobs take minutes to hours); the client's work and the bill are.

Expected: the batch run makes a handful of HTTP calls instead of one per request
(upload, create, polls, downloads; jobs cut at --max-requests), costs 50% of the online
run, and its answers are the same text.

It uses a server of the test suite (``tests/fixtures``, not installed), so run it from the
repo root as a module:

    .venv/bin/python -m bench.llm_batch_api [--requests 2000] [--max-requests 1000]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from synthlake.llm.prices import Price, PriceTable
from synthlake.llm.runner import LLMRunner
from synthlake.llm.types import GenerationParams, LLMRequest
from synthlake.settings import load_settings
from tests.fixtures.llm_batch_servers import OpenAIBatchServer

ROOT = Path(__file__).resolve().parent.parent

PRICES = PriceTable(prices={("openai", "bench-model"): Price(1.0, 2.0)}, source="bench")


def run(requests: list[LLMRequest], server: OpenAIBatchServer, lake: Path, **settings: object):
    values = {"lake_root": lake, "llm": f"openai:bench-model@{server.base_url}"} | settings
    started = time.perf_counter()
    results = LLMRunner(load_settings(**values), stage="bench", prices=PRICES).run(requests)
    return results, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--max-requests", type=int, default=1000, help="requests per job")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    requests = [
        LLMRequest(
            row_id=f"bench-{i}",
            messages=[{"role": "user", "content": f"Summarize item {i} in one line."}],
            params=GenerationParams(max_new_tokens=32),
            prompt_id="bench",
            prompt_version="1",
        )
        for i in range(args.requests)
    ]
    with tempfile.TemporaryDirectory() as tmp, OpenAIBatchServer(polls_to_finish=2) as server:
        online, online_s = run(
            requests, server, Path(tmp) / "online", llm_concurrency=32, llm_requests_per_minute=1e6
        )
        online_calls = server.call_count
        batch, batch_s = run(
            requests,
            server,
            Path(tmp) / "batch",
            llm_batch_api=True,
            llm_batch_poll_s=0.2,
            llm_batch_max_requests=args.max_requests,
        )
        batch_calls = len(server.batch_requests)
        online_after = server.call_count - online_calls

    same = [a.text for a in online] == [b.text for b in batch]
    cost_online = sum(r.cost_usd or 0 for r in online)
    cost_batch = sum(r.cost_usd or 0 for r in batch)
    n = len(requests)
    print(f"{n} requests, priced at 1.0 / 2.0 $ per 1M tokens in / out")
    print(
        f"online : {online_calls} HTTP calls, ${cost_online:.6f}, {online_s:.2f} s "
        f"({online_s / n * 1000:.2f} ms a request, server answering at once)"
    )
    print(
        f"batch  : {batch_calls} HTTP calls ({server.batch_calls('upload')} uploads, "
        f"{server.batch_calls('create')} jobs, {server.batch_calls('poll')} polls, "
        f"{server.batch_calls('download')} downloads), {online_after} online, "
        f"${cost_batch:.6f} = {cost_batch / cost_online:.0%} of online, {batch_s:.2f} s "
        f"(incl. the poll waits)"
    )
    print(f"same answers: {same}")
    ok = same and online_after == 0 and abs(cost_batch / cost_online - 0.5) < 1e-6
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

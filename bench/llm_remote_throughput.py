"""Remote LLM throughput: 1,000 requests against a rate-limited OpenAI-compatible server.

The server (tests/fixtures/llm_servers.py, on 127.0.0.1) answers each request after
100 ms and enforces 20 requests/s itself, answering 429 with Retry-After beyond it. The
runner is configured with the same limit (SYNTHLAKE_LLM_REQUESTS_PER_MINUTE=1200).

Targets: all 1,000 answered, none lost; sustained throughput (the rate over the middle 90%
of the answers, i.e. without process start-up and the last stragglers) >= 90% of the limit
(18/s); the whole run's rate is printed beside it.
Then the same 1,000 requests again: 0 provider calls (persistent cache), in < 5% of the
cold run's time.

It uses a server of the test suite (``tests/fixtures``, not installed), so run it from the
repo root as a module:

    .venv/bin/python -m bench.llm_remote_throughput [--requests 1000] [--rate 20]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from synthlake.lake import Lake
from synthlake.llm.runner import LLMRunner
from synthlake.llm.types import GenerationParams, LLMRequest
from synthlake.settings import load_settings
from tests.fixtures.llm_servers import OpenAICompatServer

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="server limit, requests/s")
    parser.add_argument("--latency", type=float, default=0.1, help="server latency, s")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("synthlake.llm.prices").setLevel(logging.ERROR)  # the model is unpriced

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
    with (
        tempfile.TemporaryDirectory() as tmp,
        OpenAICompatServer(latency_s=args.latency, rate_limit_per_s=args.rate) as server,
    ):
        settings = load_settings(
            lake_root=Path(tmp) / "lake",
            llm=f"openai:bench-model@{server.base_url}",
            llm_requests_per_minute=args.rate * 60,
            llm_concurrency=args.concurrency,
            llm_max_retries=8,
        )
        load = os.getloadavg()[0]
        started, cpu_started = time.perf_counter(), time.process_time()
        cold = LLMRunner(settings, stage="bench").run(requests)
        cold_s = time.perf_counter() - started
        cold_cpu = time.process_time() - cpu_started
        sent = server.generation_requests()
        answered = sum(1 for r in cold if r.ok)
        got_429 = sum(1 for r in sent if r.status == 429)
        ok_times = sorted(r.t for r in sent if r.status == 200)
        # Steady state: the middle 90% of the successful arrivals.
        lo, hi = ok_times[len(ok_times) // 20], ok_times[-len(ok_times) // 20]
        steady = (len(ok_times) * 0.9) / (hi - lo) if hi > lo else float("nan")

        server.reset()
        started = time.perf_counter()
        warm = LLMRunner(settings, stage="bench").run(requests)
        warm_s = time.perf_counter() - started
        warm_calls = server.call_count
        calls_rows = Lake.from_settings(settings).read_raw("llm_calls").num_rows

    throughput = answered / cold_s
    print(
        f"server: {args.latency * 1000:.0f} ms latency, limit {args.rate:g} requests/s (429 beyond)"
    )
    print(f"runner: {args.concurrency} concurrent, {args.rate * 60:g} requests/minute")
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at start; client and server "
        f"(one process) used {cold_cpu * 1000 / len(requests):.1f} ms CPU per request"
    )
    print(
        f"cold run : {answered}/{len(requests)} answered, lost {len(requests) - answered}, "
        f"{len(sent)} HTTP calls ({got_429} answered 429), {cold_s:.2f} s"
    )
    print(
        f"           sustained throughput {steady:.2f} req/s = {steady / args.rate:.1%} of the "
        f"limit (middle 90% of the answers; target >= 90%); whole run incl. start-up "
        f"{throughput:.2f} req/s = {throughput / args.rate:.1%}"
    )
    print(f"           max requests in any 1 s window at the server: {server_max(ok_times)}")
    print(
        f"warm rerun: {sum(r.cached for r in warm)}/{len(requests)} from cache, "
        f"{warm_calls} provider calls, {warm_s:.3f} s = {warm_s / cold_s:.2%} of the cold "
        f"run; target 0 calls and < 5%"
    )
    print(f"llm_calls rows written: {calls_rows} (one per request per run)")
    ok = (
        answered == len(requests)
        and steady >= 0.9 * args.rate
        and warm_calls == 0
        and warm_s < 0.05 * cold_s
    )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


def server_max(times: list[float]) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


if __name__ == "__main__":
    sys.exit(main())

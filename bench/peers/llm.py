"""Rate-limited LLM requests, side by side: synthlake's runner, Bespoke Curator, naive async.

One local OpenAI-compatible server (``tests/fixtures/llm_servers.py``'s
``OpenAICompatServer``, in this process, on 127.0.0.1) answers after a fixed latency and
enforces a requests-per-second limit itself, answering ``429`` with ``Retry-After`` and
``retry-after-ms`` beyond it, as hosted providers do. The same requests (``--requests``,
1,000 by default: "Summarize item i in one line.", 32 output tokens at most) go through:

- synthlake: ``synthlake.llm.runner.LLMRunner`` (as ``bench/llm_remote_throughput.py``
  drives it), told the limit (``llm_requests_per_minute``), its persistent cache in a
  fresh lake per run, in synthlake's venv;
- curator: ``bespokelabs.curator.LLM`` with backend ``openai`` at the local ``base_url``,
  told the same limit (``max_requests_per_minute``) and 8 retries, its cache in a fresh
  ``CURATOR_CACHE_DIR`` per run. Offline: its tiktoken encoding is replaced by a
  4-characters-a-token stand-in (it only feeds its token-rate estimate),
  ``TELEMETRY_ENABLED=false``, ``LITELLM_LOCAL_MODEL_COST_MAP=True``;
- naive: ``openai.AsyncOpenAI`` + an ``asyncio.Semaphore``, the SDK's default retries,
  no client-side rate limit, no cache.

Every client gets 8 concurrent requests. Each tool runs 3 times (``--runs``), each run a
fresh process and a fresh cache, and then once more at once on the same cache (the
rerun). The table has the medians of: the run's wall time (process start to exit) and the
time inside the client call, the ``429`` answers the server gave, the requests lost (no
answer in the end), requests answered 200 more than once (paid twice), and the calls that
reached the server on the immediate rerun (cache / resume). Curator's one rerun call is
its rate-limit probe (an empty request it sends at start to read ``x-ratelimit-*``
headers, which a hosted provider answers with an error, not a bill).

A tool that is not importable is reported "not installed" and skipped, so this also runs
in synthlake's own venv (synthlake's side only)::

    bench/peers/.venv/bin/python -m bench.peers.llm [--requests 1000] [--rate 20]
        [--latency 0.2] [--runs 3] [--tools synthlake curator naive]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.peers.common import (
    installed,
    machine_line,
    median,
    own_peak,
    print_table,
    run_child,
    synthlake_python,
)

TOOLS = ("synthlake", "curator", "naive")
NEEDS = {"curator": "bespokelabs.curator", "naive": "openai"}
MODEL = "bench-model"
API_KEY = "bench-key"
CONCURRENCY = 8
MAX_TOKENS = 32


def prompts(n: int) -> list[str]:
    return [f"Summarize item {i} in one line." for i in range(n)]


# --- the clients (each runs in a fresh child process) ----------------------------------
def child_synthlake(base_url: str, state: Path, n: int, rate: float) -> dict:
    import logging

    from synthlake.llm.runner import LLMRunner
    from synthlake.llm.types import GenerationParams, LLMRequest
    from synthlake.settings import load_settings

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("synthlake.llm.prices").setLevel(logging.ERROR)  # the model is unpriced
    requests = [
        LLMRequest(
            row_id=f"bench-{i}",
            messages=[{"role": "user", "content": text}],
            params=GenerationParams(max_new_tokens=MAX_TOKENS),
            prompt_id="bench",
            prompt_version="1",
        )
        for i, text in enumerate(prompts(n))
    ]
    settings = load_settings(
        lake_root=state / "lake",
        llm=f"openai:{MODEL}@{base_url}",
        llm_requests_per_minute=rate * 60,
        llm_concurrency=CONCURRENCY,
        llm_max_retries=8,
    )
    started = time.perf_counter()
    results = LLMRunner(settings, stage="bench").run(requests)
    return {
        "client_s": time.perf_counter() - started,
        "answered": sum(1 for r in results if r.ok),
    }


class _ApproxEncoding:
    """What curator gets instead of tiktoken's cl100k_base (a download): ~4 chars a token."""

    name = "approx-4-chars"

    def encode(self, text: str, **_: object) -> list[int]:
        return [0] * max(1, len(text) // 4)


def child_curator(base_url: str, state: Path, n: int, rate: float) -> dict:
    import tiktoken

    tiktoken.get_encoding = lambda name: _ApproxEncoding()  # offline: no cl100k_base fetch
    from bespokelabs import curator

    llm = curator.LLM(
        model_name=MODEL,
        backend="openai",
        generation_params={"max_tokens": MAX_TOKENS},
        backend_params={
            "base_url": base_url,
            "api_key": API_KEY,
            "max_requests_per_minute": int(rate * 60),
            "max_tokens_per_minute": 100_000_000,
            "max_concurrent_requests": CONCURRENCY,
            "max_retries": 8,
            "require_all_responses": False,
        },
    )
    started = time.perf_counter()
    response = llm(prompts(n))
    elapsed = time.perf_counter() - started
    dataset = response.dataset
    answered = sum(1 for r in dataset["response"] if r) if "response" in dataset.column_names else 0
    return {"client_s": elapsed, "answered": answered}


def child_naive(base_url: str, state: Path, n: int, rate: float) -> dict:
    from openai import AsyncOpenAI

    async def go() -> int:
        client = AsyncOpenAI(base_url=base_url, api_key=API_KEY)  # the SDK's default retries
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(text: str) -> bool:
            async with gate:
                try:
                    reply = await client.chat.completions.create(
                        model=MODEL,
                        messages=[{"role": "user", "content": text}],
                        max_tokens=MAX_TOKENS,
                    )
                except Exception:  # noqa: BLE001 - a lost request is what is counted
                    return False
                return bool(reply.choices and reply.choices[0].message.content)

        try:
            done = await asyncio.gather(*(one(text) for text in prompts(n)))
        finally:
            await client.close()
        return sum(done)

    started = time.perf_counter()
    answered = asyncio.run(go())
    return {"client_s": time.perf_counter() - started, "answered": answered}


CHILDREN = {"synthlake": child_synthlake, "curator": child_curator, "naive": child_naive}


# --- the driver ------------------------------------------------------------------------
def child_env(tool: str, state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHLAKE_")}
    env.pop("OPENAI_BASE_URL", None)
    env["PYTHONPATH"] = ""  # the repo root comes from the cwd (python -m)
    env["OPENAI_API_KEY"] = API_KEY
    env["HOME"] = str(state / "home")  # nothing written to the user's ~/.cache
    env["TELEMETRY_ENABLED"] = "false"
    env["CURATOR_CACHE_DIR"] = str(state / "curator")
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["HF_HUB_OFFLINE"] = "1"
    env["HF_DATASETS_OFFLINE"] = "1"
    return env


def server_figures(server) -> dict[str, int]:  # noqa: ANN001 - an OpenAICompatServer
    sent = server.generation_requests()
    answered = collections.Counter(
        json.dumps(r.body.get("messages"), sort_keys=True) for r in sent if r.status == 200
    )
    return {
        "calls": len(sent),
        "http_429": sum(1 for r in sent if r.status == 429),
        "paid_twice": sum(c - 1 for c in answered.values() if c > 1),
    }


def run_tool(tool: str, python: str, server, args: argparse.Namespace, work: Path) -> dict:  # noqa: ANN001
    argv_base = [python, "-m", "bench.peers.llm", "--child", tool, "--base-url", server.base_url]
    argv_base += ["--requests", str(args.requests), "--rate", str(args.rate)]
    rows = []
    for r in range(args.runs):
        state = work / f"{tool}-{r}"
        shutil.rmtree(state, ignore_errors=True)
        (state / "home").mkdir(parents=True)
        argv = [*argv_base, "--state", str(state)]
        server.reset()
        cold = run_child(argv, env=child_env(tool, state), timeout=args.timeout)
        result = cold.result()
        figures = server_figures(server)
        server.reset()
        rerun = run_child(argv, env=child_env(tool, state), timeout=args.timeout)
        rerun.result()
        rerun_calls = server.call_count
        row = {
            "wall_s": cold.wall_s,
            "client_s": result["client_s"],
            "lost": args.requests - result["answered"],
            **figures,
            "rerun_calls": rerun_calls,
            "rerun_s": rerun.wall_s,
            "peak_mb": max(result["peak_mb"], cold.largest_mb),
        }
        rows.append(row)
        print(
            f"  {tool} run {r + 1}: {row['wall_s']:.1f} s ({row['client_s']:.1f} s in the "
            f"client), {row['calls']} calls, {row['http_429']} answered 429, lost "
            f"{row['lost']}, paid twice {row['paid_twice']}; rerun {rerun_calls} calls in "
            f"{row['rerun_s']:.1f} s",
            flush=True,
        )
    return {key: median([row[key] for row in rows]) for key in rows[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="server limit, requests/s")
    parser.add_argument("--latency", type=float, default=0.2, help="server latency, s")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--synthlake-python", help="interpreter with synthlake installed")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = CHILDREN[args.child](args.base_url, args.state, args.requests, args.rate)
        print(json.dumps({**result, **own_peak()}))
        return 0

    from tests.fixtures.llm_servers import OpenAICompatServer  # needs pytest (fixtures)

    pythons: dict[str, str | None] = {}
    for tool in args.tools:
        if tool == "synthlake":
            pythons[tool] = synthlake_python(args.synthlake_python)
        else:
            pythons[tool] = sys.executable if installed(NEEDS[tool]) else None
    print(machine_line())
    print(
        f"server: {args.latency * 1000:.0f} ms latency, {args.rate:g} requests/s limit (429 + "
        f"Retry-After beyond it); {args.requests:,} requests, {CONCURRENCY} concurrent per "
        f"client; a run at the limit takes {args.requests / args.rate:.0f} s"
    )
    results: dict[str, dict] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-peers-llm-") as tmp,
        OpenAICompatServer(latency_s=args.latency, rate_limit_per_s=args.rate) as server,
    ):
        server.model = MODEL
        for tool in args.tools:
            python = pythons[tool]
            if python is None:
                print(f"{tool}: not installed, skipped")
                continue
            print(f"{tool} ({python}):", flush=True)
            results[tool] = run_tool(tool, python, server, args, Path(tmp))

    print(f"\n{args.requests:,} requests, median of {args.runs} runs, each a fresh process")
    print_table(
        ["tool", "wall s", "client s", "429s", "lost", "paid twice", "rerun calls", "rerun s"]
        + ["peak MB"],
        [
            [
                tool,
                f"{r['wall_s']:.1f}",
                f"{r['client_s']:.1f}",
                f"{r['http_429']:.0f}",
                f"{r['lost']:.0f}",
                f"{r['paid_twice']:.0f}",
                f"{r['rerun_calls']:.0f}",
                f"{r['rerun_s']:.1f}",
                f"{r['peak_mb']:.0f}",
            ]
            for tool, r in results.items()
        ],
    )
    if "synthlake" in results:
        ours = results["synthlake"]
        for tool, r in results.items():
            if tool != "synthlake":
                print(
                    f"synthlake vs {tool}: {r['wall_s'] / ours['wall_s']:.2f}x faster "
                    f"({r['client_s'] / ours['client_s']:.2f}x inside the client), "
                    f"{ours['http_429']:.0f} vs {r['http_429']:.0f} 429s, lost "
                    f"{ours['lost']:.0f} vs {r['lost']:.0f}, rerun calls "
                    f"{ours['rerun_calls']:.0f} vs {r['rerun_calls']:.0f}"
                )
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())

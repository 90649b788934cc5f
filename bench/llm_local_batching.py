"""Local SmolLM2-135M-Instruct: generated tokens/s batched vs one prompt at a time.

The same 64 prompts, greedy, through the runner with the cache off: once with
``llm_batch_size=1`` (one forward pass per prompt), then with batches of 16 and 8 (left
padding, one forward pass per batch). Target: batching >= 3x the tokens/s of one at a
time on 2 CPU cores. Also reports how many answers are identical between the two runs
(greedy decoding with a correct attention mask gives the same text).

    .venv/bin/python bench/llm_local_batching.py [--prompts 64] [--max-new-tokens 24]
        [--batch-sizes 16,8] [--threads N]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from synthlake.llm.runner import LLMRunner
from synthlake.llm.types import GenerationParams, LLMRequest
from synthlake.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent

TOPICS = [
    "the water cycle",
    "photosynthesis",
    "the Roman Empire",
    "volcanoes",
    "the Moon",
    "bread",
    "bicycles",
    "rain",
    "the Alps",
    "coffee",
    "honey bees",
    "the Internet",
    "chess",
    "olive oil",
    "the Po river",
    "snow",
]
FORMS = [
    "Explain {t} in one sentence.",
    "Give two facts about {t}.",
    "Write a short title for an article about {t}.",
    "Why is {t} important? Answer briefly.",
]


def prompts(n: int) -> list[str]:
    out = [form.format(t=topic) for form in FORMS for topic in TOPICS]
    return (out * (n // len(out) + 1))[:n]


def run(settings_kwargs: dict, texts: list[str], max_new_tokens: int) -> tuple[list, float, float]:
    """(results, wall seconds, CPU seconds of this process)."""
    settings = load_settings(llm="local:smollm2", llm_cache=False, **settings_kwargs)
    requests = [
        LLMRequest(
            row_id=f"p{i}",
            messages=[{"role": "user", "content": text}],
            params=GenerationParams(max_new_tokens=max_new_tokens),
        )
        for i, text in enumerate(texts)
    ]
    runner = LLMRunner(settings, stage="bench")
    runner.provider.load()  # not timed: loading is per process, not per batch
    started, cpu_started = time.perf_counter(), time.process_time()
    results = runner.run(requests)
    return results, time.perf_counter() - started, time.process_time() - cpu_started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--batch-sizes", default="16,8")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's, one per core); 1 avoids OpenMP spinning when "
        "other processes load the machine",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    load = os.getloadavg()[0]
    texts = prompts(args.prompts)
    with tempfile.TemporaryDirectory() as tmp:
        common = {"lake_root": Path(tmp) / "lake"}
        print(
            f"SmolLM2-135M-Instruct (GGUF Q4_1 -> float32), {len(texts)} prompts, greedy, "
            f"max_new_tokens={args.max_new_tokens}, torch threads {torch.get_num_threads()}, "
            f"{os.cpu_count()} CPUs visible, load average {load:.1f} at start"
        )
        single, single_s, single_cpu = run(
            common | {"llm_batch_size": 1}, texts, args.max_new_tokens
        )
        single_tokens = sum(r.tokens_out for r in single)
        single_rate = single_tokens / single_s
        print(
            f"one at a time : {single_tokens} tokens in {single_s:6.1f} s = "
            f"{single_rate:6.1f} tokens/s ({single_tokens / single_cpu:6.1f} per CPU-second)"
        )
        best = 0.0
        for size in (int(s) for s in args.batch_sizes.split(",")):
            batched, batched_s, batched_cpu = run(
                common | {"llm_batch_size": size}, texts, args.max_new_tokens
            )
            tokens = sum(r.tokens_out for r in batched)
            rate = tokens / batched_s
            cpu_ratio = (tokens / batched_cpu) / (single_tokens / single_cpu)
            same = sum(a.text == b.text for a, b in zip(single, batched, strict=True))
            best = max(best, rate / single_rate)
            print(
                f"batches of {size:2d} : {tokens} tokens in {batched_s:6.1f} s = {rate:6.1f} "
                f"tokens/s = {rate / single_rate:4.1f}x (per CPU-second {cpu_ratio:4.1f}x); "
                f"identical answers {same}/{len(texts)}"
            )
    print(f"best speed-up {best:.1f}x; target >= 3x: {'met' if best >= 3 else 'MISSED'}")
    return 0 if best >= 3 else 1


if __name__ == "__main__":
    sys.exit(main())

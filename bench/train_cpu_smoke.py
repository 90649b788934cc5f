"""cpu-smoke training speed: LoRA steps per second on SmolLM2-135M, and the load overhead.

Writes a small training export (own text, four languages, repeated to ``--rows`` rows) into
a temporary lake, then runs ``synthlake.train.lora.train`` with ``train/configs/cpu-smoke.yaml``
(``--steps`` optimizer steps, batch 2, no accumulation) and prints: the model load time
(first load dequantizes the GGUF, about 15-60 s on 2 cores; not counted in steps/s), steps
per second, sequences per second, and the wall time of the whole run
against the time inside the optimizer loop (the ratio is the fixed overhead).

    .venv/bin/python bench/train_cpu_smoke.py [--steps 8] [--rows 32]

The machine is shared with other jobs: absolute figures are noisy.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

PAIRS = [
    ("en", "What colour is the sky on a clear day?", "The sky is blue on a clear day."),
    ("it", "Di che colore è l'erba?", "L'erba è verde."),
    ("fr", "Quelle est la capitale de la France ?", "La capitale de la France est Paris."),
    ("de", "Wie viele Beine hat eine Katze?", "Eine Katze hat vier Beine."),
]


def write_export(directory: Path, rows: int) -> None:
    directory.mkdir(parents=True)
    lines = []
    for i in range(rows):
        language, question, answer = PAIRS[i % len(PAIRS)]
        lines.append(
            json.dumps(
                {
                    "id": f"b{i}",
                    "messages": [
                        {"role": "system", "content": "Answer briefly."},
                        {"role": "user", "content": question},
                        {"role": "assistant", "content": answer},
                    ],
                    "language": language,
                    "domain": "instructions",
                    "split": "train",
                    "judge_score": 5.0,
                    "sources": [],
                }
            )
        )
    (directory / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rows", type=int, default=32)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)

    from synthlake.train.config import load_config
    from synthlake.train.lora import base_model_location, read_loss_log, train

    from synthlake.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        lake = Path(tmp) / "lake"
        write_export(lake / "exports" / "training", args.rows)
        settings = load_settings(lake_root=lake)
        started = time.perf_counter()
        base_model_location("local:smollm2", lake / "cache")
        load_s = time.perf_counter() - started
        config = load_config("cpu-smoke", max_steps=args.steps, save_steps=10_000)
        started = time.perf_counter()
        result = train(config, settings, run_id="bench")
        wall = time.perf_counter() - started
        info = result.info
        log = read_loss_log(result.run_dir)
    loop = info["seconds"]
    sequences = info["steps"] * config.batch_size * config.grad_accumulation
    print(f"first model load (GGUF dequantize + cache): {load_s:.1f} s")
    print(
        f"cpu-smoke: {info['steps']} steps, batch {config.batch_size}, "
        f"{info['trainable_parameters']:,} trainable of {info['total_parameters']:,} parameters"
    )
    print(f"  {info['steps_per_second']:.3f} steps/s ({loop / info['steps']:.2f} s/step)")
    print(f"  {sequences / loop:.2f} sequences/s")
    print(f"  loss {log[0]['loss']:.3f} -> {log[-1]['loss']:.3f}")
    print(f"  wall {wall:.1f} s vs optimizer loop {loop:.1f} s (ratio {wall / loop:.2f})")


if __name__ == "__main__":
    main()

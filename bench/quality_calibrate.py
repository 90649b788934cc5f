"""How far the configured judge agrees with the labelled set, and what judging costs.

Runs ``synthlake.quality.calibration.calibrate`` (the pipeline's prompts and strict parser)
on tests/fixtures/judge_calibration.jsonl in a fresh temporary lake, so nothing is served
from a cache, and prints the calibration report (coverage, exact / within-1 agreement,
Cohen's kappa, length bias, precision/recall per threshold) with the wall and process CPU
time per judged item. The target it is compared with: the sample run's judge stage must
stay within ~2 minutes on 2 cores (about 60-90 judge requests plus repairs).

    .venv/bin/python bench/quality_calibrate.py [--llm local:smollm2] [--second openai:m@url]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from synthlake.quality.calibration import calibrate
from synthlake.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default=None, help="judge provider:model (default: settings)")
    parser.add_argument("--second", default=None, help="a second judge to compare with")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="synthlake-calibrate-") as tmp:
        lake = Path(tmp) / "lake"
        # converted local weights come from the per-user model cache (SYNTHLAKE_MODEL_CACHE)
        settings = load_settings(lake_root=lake)
        started, cpu = time.perf_counter(), time.process_time()
        report = calibrate(settings, judge=args.llm, second_judge=args.second)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print("\n".join(report.lines()))
    judges = 2 if args.second else 1
    items = report.n_items * judges
    print(
        f"\ncost: {wall:.1f} s wall, {cpu:.1f} s process CPU for {items} judged items "
        f"({wall / items:.2f} s wall, {cpu / items:.2f} s CPU per item; model load included)"
    )


if __name__ == "__main__":
    main()

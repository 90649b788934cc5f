"""The performance suite: `synthlake run` on the sample twice, then the stage benchmarks.

1. ``synthlake run`` on ``data/sample/`` (``SYNTHLAKE_CONFIG=data/sample/synthlake.toml``,
   the sample profile) in a temporary lake, from this warm venv: wall time, peak memory of
   the process tree (RSS summed over the process and its children, sampled every 0.2 s)
   overall and within each stage's window, and the stage seconds of
   ``lake/runs/<id>/summary.json``. Target: under 10 minutes on 2 cores.
2. The immediate rerun on the same lake: wall time, its ratio to the first run (target
   < 20%) and the LLM calls it made that the cache did not answer (rows of
   ``lake/raw/llm_calls`` with ``not cached``; target 0).
3. Every other ``bench/*.py`` with small sizes (``SMALL_ARGS``), each under ``--timeout``
   seconds; scripts that take longer even when small are listed as skipped (``SLOW``).

Prints one table with the command line of each figure; ``--json`` also writes them.

    .venv/bin/python bench/run_all.py [--skip-stages] [--skip-pipeline] [--timeout 180]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SAMPLE_CONFIG = ROOT / "data" / "sample" / "synthlake.toml"
SAMPLE_S = 0.2  # memory sampling interval

# Small sizes for each stage benchmark (their own defaults are the full figures).
SMALL_ARGS: dict[str, list[str]] = {
    "hf_dedup.py": ["--rows", "5000"],
    "llm_local_batching.py": ["--prompts", "16", "--max-new-tokens", "16", "--batch-sizes", "8"],
    "llm_remote_throughput.py": ["--requests", "200"],
    "llm_batch_api.py": ["--requests", "200", "--max-requests", "100"],
    "mongo_upsert.py": ["--docs", "500", "--one-by-one-docs", "100"],
    "news_cluster.py": ["--n", "2000", "--naive-n", "1000"],
    "news_crawl_rate.py": ["--seconds", "15", "--per-host", "30"],
    "news_embed.py": ["--n", "200", "--rounds", "2"],
    "news_threshold.py": [],
    "news_dedup.py": ["--days", "1", "3", "--repeat", "1"],
    "train_cpu_smoke.py": ["--steps", "2", "--rows", "8"],
}
# Over ~2 minutes even when small on 2 cores: run them by hand.
SLOW: dict[str, str] = {
    "quality_calibrate.py": "judges every labelled pair with the local LLM (no size option)",
    "rehearsal.py": "four whole runs even at --size small (python -m bench.rehearsal)",
    "rehearsal_growth.py": "the non-LLM pipeline at three sizes (python -m bench.rehearsal_growth)",
    "rehearsal_inputs.py": "an input generator, not a benchmark (used by bench.rehearsal)",
    "rehearsal_model.py": "the stand-in provider's answers, not a benchmark",
    "rehearsal_provider.py": "a server, not a benchmark (used by bench.rehearsal)",
    "translate_read.py": "reads a built seed-scale lake (--warehouse, e.g. a kept rehearsal's)",
    "langid_floor.py": "reads a built seed-scale lake (--warehouse, e.g. a kept rehearsal's)",
    "warehouse_checkpoint.py": "reads a lake built from scratch (--lake, e.g. a growth run's)",
}


@dataclass(slots=True)
class Row:
    benchmark: str
    command: str
    result: str
    seconds: float | None = None
    extra: dict = field(default_factory=dict)


def _what(proc: object) -> str:
    """A process by what it runs: its command line, the interpreter's path cut off."""
    import psutil

    try:
        cmd = proc.cmdline()  # type: ignore[attr-defined]
    except psutil.Error:
        return "?"
    if not cmd:
        return "?"
    head = Path(cmd[0]).name
    return " ".join([head, *cmd[1:4]])[:80]


class TreeMemory:
    """Samples the summed RSS of a process and its descendants in a thread."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        import psutil

        self._proc = psutil.Process(pid)
        self._interval = interval_s
        self.samples: list[tuple[float, int]] = []  # (unix time, bytes)
        # the processes of the largest sample: (what it runs, bytes), largest first
        self.peak_parts: list[tuple[str, int]] = []
        self.peak_at: float | None = None
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            try:
                procs = [self._proc, *self._proc.children(recursive=True)]
            except psutil.Error:
                break
            parts = []
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                parts.append((proc, rss))
            now = time.time()
            self.samples.append((now, total))
            if self.peak_at is None or total > self._peak:
                self.peak_at, self._peak = now, total
                self.peak_parts = sorted(
                    ((_what(p), rss) for p, rss in parts), key=lambda part: -part[1]
                )
            self._stop.wait(self._interval)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def peak(self, start: float | None = None, end: float | None = None) -> int:
        window = [
            b
            for t, b in self.samples
            if (start is None or t >= start) and (end is None or t <= end)
        ]
        return max(window, default=0)


def add_settings_option(parser: argparse.ArgumentParser) -> None:
    """``--set SYNTHLAKE_NAME=VALUE`` (repeatable): a setting for every run of a bench."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a SYNTHLAKE_* setting for every run, e.g. SYNTHLAKE_DUCKDB_MEMORY_LIMIT=4GB",
    )


def settings_overrides(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, str]:
    """The ``--set`` items as an environment; anything but ``SYNTHLAKE_*`` is refused."""
    overrides = dict(item.split("=", 1) for item in items)
    if any(not name.startswith("SYNTHLAKE_") for name in overrides):
        parser.error("--set takes SYNTHLAKE_* settings only")
    return overrides


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def uncached_llm_calls(lake: Path) -> tuple[int, int]:
    """(calls the cache did not answer, all calls) recorded in lake/raw/llm_calls."""
    import duckdb

    files = list((lake / "raw" / "llm_calls").glob("**/*.parquet"))
    if not files:
        return 0, 0
    with duckdb.connect() as con:
        return con.execute(
            "select count(*) filter (where not cached), count(*) from read_parquet(?)",
            [[str(f) for f in files]],
        ).fetchone()


def run_pipeline(lake: Path, env: dict[str, str]) -> dict:
    """One `synthlake run` with memory sampling; returns wall, peaks and the run summary."""
    cmd = [str(BIN / "synthlake"), "run", "--lake", str(lake)]
    before = {p.parent.name for p in (lake / "runs").glob("*/summary.json")}
    started = time.time()
    with open(lake.parent / f"run-{int(started)}.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        with TreeMemory(proc.pid, SAMPLE_S) as memory:
            code = proc.wait()
    wall = time.time() - started
    if code != 0:
        raise SystemExit(f"`{' '.join(cmd)}` failed ({code}); see {log.name}")
    [summary_file] = [
        p for p in (lake / "runs").glob("*/summary.json") if p.parent.name not in before
    ]
    summary = json.loads(summary_file.read_text())
    # stage windows: the stages run one after another from the flow's start
    stage_peaks = {}
    t = datetime.fromisoformat(summary["started_at"]).timestamp()
    for stage, seconds in summary["seconds"].items():
        # widened by one sampling interval, so a stage shorter than it still has a sample
        stage_peaks[stage] = memory.peak(t - SAMPLE_S, t + seconds + SAMPLE_S)
        t += seconds
    return {
        "command": f"SYNTHLAKE_CONFIG={env['SYNTHLAKE_CONFIG']} {' '.join(cmd)}",
        "wall_s": wall,
        "peak_rss": memory.peak(),
        "stage_seconds": summary["seconds"],
        "stage_peak_rss": stage_peaks,
    }


def pipeline_rows() -> list[Row]:
    env = os.environ | {
        "SYNTHLAKE_CONFIG": os.environ.get("SYNTHLAKE_CONFIG", str(SAMPLE_CONFIG)),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="synthlake-bench-") as tmp:
        lake = Path(tmp) / "lake"
        first = run_pipeline(lake, env)
        calls_first = uncached_llm_calls(lake)
        stages = ", ".join(
            f"{stage} {s:.0f} s (peak {mib(first['stage_peak_rss'][stage])})"
            for stage, s in first["stage_seconds"].items()
        )
        rows.append(
            Row(
                "synthlake run, sample, warm venv",
                first["command"],
                f"{first['wall_s']:.0f} s wall, peak RSS {mib(first['peak_rss'])}; {stages}; "
                f"{calls_first[0]} LLM calls (target < 600 s)",
                first["wall_s"],
                first,
            )
        )
        second = run_pipeline(lake, env)
        calls_second = uncached_llm_calls(lake)
        new_calls = calls_second[0] - calls_first[0]
        ratio = second["wall_s"] / first["wall_s"]
        rows.append(
            Row(
                "immediate rerun, same lake",
                second["command"],
                f"{second['wall_s']:.0f} s wall = {ratio:.0%} of the first run (target < 20%), "
                f"peak RSS {mib(second['peak_rss'])}; {new_calls} uncached LLM calls "
                f"({calls_second[1] - calls_first[1]} answered by the cache; target 0)",
                second["wall_s"],
                second | {"ratio": ratio, "uncached_llm_calls": new_calls},
            )
        )
    return rows


def stage_rows(timeout_s: float, only: list[str] | None = None) -> list[Row]:
    rows = []
    for script in sorted((ROOT / "bench").glob("*.py")):
        if script.name == Path(__file__).name or (only and script.stem not in only):
            continue
        if script.name in SLOW:
            rows.append(
                Row(script.stem, f"python -m bench.{script.stem}", f"skipped: {SLOW[script.name]}")
            )
            continue
        args = SMALL_ARGS.get(script.name, [])
        shown = " ".join(["python", "-m", f"bench.{script.stem}", *args])
        print(f"== {shown}", flush=True)
        started = time.perf_counter()
        try:
            done = subprocess.run(
                # as a module from the repo root: three scripts use servers of tests/fixtures
                [sys.executable, "-m", f"bench.{script.stem}", *args],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            rows.append(Row(script.stem, shown, f"skipped: over {timeout_s:.0f} s"))
            continue
        seconds = time.perf_counter() - started
        output = (done.stdout + done.stderr).strip()
        print(output, flush=True)
        lines = [line for line in done.stdout.strip().splitlines() if line.strip()]
        if done.returncode != 0:
            tail = (output.splitlines() or ["no output"])[-1]
            rows.append(Row(script.stem, shown, f"FAILED ({done.returncode}): {tail}", seconds))
        else:
            rows.append(Row(script.stem, shown, headline(lines), seconds))
    return rows


def headline(lines: list[str]) -> str:
    """A script's verdict: its last two lines naming a target, ratio or best figure, else
    its last two lines of prose, else its last table row."""
    prose = [line.strip() for line in lines if not line.lstrip().startswith(("|", "{"))]
    verdicts = [
        v for v in prose if len(v) > 20 and re.search(r"target|goal|ratio|best|speed-up", v)
    ]
    if verdicts or prose:
        return " / ".join((verdicts or prose)[-2:])
    return "; ".join(c.strip() for c in lines[-1].strip("| ").split("|")) if lines else ""


def print_table(rows: list[Row]) -> None:
    load = os.getloadavg()
    print(f"\nmachine: {os.cpu_count()} CPUs, load average now {load[0]:.1f} {load[1]:.1f}")
    print("| benchmark | command | result | s |")
    print("|---|---|---|---|")
    for row in rows:
        seconds = f"{row.seconds:.0f}" if row.seconds is not None else ""
        result = row.result.replace("|", "\\|")
        print(f"| {row.benchmark} | `{row.command}` | {result} | {seconds} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-stages", action="store_true", help="only the pipeline runs")
    parser.add_argument("--skip-pipeline", action="store_true", help="only the stage benches")
    parser.add_argument("--timeout", type=float, default=180, help="seconds per stage bench")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these stage benches only")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    if not args.skip_pipeline:
        rows += pipeline_rows()
    if not args.skip_stages:
        rows += stage_rows(args.timeout, args.only)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2, default=str))
    return 1 if any(r.result.startswith("FAILED") for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())

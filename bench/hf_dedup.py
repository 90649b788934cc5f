"""Benchmark: normalization + deduplication of 200k synthetic instruction rows.

Generates N rows (default 200,000) in the two real shapes, half SlimOrca (JSON lines of
``conversations``) and half OpenHermes (one JSON array of instruction/input/output),
with planted exact duplicates (case, spacing and system prompt changed) and planted near
duplicates (a word or two changed), then measures three stages, each in its own process
pinned to 2 cores so that its peak memory is its own:

1. ingest: ``import_hf_file`` on both files (streaming read, shape checks, raw Parquet);
2. dbt: ``dbt run`` of stg_hf__instructions -> int_instructions_normalized ->
   int_instructions_minhash -> int_instructions_deduplicated (role mapping, text
   normalization, MinHash signatures, LSH), then the same run again on the same rows
   (normalization and signatures are incremental: only the verdicts are made again);
3. dedup alone: ``deduplicate()`` on the normalized rows read as the Python model reads
   them (the DuckDB relation, read in record batches, keep order from ``keep_rank``):
   the near-duplicate step's own time and peak RSS.

Prints rows/s, wall and CPU seconds, peak RSS, the recall of the planted duplicates, a
digest of the verdicts (the same digest: the same rows kept and dropped) and the load.
Targets: normalization + dedup of 200k rows under 60 s and 2 GB on 2 cores (issue 4);
the dedup step's peak RSS at 760k rows at datatrove's level, about 400 MB (issue 17).

    .venv/bin/python -m bench.hf_dedup [--rows 200000] [--keep DIR [--reuse]]

``--reuse`` takes the input and the ingested lake that an earlier run left in ``--keep``
(same ``--rows``) and runs only the dbt and dedup stages. ``--read-memory-limit 64MB``
caps the DuckDB block cache of the dedup stage's read connection: by default DuckDB keeps
every block it has read cached (up to 80% of RAM), which is the warehouse's memory, not
the dedup's (a user caps it with ``memory_limit`` in the profile's ``settings``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SYSTEMS = [
    "You are a helpful assistant.",
    "You are an AI assistant. Think step by step and justify your answer.",
    "You are a teacher who explains things simply.",
    "",
]


def _vocabulary(rng: random.Random, size: int = 30_000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(size)]


def _sentence(rng: random.Random, vocab: list[str], lo: int, hi: int) -> str:
    words = rng.choices(vocab, k=rng.randint(lo, hi))
    return " ".join(words).capitalize() + "."


def _perturb(rng: random.Random, text: str, vocab: list[str], edits: int) -> str:
    words = text.split(" ")
    for _ in range(edits):
        words[rng.randrange(len(words))] = rng.choice(vocab)
    return " ".join(words)


def generate(n: int, folder: Path, seed: int = 0) -> dict[str, int]:
    """Write slim.jsonl and hermes.json with n rows in all; returns the planted counts."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    half = n // 2
    planted = {"exact": 0, "near": 0}
    slim: list[tuple[str, str]] = []
    with (folder / "slim.jsonl").open("w", encoding="utf-8") as out:
        for i in range(half):
            kind = rng.random()
            if i > 100 and kind < 0.04:
                question, answer = slim[rng.randrange(len(slim))]
                question = "  " + question.upper() + " "
                planted["exact"] += 1
            elif i > 100 and kind < 0.08:
                question, answer = slim[rng.randrange(len(slim))]
                answer = _perturb(rng, answer, vocab, 1)
                planted["near"] += 1
            else:
                question = _sentence(rng, vocab, 8, 40)
                answer = " ".join(_sentence(rng, vocab, 6, 20) for _ in range(rng.randint(3, 8)))
                slim.append((question, answer))
            turns = []
            system = rng.choice(SYSTEMS)
            if system:
                turns.append({"from": "system", "value": system, "weight": None})
            turns += [
                {"from": "human", "value": question, "weight": 0.0},
                {"from": "gpt", "value": answer, "weight": 1.0},
            ]
            out.write(json.dumps({"conversations": turns}) + "\n")
    hermes: list[dict[str, str]] = []
    with (folder / "hermes.json").open("w", encoding="utf-8") as out:
        out.write("[\n")
        for i in range(n - half):
            kind = rng.random()
            if i > 100 and kind < 0.04:
                row = dict(hermes[rng.randrange(len(hermes))])
                row["instruction"] = row["instruction"].lower() + "   "
                planted["exact"] += 1
            elif i > 100 and kind < 0.08:
                row = dict(hermes[rng.randrange(len(hermes))])
                row["output"] = _perturb(rng, row["output"], vocab, 1)
                planted["near"] += 1
            else:
                row = {
                    "instruction": _sentence(rng, vocab, 6, 30),
                    "input": _sentence(rng, vocab, 10, 40) if rng.random() < 0.3 else "",
                    "output": " ".join(
                        _sentence(rng, vocab, 6, 20) for _ in range(rng.randint(3, 8))
                    ),
                }
                hermes.append(row)
            out.write(("  " if i == 0 else ",\n  ") + json.dumps(row))
        out.write("\n]\n")
    return planted


# --- stages (each runs in its own process) ---------------------------------------------
def stage_ingest(folder: Path, lake_root: Path) -> dict[str, object]:
    from synthlake.ingest.hf import HFSource, import_hf_file

    from synthlake.lake import Lake

    lake = Lake(lake_root).ensure()
    a = import_hf_file(folder / "slim.jsonl", lake, HFSource("bench/slim", "r"), run_id="b1")
    b = import_hf_file(folder / "hermes.json", lake, HFSource("bench/hermes", "r"), run_id="b1")
    return {"rows": a.new + b.new, "rejected": (a.rejected, b.rejected)}


def stage_dbt(folder: Path, lake_root: Path) -> dict[str, object]:
    from synthlake.pipeline.dbt_runner import run_dbt
    from synthlake.settings import load_settings

    settings = load_settings(lake_root=lake_root)
    models = (
        "stg_hf__instructions int_instructions_normalized int_instructions_minhash "
        "int_instructions_deduplicated"
    )
    run_dbt(["run", "--select", *models.split()], settings)
    import duckdb

    with duckdb.connect(str(lake_root / "warehouse.duckdb"), read_only=True) as con:
        counts = dict(
            con.execute(
                "select coalesce(drop_reason, 'kept'), count(*) "
                "from int_instructions_deduplicated group by all"
            ).fetchall()
        )
        (digest,) = con.execute(VERDICT_DIGEST_SQL).fetchone()
    return {"rows": sum(counts.values()), "verdicts": counts, "digest": digest}


# every row's verdict, in one hash: two runs with the same digest kept the same rows
VERDICT_DIGEST_SQL = """
select md5(string_agg(
    id || ':' || coalesce(drop_reason, '') || ':' || coalesce(duplicate_of, ''), ',' order by id
))
from int_instructions_deduplicated
"""


def stage_dedup(folder: Path, lake_root: Path) -> dict[str, object]:
    import duckdb

    from synthlake.instructions.dedup import DedupConfig, deduplicate

    with duckdb.connect(str(lake_root / "warehouse.duckdb"), read_only=True) as con:
        limit = os.environ.get("BENCH_READ_MEMORY_LIMIT", "")
        if limit:  # DuckDB keeps every block it read cached up to its memory_limit
            con.execute(f"set memory_limit = '{limit}'")
        started = time.perf_counter()
        rows = con.sql(
            "select id, normalized_text, text_hash, keep_rank from int_instructions_normalized"
        )
        result = deduplicate(rows, DedupConfig(), spill_dir=lake_root)
        elapsed = time.perf_counter() - started
    return {"rows": result.num_rows, "seconds_in_function": round(elapsed, 2)}


STAGES = {"ingest": stage_ingest, "dbt": stage_dbt, "dedup": stage_dedup}


def run_stage(name: str, folder: Path, lake_root: Path) -> dict[str, object]:
    started = time.perf_counter()
    cmd = [
        sys.executable,
        __file__,
        "--stage",
        name,
        "--folder",
        str(folder),
        "--lake",
        str(lake_root),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHLAKE_")}
    env["SYNTHLAKE_LAKE_ROOT"] = str(lake_root)
    env["SYNTHLAKE_DBT_THREADS"] = "2"
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"stage {name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = round(wall, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, help="keep the generated files and lake here")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse --keep's input and lake: dbt and dedup only"
    )
    parser.add_argument(
        "--read-memory-limit",
        default="",
        help="DuckDB memory_limit of the dedup stage's read connection, e.g. 64MB (its block "
        "cache; default DuckDB's: 80%% of RAM, so every block read stays cached)",
    )
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--lake", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.stage:  # a child: pin to 2 cores, run, report peak RSS
        cores = sorted(os.sched_getaffinity(0))[:2]
        os.sched_setaffinity(0, cores)
        result = STAGES[args.stage](args.folder, args.lake)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result["peak_rss_mb"] = round(usage.ru_maxrss / 1024)
        result["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 1)
        result["cores"] = len(cores)
        print(json.dumps(result, default=str))
        return

    if args.reuse and not args.keep:
        parser.error("--reuse needs --keep DIR")
    os.environ["BENCH_READ_MEMORY_LIMIT"] = args.read_memory_limit
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-hf-"))
    work.mkdir(parents=True, exist_ok=True)
    folder, lake_root = work / "input", work / "lake"
    print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    planted_file = folder / "planted.json"
    results: dict[str, dict[str, object]] = {}
    if args.reuse:
        planted = json.loads(planted_file.read_text())
        if planted.get("rows") != args.rows:
            raise SystemExit(f"{work} holds {planted.get('rows')} rows, not {args.rows}")
        results["ingest"] = json.loads((work / "ingest.json").read_text())
        print(f"reusing {args.rows:,} rows and their ingested lake in {work}")
    else:
        shutil.rmtree(lake_root, ignore_errors=True)
        folder.mkdir(exist_ok=True)
        t0 = time.perf_counter()
        planted = generate(args.rows, folder)
        planted_file.write_text(json.dumps({**planted, "rows": args.rows}))
        size_mb = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
        took = time.perf_counter() - t0
        print(f"generated {args.rows:,} rows ({size_mb:.0f} MB) in {took:.1f} s;")
        results["ingest"] = run_stage("ingest", folder, lake_root)
        (work / "ingest.json").write_text(json.dumps(results["ingest"]))
    print(f"  planted {planted['exact']:,} exact and {planted['near']:,} near duplicates")
    results |= {name: run_stage(name, folder, lake_root) for name in ("dbt", "dedup")}
    # the same models again on the same rows: the incremental ones find nothing to do
    results["dbt_again"] = run_stage("dbt", folder, lake_root)
    if results["dbt_again"]["digest"] != results["dbt"]["digest"]:
        raise SystemExit("the second dbt run changed the verdicts")

    print(f"\n{'stage':<34}{'rows':>9}{'wall s':>9}{'cpu s':>8}{'rows/s':>10}{'peak MB':>9}")
    labels = {
        "ingest": "ingest (stream, check, Parquet)",
        "dbt": "dbt: staging+normalize+dedup",
        "dedup": "dedup function alone",
        "dbt_again": "dbt again, nothing new",
    }
    for name, result in results.items():
        rows, wall, peak = int(result["rows"]), float(result["wall_s"]), result["peak_rss_mb"]
        cpu = result.get("cpu_s", 0.0)
        print(f"{labels[name]:<34}{rows:>9,}{wall:>9.1f}{cpu:>8.1f}{rows / wall:>10,.0f}{peak:>9}")
    inner = results["dedup"]["seconds_in_function"]
    print(
        f"  (dedup inside the function: {inner} s, {results['dedup']['rows'] / inner:,.0f} rows/s)"
    )
    verdicts = results["dbt"]["verdicts"]
    print(f"\nverdicts: {verdicts} (digest {results['dbt']['digest']})")
    for kind, reason in (("exact", "exact_duplicate"), ("near", "near_duplicate")):
        found, want = verdicts.get(reason, 0), planted[kind]
        print(f"  {reason}: {found:,} marked / {want:,} planted ({found / max(want, 1):.1%})")
    total = results["ingest"]["wall_s"] + results["dbt"]["wall_s"]
    peak = max(results["ingest"]["peak_rss_mb"], results["dbt"]["peak_rss_mb"])
    print(
        f"\nnormalization + dedup, end to end: {total:.1f} s for {args.rows:,} rows "
        f"({args.rows / total:,.0f} rows/s), peak {peak} MB; target < 60 s and < 2048 MB "
        f"-> {total / 60:.0%} of the time budget, {peak / 2048:.0%} of the memory budget"
    )
    print(
        f"cpu seconds (all cores): {results['ingest']['cpu_s'] + results['dbt']['cpu_s']:.1f}; "
        f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(wall times stretch when other work shares the cores)"
    )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

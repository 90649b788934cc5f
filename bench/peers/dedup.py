"""Near-duplicate detection, side by side: synthlake, datatrove and plain datasketch.

The same generated rows go through every tool: ``bench/hf_dedup.py``'s generator (half
SlimOrca-shaped, half OpenHermes-shaped, with planted exact duplicates - case, spacing and
system prompt changed - and near duplicates - one word of the answer changed), replayed
here with the same random draws so that each row also carries its label (original, exact
or near duplicate). Each row becomes the text synthlake compares (user and assistant
turns, system prompt left out, lower-cased, whitespace collapsed), written once to a
JSON-lines file that every tool reads:

- synthlake: ``synthlake.instructions.dedup.deduplicate`` (what ``int_instructions_
  deduplicated`` runs, called as ``bench/hf_dedup.py`` calls it), in synthlake's venv;
- datatrove: its 4-stage MinHash pipeline (signatures, buckets, cluster, filter) on a
  ``LocalPipelineExecutor`` with 2 tasks / 2 workers where a stage splits;
- datasketch: ``MinHash`` + ``MinHashLSH``, one row at a time, the way its README shows.

All three use 3-word shingles, 128 permutations and the LSH bands datasketch picks for a
0.8 Jaccard threshold (9 bands of 13). Each tool runs 3 times (``--runs``), each run in a
fresh process pinned to 2 cores; the table has the median wall time, the median peak
RSS (largest process, and the largest sum over the process tree for datatrove's
workers), the recall on the planted exact and near duplicates, and the false positives
(original rows marked as duplicates), then the ratios synthlake vs each peer. datatrove
is also rerun once on its finished job (its task-level resume).

A tool that is not importable is reported "not installed" and skipped, so this also runs
in synthlake's own venv (synthlake's side only). With the peers' venv
(``bench/peers/README.md``) synthlake's side runs in ``.venv/bin/python`` as a child::

    bench/peers/.venv/bin/python -m bench.peers.dedup [--rows 50000] [--runs 3]
        [--tools synthlake datatrove datasketch] [--keep DIR [--reuse]]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from bench.hf_dedup import SYSTEMS, _perturb, _sentence, _vocabulary
from bench.peers.common import (
    ChildRun,
    installed,
    machine_line,
    median,
    own_peak,
    pin_two_cores,
    print_table,
    run_child,
    synthlake_python,
)

TOOLS = ("synthlake", "datatrove", "datasketch")
THRESHOLD, NUM_PERM, SHINGLE_WORDS = 0.8, 128, 3
BANDS, ROWS_PER_BAND = 9, 13  # what MinHashLSH(threshold=0.8, num_perm=128) picks
WORD = re.compile(r"[^\W_]+")  # letters and digits: synthlake splits on [^\p{L}\p{N}]+


# --- inputs ----------------------------------------------------------------------------
def labelled_rows(n: int, seed: int = 0) -> Iterator[tuple[str, str, str, int]]:
    """(user turn, assistant turn, label, source) of ``bench/hf_dedup.generate(n, seed)``.

    The same random draws in the same order as ``generate`` (``--check`` compares the
    two), so the rows are the ones ``bench/hf_dedup.py`` writes; the label is 'o'
    (original), 'e' (planted exact duplicate) or 'n' (planted near duplicate) and the
    source is the row index of the original (its own index for an original).
    """
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    half = n // 2
    slim: list[tuple[str, str, int]] = []
    for i in range(half):
        kind = rng.random()
        if i > 100 and kind < 0.04:
            question, answer, source = slim[rng.randrange(len(slim))]
            question, label = "  " + question.upper() + " ", "e"
        elif i > 100 and kind < 0.08:
            question, answer, source = slim[rng.randrange(len(slim))]
            answer, label = _perturb(rng, answer, vocab, 1), "n"
        else:
            question = _sentence(rng, vocab, 8, 40)
            answer = " ".join(_sentence(rng, vocab, 6, 20) for _ in range(rng.randint(3, 8)))
            slim.append((question, answer, i))
            label, source = "o", i
        rng.choice(SYSTEMS)  # the system prompt: drawn, but not compared
        yield question, answer, label, source
    hermes: list[tuple[dict[str, str], int]] = []
    for i in range(n - half):
        kind = rng.random()
        if i > 100 and kind < 0.04:
            original, source = hermes[rng.randrange(len(hermes))]
            row = dict(original)
            row["instruction"], label = row["instruction"].lower() + "   ", "e"
        elif i > 100 and kind < 0.08:
            original, source = hermes[rng.randrange(len(hermes))]
            row = dict(original)
            row["output"], label = _perturb(rng, row["output"], vocab, 1), "n"
        else:
            row = {
                "instruction": _sentence(rng, vocab, 6, 30),
                "input": _sentence(rng, vocab, 10, 40) if rng.random() < 0.3 else "",
                "output": " ".join(_sentence(rng, vocab, 6, 20) for _ in range(rng.randint(3, 8))),
            }
            label, source = "o", half + i
            hermes.append((row, source))
        yield _user_turn(row), row["output"], label, source


def _user_turn(row: dict[str, str]) -> str:
    """stg_hf__instructions' user turn: the instruction, then the input if any."""
    if row["input"].strip():
        return row["instruction"] + "\n\n" + row["input"]
    return row["instruction"]


def normalize(user: str, assistant: str) -> str:
    """int_instructions_normalized's text: turns joined, NFC, lower-cased, spaces collapsed."""
    text = unicodedata.normalize("NFC", user + "\n" + assistant).lower()
    return " ".join(text.split())


def child_generate(work: Path, rows: int) -> dict:
    """input/part-0.jsonl and part-1.jsonl (the two halves) and labels.json."""
    (work / "input").mkdir(exist_ok=True)
    kinds, sources = [], []
    half = rows // 2
    outs = [(work / "input" / f"part-{k}.jsonl").open("w", encoding="utf-8") for k in (0, 1)]
    try:
        for i, (user, assistant, label, source) in enumerate(labelled_rows(rows)):
            line = json.dumps({"id": f"r{i}", "text": normalize(user, assistant)})
            outs[i >= half].write(line + "\n")
            kinds.append(label)
            sources.append(source)
    finally:
        for out in outs:
            out.close()
    (work / "labels.json").write_text(json.dumps({"kind": "".join(kinds), "source": sources}))
    mb = sum(p.stat().st_size for p in input_files(work)) / 1e6
    return {"rows": len(kinds), "mb": round(mb, 1)}


def input_files(work: Path) -> list[Path]:
    return [work / "input" / f"part-{k}.jsonl" for k in (0, 1)]


def check_generator(rows: int) -> None:
    """The replayed rows are exactly the ones bench/hf_dedup.py generates."""
    from bench.hf_dedup import generate

    with tempfile.TemporaryDirectory() as tmp:
        planted = generate(rows, Path(tmp))
        theirs = []
        with open(Path(tmp) / "slim.jsonl", encoding="utf-8") as f:
            for line in f:
                turns = json.loads(line)["conversations"]
                theirs.append(tuple(t["value"] for t in turns if t["from"] != "system"))
        for row in json.loads((Path(tmp) / "hermes.json").read_text(encoding="utf-8")):
            theirs.append((_user_turn(row), row["output"]))
    ours = list(labelled_rows(rows))
    assert [(u, a) for u, a, *_ in ours] == theirs, "the replay drifted from hf_dedup.generate"
    for user, assistant, label, source in ours:  # a duplicate's source is its original
        if label != "o":
            original = ours[source]
            assert original[2] == "o", source
            same = normalize(user, assistant) == normalize(*original[:2])
            assert same == (label == "e") or label == "n", (label, source)
    counts = {k: sum(1 for row in ours if row[2] == k) for k in "en"}
    assert counts == {"e": planted["exact"], "n": planted["near"]}, (counts, planted)
    print(f"generator check: {rows:,} rows identical to bench/hf_dedup.py's, labels {counts}")


def row_index(doc_id: str) -> int:
    return int(doc_id[1:])


# --- the tools (each runs in a fresh child process) ------------------------------------
def child_synthlake(work: Path, out: Path) -> dict:
    import inspect

    import duckdb
    import pyarrow as pa
    import pyarrow.json as pj

    from synthlake.instructions import dedup

    config = dedup.DedupConfig(threshold=THRESHOLD, num_perm=NUM_PERM, shingle_words=SHINGLE_WORDS)
    files = input_files(work)
    if hasattr(dedup, "deduplicate_batches"):
        # pyarrow's streaming JSON reader, scanned by DuckDB, which adds the text hash
        # and, in the same scan, splits and hashes the words for ``deduplicate_batches``;
        # its result is read batch by batch, as the dbt model's table is written. At 760k
        # rows DuckDB's read_json took 2x the time and 60 MB more, and 1 MB blocks 30 MB
        # more than 256 KB ones (the reader's buffers), at the same speed.
        schema = pa.schema([("id", pa.string()), ("text", pa.string())])
        options = pj.ReadOptions(block_size=1 << 18, use_threads=False)

        def blocks() -> Iterator[pa.RecordBatch]:
            for path in files:  # in file order (DuckDB keeps insertion order)
                parse = pj.ParseOptions(explicit_schema=schema)
                yield from pj.open_json(path, read_options=options, parse_options=parse)

        removed: list[int] = []
        rows = 0
        with duckdb.connect() as con:
            con.register("source", pa.RecordBatchReader.from_batches(schema, blocks()))
            rel = con.sql(
                "select id, text as normalized_text, sha256(text) as text_hash from source"
            )
            for batch in dedup.deduplicate_batches(rel, config, spill_dir=out):
                rows += batch.num_rows
                kept = batch.column("is_kept").to_pylist()
                ids = batch.column("id").to_pylist()
                removed.extend(row_index(i) for i, k in zip(ids, kept, strict=True) if not k)
        how = "a relation over pyarrow's JSON reader, result streamed"
    else:  # a synthlake from before the streamed result (commits before issue 17's end)
        streamed = "spill_dir" in inspect.signature(dedup.deduplicate).parameters
        quoted = ", ".join(f"'{p}'" for p in files)
        with duckdb.connect() as con:
            rel = con.sql(
                "select id, text as normalized_text, sha256(text) as text_hash "
                f"from read_json([{quoted}], format='newline_delimited', "
                "columns={'id': 'VARCHAR', 'text': 'VARCHAR'})"
            )
            if streamed:
                batches = rel.arrow(batch_size=getattr(dedup, "BATCH_ROWS", 16_384))
                result = dedup.deduplicate(batches, config, spill_dir=out)
            else:
                result = dedup.deduplicate(rel.to_arrow_table(), config)
        removed = [
            row_index(i)
            for i, kept in zip(
                result.column("id").to_pylist(), result.column("is_kept").to_pylist(), strict=True
            )
            if not kept
        ]
        rows = result.num_rows
        how = "record batches" if streamed else "table"
    (out / "removed.txt").write_text("\n".join(map(str, removed)))
    return {"rows": rows, "removed": len(removed), "input": how}


def child_datasketch(work: Path, out: Path) -> dict:
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    lsh = MinHashLSH(num_perm=NUM_PERM, params=(BANDS, ROWS_PER_BAND))
    kept: dict[int, LeanMinHash] = {}
    removed: list[int] = []
    first = MinHash(num_perm=NUM_PERM, seed=1)  # datasketch's default scheme (affine32)
    permutations, scheme = first.permutations, first.scheme  # computed once, shared
    lines = (line for path in input_files(work) for line in path.open(encoding="utf-8"))
    n = 0
    for i, line in enumerate(lines):
        n = i + 1
        words = WORD.findall(json.loads(line)["text"])
        top = max(len(words) - SHINGLE_WORDS + 1, 1) if words else 0
        shingles = [" ".join(words[k : k + SHINGLE_WORDS]).encode() for k in range(top)]
        m = MinHash(num_perm=NUM_PERM, seed=1, permutations=permutations, scheme=scheme)
        m.update_batch(shingles)
        if any(kept[c].jaccard(m) >= THRESHOLD for c in lsh.query(m)):
            removed.append(i)
            continue
        lean = LeanMinHash(m)
        lsh.insert(i, lean)
        kept[i] = lean
    (out / "removed.txt").write_text("\n".join(map(str, removed)))
    return {"rows": n, "removed": len(removed)}


def _datatrove_pipelines(work: Path, out: Path) -> list:
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    config = MinhashConfig(
        hash_config=HashConfig(precision=32),
        n_grams=SHINGLE_WORDS,
        num_buckets=BANDS,
        hashes_per_bucket=ROWS_PER_BAND,
    )
    dt = out / "datatrove"
    tasks = 2

    def reader() -> JsonlReader:
        return JsonlReader(  # one file per task: the two halves
            str(work / "input"),
            glob_pattern="part-*.jsonl",
            text_key="text",
            id_key="id",
            doc_progress=False,
            file_progress=False,
        )

    return [
        LocalPipelineExecutor(
            pipeline=[reader(), MinhashDedupSignature(str(dt / "sigs"), config=config)],
            tasks=tasks,
            workers=tasks,
            logging_dir=str(dt / "logs" / "signatures"),
            skip_completed=True,
        ),
        LocalPipelineExecutor(
            pipeline=[MinhashDedupBuckets(str(dt / "sigs"), str(dt / "buckets"), config=config)],
            tasks=config.num_buckets,
            workers=tasks,
            logging_dir=str(dt / "logs" / "buckets"),
            skip_completed=True,
        ),
        LocalPipelineExecutor(
            pipeline=[MinhashDedupCluster(str(dt / "buckets"), str(dt / "remove"), config=config)],
            tasks=1,
            workers=1,
            logging_dir=str(dt / "logs" / "cluster"),
            skip_completed=True,
        ),
        LocalPipelineExecutor(
            pipeline=[
                reader(),
                MinhashDedupFilter(
                    str(dt / "remove"), exclusion_writer=JsonlWriter(str(dt / "removed"))
                ),
                JsonlWriter(str(dt / "kept")),
            ],
            tasks=tasks,
            workers=tasks,
            logging_dir=str(dt / "logs" / "filter"),
            skip_completed=True,
        ),
    ]


def child_datatrove(work: Path, out: Path) -> dict:
    import gzip
    import logging

    logging.disable(logging.WARNING)
    try:
        from loguru import logger

        logger.remove()  # its per-task INFO lines go to stderr otherwise
        logger.add(sys.stderr, level="WARNING")
    except ImportError:
        pass
    for stage in _datatrove_pipelines(work, out):
        stage.run()
    removed = []
    for path in sorted((out / "datatrove" / "removed").glob("*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            removed += [row_index(json.loads(line)["id"]) for line in f if line.strip()]
    (out / "removed.txt").write_text("\n".join(map(str, sorted(removed))))
    return {"removed": len(removed)}


CHILDREN = {
    "generate": None,
    "synthlake": child_synthlake,
    "datatrove": child_datatrove,
    "datasketch": child_datasketch,
}
NEEDS = {"synthlake": "synthlake", "datatrove": "datatrove", "datasketch": "datasketch"}


# --- the driver ------------------------------------------------------------------------
def score(labels: dict, removed_file: Path) -> dict[str, float]:
    """Recall on the planted exact and near duplicates, and the false positives.

    Scored per group (an original and its planted duplicates), since a tool may keep a
    duplicate and drop the original instead (datatrove keeps its cluster's root): a
    planted duplicate counts as found when it is removed, or when it is the one row of
    its group left; a false positive is a removal beyond all but one row of a group (an
    original without duplicates that is removed, or a group removed entirely).
    """
    text = removed_file.read_text().strip()
    removed = {int(x) for x in text.split()} if text else set()
    kinds, sources = labels["kind"], labels["source"]
    size: dict[int, int] = {}
    kept: dict[int, list[int]] = {}
    for i, source in enumerate(sources):
        size[source] = size.get(source, 0) + 1
        if i not in removed:
            kept.setdefault(source, []).append(i)
    found = {"e": 0, "n": 0}
    for i, kind in enumerate(kinds):
        if kind != "o" and (i in removed or kept.get(sources[i]) == [i]):
            found[kind] += 1
    false_positives = sum(1 for source in size if source not in kept)
    return {
        "exact_recall": found["e"] / max(kinds.count("e"), 1),
        "near_recall": found["n"] / max(kinds.count("n"), 1),
        "false_positives": false_positives,
        "removed": len(removed),
    }


def child_argv(python: str, tool: str, work: Path, out: Path, rows: int = 0) -> list[str]:
    return [
        python,
        "-m",
        "bench.peers.dedup",
        "--child",
        tool,
        "--work",
        str(work),
        "--out",
        str(out),
        "--rows",
        str(rows),
    ]


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHLAKE_")}
    env["PYTHONPATH"] = ""  # the repo root comes from the cwd (python -m)
    env["HF_HUB_OFFLINE"] = "1"
    env["TOKENIZERS_PARALLELISM"] = "false"
    return env


def measure(tool: str, python: str, work: Path, runs: int, labels: dict, timeout: float) -> dict:
    walls, cpus, peaks, trees, scores, rerun = [], [], [], [], [], None
    for r in range(runs):
        out = work / f"{tool}-{r}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        run = run_child(child_argv(python, tool, work, out), env=child_env(), timeout=timeout)
        result = run.result()
        walls.append(run.wall_s)
        cpus.append(run.cpu_s)
        peaks.append(max(result["peak_mb"], run.largest_mb))
        trees.append(run.tree_mb)
        scores.append(score(labels, out / "removed.txt"))
        print(
            f"  {tool} run {r + 1}: {run.wall_s:.1f} s, peak {peaks[-1]:.0f} MB "
            f"(tree {run.tree_mb:.0f} MB), cpu {run.cpu_s:.0f} s, "
            f"removed {scores[-1]['removed']:,}"
            + (f", input as {result['input']}" if "input" in result else ""),
            flush=True,
        )
        if tool == "datatrove" and r == 0:
            again: ChildRun = run_child(
                child_argv(python, tool, work, out), env=child_env(), timeout=timeout
            )
            again.result()
            rerun = again.wall_s
            print(f"  datatrove rerun of the finished job: {rerun:.1f} s", flush=True)
    return {
        "wall_s": median(walls),
        "cpu_s": median(cpus),
        "peak_mb": median(peaks),
        "tree_mb": median(trees),
        "rerun_s": rerun,
        **{k: median([s[k] for s in scores]) for k in scores[0]},
        "walls": walls,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--datatrove-runs", type=int, help="datatrove's runs (default: --runs; it is slow)"
    )
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--synthlake-python", help="interpreter with synthlake installed")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--keep", type=Path, help="keep the inputs and outputs here")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the inputs an earlier --keep run left"
    )
    parser.add_argument("--check", action="store_true", help="check the replayed generator")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        cores = pin_two_cores()
        if args.child == "generate":
            result = child_generate(args.work, args.rows)
        else:
            result = CHILDREN[args.child](args.work, args.out)
        print(json.dumps({**result, **own_peak(), "cores": cores}))
        return 0
    if args.check:
        check_generator(min(args.rows, 20_000))
        return 0

    pythons: dict[str, str | None] = {}
    for tool in args.tools:
        if tool == "synthlake":
            pythons[tool] = synthlake_python(args.synthlake_python)
        else:
            pythons[tool] = sys.executable if installed(NEEDS[tool]) else None
    print(machine_line())
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-peers-dedup-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    labels_file = work / "labels.json"
    if args.reuse and labels_file.exists():
        labels = json.loads(labels_file.read_text())
        if len(labels["kind"]) != args.rows:
            raise SystemExit(f"{work} holds {len(labels['kind']):,} rows, not {args.rows:,}")
        mb = sum(p.stat().st_size for p in input_files(work)) / 1e6
        info = {"rows": args.rows, "mb": round(mb, 1)}
    else:
        argv = child_argv(sys.executable, "generate", work, work, args.rows)
        info = run_child(argv, env=child_env()).result()
        labels = json.loads(labels_file.read_text())
    print(
        f"inputs: {info['rows']:,} rows ({info['mb']} MB of JSON lines) in "
        f"{time.perf_counter() - started:.1f} s; planted {labels['kind'].count('e'):,} exact "
        f"and {labels['kind'].count('n'):,} near duplicates"
    )
    results: dict[str, dict] = {}
    for tool in args.tools:
        python = pythons[tool]
        if python is None:
            print(f"{tool}: not installed, skipped")
            continue
        print(f"{tool} ({python}):", flush=True)
        runs = args.datatrove_runs if tool == "datatrove" and args.datatrove_runs else args.runs
        results[tool] = measure(tool, python, work, runs, labels, args.timeout)
        results[tool]["runs"] = runs

    print(f"\n{args.rows:,} rows, the median of each tool's runs, each a fresh process on 2 cores")
    rows = []
    for tool, r in results.items():
        rows.append(
            [
                tool,
                str(r["runs"]),
                f"{r['wall_s']:.1f}",
                f"{r['cpu_s']:.1f}",
                f"{r['peak_mb']:.0f}",
                f"{r['tree_mb']:.0f}",
                f"{r['exact_recall']:.1%}",
                f"{r['near_recall']:.1%}",
                f"{r['false_positives']:.0f}",
                "-" if r["rerun_s"] is None else f"{r['rerun_s']:.1f}",
            ]
        )
    print_table(
        [
            "tool",
            "runs",
            "wall s",
            "cpu s",
            "peak MB",
            "tree MB",
            "exact",
            "near",
            "false +",
            "rerun s",
        ],
        rows,
    )
    if "synthlake" in results:
        ours = results["synthlake"]
        for tool, r in results.items():
            if tool == "synthlake":
                continue
            print(
                f"synthlake vs {tool}: {r['wall_s'] / ours['wall_s']:.1f}x faster "
                f"({r['cpu_s'] / ours['cpu_s']:.1f}x less CPU), "
                f"{ours['peak_mb'] / r['peak_mb']:.2f}x its peak memory "
                f"({ours['tree_mb'] / r['tree_mb']:.2f}x its process-tree peak)"
            )
    print(
        "(cpu s: all processes of a run; peak MB: the largest process; tree MB: the largest "
        "PSS sum over a run's processes)"
    )
    print(machine_line())
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

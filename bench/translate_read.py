"""Memory of reading what the translation plans from: every source's text vs the chosen rows.

``int_instructions_translated`` used to read the text of every translation source (714k
rows at seed scale) into Python to choose ``SYNTHLAKE_TRANSLATE_MAX_ROWS`` of them; it now
reads the ids, chooses (``translation_sources``), then reads the chosen rows. Since then it
no longer waits for the full language check either: ``checked-walk`` is what it does now,
reading the kept rows' ids and checking the languages of the seeded order's first rows
itself (``checked_translation_sources``); that way also says whether it chose the same rows
as the full check's ``is_translation_source``. This bench runs each way in a fresh process
on a built warehouse (e.g. a kept rehearsal's lake) and prints the rows read, the pairs
planned, seconds and the process's peak RSS (ru_maxrss; lingua's child process not counted).

    .venv/bin/python -m bench.translate_read --warehouse LAKE/warehouse.duckdb
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

LANGUAGES = ["it", "fr", "es", "de"]
WAYS = ("every-text", "chosen-rows", "checked-walk")


def measure(warehouse: str, way: str, max_rows: int) -> str:
    import duckdb
    import pyarrow as pa

    from synthlake.instructions.translate import (
        SOURCE_COLUMNS,
        TranslateConfig,
        checked_translation_sources,
        plan_jobs,
        translation_sources,
    )

    con = duckdb.connect(warehouse, read_only=True)
    con.execute("set memory_limit = '4GB'")
    config = TranslateConfig(mode="all", max_rows=max_rows)
    sources = con.table("int_instructions_checked").filter("is_translation_source")
    started = time.perf_counter()
    if way == "every-text":
        rows = sources.project(SOURCE_COLUMNS).to_arrow_table()
        rows.to_pylist()  # what plan_jobs did with every row before
    elif way == "chosen-rows":
        ids = [row[0] for row in sources.project("id").fetchall()]
        chosen = translation_sources(ids, config)
        picked = con.from_arrow(pa.table({"chosen_id": pa.array(chosen, pa.string())}))
        rows = sources.join(picked, "id = chosen_id").project(SOURCE_COLUMNS).to_arrow_table()
    else:  # checked-walk: what the model does now
        from synthlake.instructions.langid import LanguageIdentifier
        from synthlake.settings import load_settings

        instructions = con.table("stg_hf__instructions")
        identifier = LanguageIdentifier.for_instructions(load_settings(), instructions)

        def rows_of(ids, columns):  # noqa: ANN001, ANN202
            picked = con.from_arrow(pa.table({"chosen_id": pa.array(ids, pa.string())}))
            return instructions.join(picked, "id = chosen_id").project(columns).to_arrow_table()

        kept = con.table("int_instructions_deduplicated").filter("is_kept").project("id")
        chosen = checked_translation_sources(
            [row[0] for row in kept.fetchall()],
            lambda ids: rows_of(ids, "id, language, turns"),
            identifier,
            config,
        )
        rows = rows_of(chosen, SOURCE_COLUMNS)
    jobs = plan_jobs(rows, LANGUAGES, config, prompt_version="1", llm="x:y")
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    line = f"| {way} | {rows.num_rows:,} | {len(jobs):,} | {seconds:.1f} | {peak:,} |"
    if way == "checked-walk":  # the full check's choice, for comparison (not timed)
        full = translation_sources([row[0] for row in sources.project("id").fetchall()], config)
        line += f" same rows as the full check: {'yes' if chosen == full else 'NO'}"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--max-rows", type=int, default=2000)
    parser.add_argument("--way", choices=WAYS)
    args = parser.parse_args(argv)
    if args.way:  # one measurement, in this process
        print(measure(args.warehouse, args.way, args.max_rows))
        return 0
    print("| read | rows read | pairs planned | s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for way in WAYS:
        cmd = [sys.executable, "-m", "bench.translate_read", "--warehouse", args.warehouse]
        cmd += ["--max-rows", str(args.max_rows), "--way", way]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        print(out.strip().splitlines()[-1], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

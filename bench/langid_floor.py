"""How long the language check of every instruction row takes at least on this machine:
lingua alone, against the check as the model runs it.

The full rehearsal's whole-run target (the provider-limited time + 15%, 647 s for its
28,132 requests at 3,000/min) fails because its run is the language check's length
(``int_instructions_language_checked``: 1,234-1,531 s at 760k rows in the rehearsals). This
bench takes a seeded sample of the staged rows of a built warehouse (e.g. a kept
rehearsal's reference lake), and times, quiet and alone:

- ``check``: ``check_languages`` as the model calls it (texts to prose, the child process,
  the verdicts), and
- ``lingua``: lingua's confidence values alone, in this process, for the same distinct
  texts (every turn's and every row's, as ``detect_many`` prepares them), which is the work
  no change of ours removes without changing the verdicts (shorter texts, fewer candidate
  languages, lingua's low-accuracy mode),

then projects both to all the staged rows and compares them with ``--budget-s``.

    .venv/bin/python -m bench.langid_floor --warehouse LAKE/warehouse.duckdb
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True, help="a built lake's warehouse.duckdb")
    parser.add_argument("--rows", type=int, default=20_000, help="rows sampled (seeded)")
    parser.add_argument("--budget-s", type=float, default=647.0, help="the run's time box")
    args = parser.parse_args(argv)

    import duckdb

    from synthlake.instructions.langid import (
        LanguageIdentifier,
        _confidences,
        check_languages,
        end_child_process,
        turn_and_row_texts,
    )
    from synthlake.settings import load_settings

    con = duckdb.connect(args.warehouse, read_only=True)
    staged = con.sql("select id, language, turns from stg_hf__instructions")
    total = staged.count("*").fetchall()[0][0]
    identifier = LanguageIdentifier.for_instructions(load_settings(), staged)
    rows = con.sql(
        f"select id, language, turns from stg_hf__instructions "
        f"using sample reservoir({args.rows} rows) repeatable (17)"
    ).to_arrow_table()
    con.close()
    n = rows.num_rows

    turn_texts, _, row_texts = turn_and_row_texts(rows.column("turns").to_pylist())
    texts = turn_texts + row_texts
    # the check detects turns and rows in two calls: each deduplicated apart
    distinct = [
        *identifier.texts_to_detect(turn_texts)[1],
        *identifier.texts_to_detect(row_texts)[1],
    ]
    _confidences(identifier.codes, distinct[:50])  # the detector's models load on first use

    start = time.perf_counter()
    _confidences(identifier.codes, distinct)
    lingua_s = time.perf_counter() - start

    start = time.perf_counter()
    check_languages(rows, identifier)
    check_s = time.perf_counter() - start
    end_child_process()

    scale = total / n
    print(f"languages: {','.join(identifier.codes)}; {n:,} of {total:,} staged rows sampled")
    print(
        f"texts: {len(texts):,} ({len(distinct):,} distinct to detect), mean prose chars "
        f"{sum(map(len, distinct)) / max(1, len(distinct)):.0f}"
    )
    print("| part | sample s | rows/s | all rows, s | of the budget |")
    print("|---|---|---|---|---|")
    for name, seconds in (("lingua alone", lingua_s), ("the check", check_s)):
        projected = seconds * scale
        print(
            f"| {name} | {seconds:.1f} | {n / seconds:,.0f} | {projected:,.0f} | "
            f"{projected / args.budget_s:.0%} |"
        )
    print(
        f"budget: {args.budget_s:.0f} s; the check beyond lingua: {check_s - lingua_s:.1f} s "
        f"({(check_s - lingua_s) / check_s:.0%})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

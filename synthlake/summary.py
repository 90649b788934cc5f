"""The short report a run ends with: rows per stage, drops by reason, where outputs are.

It is printed (rich table) and saved as ``lake/runs/<run_id>/summary.json`` so a scheduled
run's outcome can be read later.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from synthlake.lake import Lake


@dataclass(slots=True)
class RunSummary:
    run_id: str
    lake_root: str
    started_at: str
    finished_at: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    ingest: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)
    stages: dict[str, dict[str, int]] = field(default_factory=dict)
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, lake: Lake) -> Path:
        folder = lake.runs / self.run_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "summary.json"
        path.write_text(json.dumps(self.as_dict(), indent=2, default=str), encoding="utf-8")
        self.outputs["summary"] = str(path)
        return path


# Tables whose row counts the summary reports, when they exist in the warehouse.
REPORTED_TABLES = (
    "stg_news__articles",
    "stg_hf__instructions",
    "stg_ingest__rejects",
    "news_clusters",
    "news_qa",
    "qa_pairs",
    "exp_files__news_articles",
    "exp_files__instructions",
)

# Per-stage outcomes worth a line of their own: (label, table, SQL giving (key, count)).
STAGE_OUTCOMES = (
    (
        "instructions dedup",
        "int_instructions_deduplicated",
        "select coalesce(drop_reason, 'kept'), count(*) from int_instructions_deduplicated "
        "group by all order by all",
    ),
    (
        "translations",
        "int_instructions_translated",
        "select status, count(*) from int_instructions_translated group by all order by all",
    ),
    (
        "judgements",
        "int_qa_judgements",
        "select judge_status, count(*) from int_qa_judgements group by all order by all",
    ),
    (
        "toxicity",
        "int_qa_toxicity",
        "select toxicity_status, count(*) from int_qa_toxicity group by all order by all",
    ),
    (
        "llm quarantined",
        "stg_llm__failures",
        "select stage || ': ' || reason, count(*) from stg_llm__failures group by all order by all",
    ),
)


def warehouse_counts(
    lake: Lake,
) -> tuple[dict[str, int], dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Row counts of the reported tables, outcomes per stage, rejects per domain and reason."""
    if not lake.warehouse.is_file():
        return {}, {}, {}
    tables: dict[str, int] = {}
    stages: dict[str, dict[str, int]] = {}
    dropped: dict[str, dict[str, int]] = {}
    with duckdb.connect(str(lake.warehouse), read_only=True) as con:
        present = {
            row[0]
            for row in con.execute("select table_name from information_schema.tables").fetchall()
        }
        for name in REPORTED_TABLES:
            if name in present:
                tables[name] = con.execute(f'select count(*) from "{name}"').fetchone()[0]
        for label, name, sql in STAGE_OUTCOMES:
            if name in present:
                stages[label] = {str(key): n for key, n in con.execute(sql).fetchall()}
        if "stg_ingest__rejects" in present:
            for domain, reason, n in con.execute(
                "select domain, reason, count(*) from stg_ingest__rejects group by all order by all"
            ).fetchall():
                dropped.setdefault(domain, {})[reason] = n
    return tables, stages, dropped


def render(summary: RunSummary) -> None:
    """Print the summary for a person."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False)
    table = Table(title=f"synthlake run {summary.run_id}", show_lines=False)
    table.add_column("what")
    table.add_column("rows", justify="right")
    for domain, files in summary.ingest.items():
        for name, stats in files.items():
            new = stats.get("new", 0) + stats.get("updated", 0)
            seen = (
                f"{stats['requests']} requests, {stats['fetched']} pages"
                if "requests" in stats
                else f"{stats.get('read', 0)} read"
            )
            table.add_row(
                f"ingest {domain}: {name}",
                f"{seen}, {new} new, {stats.get('unchanged', 0)} unchanged",
            )
    for name, count in summary.tables.items():
        table.add_row(name, str(count))
    for label, outcomes in summary.stages.items():
        shown = ", ".join(f"{key} {n}" for key, n in outcomes.items()) or "none"
        table.add_row(label, shown)
    for domain, reasons in summary.dropped.items():
        for reason, count in reasons.items():
            table.add_row(f"dropped {domain}: {reason}", str(count))
    console.print(table)
    for step, seconds in summary.seconds.items():
        console.print(f"  {step}: {seconds:.1f} s")
    for name, path in summary.outputs.items():
        console.print(f"  {name}: {path}")
    for warning in summary.warnings:
        console.print(f"[bold yellow]warning:[/] {warning}")

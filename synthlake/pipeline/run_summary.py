"""The short report a run ends with: rows per stage, drops by reason, where outputs are.

It is printed (rich table) and saved as ``lake/runs/<run_id>/summary.json`` so a scheduled
run's outcome can be read later; the run's full log is ``run.log`` beside it. It also holds
where the time and memory went: wall seconds and the process's peak RSS after each stage,
and the slowest dbt models (from dbt's ``run_results.json``; the Python models run inside
this process).

When the embedded model (SmolLM2-135M) produced nothing usable, the summary starts by
saying so: the run was a plumbing check, and one setting brings a capable model.
"""

from __future__ import annotations

import json
import resource
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from synthlake.lake import Lake

# The lines of README's "LLM providers" that point SYNTHLAKE_LLM at a capable model
# (a test checks that the README still has them).
CAPABLE_MODELS = (
    ("Ollama", "SYNTHLAKE_LLM=openai:llama3.1:8b@http://127.0.0.1:11434/v1"),
    ("vLLM", "SYNTHLAKE_LLM=openai:meta-llama/Llama-3.1-8B-Instruct@http://127.0.0.1:8000/v1"),
    ("Gemini", "SYNTHLAKE_LLM=gemini:gemini-2.5-flash  GEMINI_API_KEY=..."),
)
LLM_STAGES = ("summarize", "translate", "judge")
SLOWEST_MODELS = 5


def peak_rss_mb() -> dict[str, float]:
    """High-water mark of the resident memory: this process (dbt's Python models and the
    LLM run in it) and its children that have ended, in MB."""
    scale = 1 / 2**20 if sys.platform == "darwin" else 1 / 2**10  # bytes vs KiB
    return {
        "self": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, 1),
        "children": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale, 1),
    }


def slowest_models(target_dir: Path, top: int = SLOWEST_MODELS) -> list[dict[str, Any]]:
    """The ``top`` models of dbt's last ``run_results.json`` by execution time."""
    try:
        results = json.loads((target_dir / "run_results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    models = [
        r for r in results.get("results", []) if str(r.get("unique_id", "")).startswith("model.")
    ]
    # rank on dbt's own figure: ranking on the rounded one would tie two models a few
    # milliseconds apart and list them in build order
    models.sort(key=lambda r: -float(r.get("execution_time") or 0.0))
    return [
        {
            "model": r["unique_id"].split(".", 2)[-1],
            "seconds": round(float(r.get("execution_time") or 0.0), 2),
            "status": r.get("status"),
        }
        for r in models[:top]
    ]


@dataclass(slots=True)
class RunSummary:
    run_id: str
    lake_root: str
    started_at: str
    finished_at: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    # peak RSS (MB) of the process after each stage: {"self": .., "children": ..}
    peak_rss_mb: dict[str, dict[str, float]] = field(default_factory=dict)
    slowest_models: list[dict[str, Any]] = field(default_factory=list)
    llm: dict[str, str] = field(default_factory=dict)  # LLM stage -> provider:model
    ingest: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)
    stages: dict[str, dict[str, int]] = field(default_factory=dict)
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def record_stage(self, name: str, seconds: float) -> None:
        """A stage's wall seconds, and the process's peak memory once it is over."""
        self.seconds[name] = round(seconds, 2)
        self.peak_rss_mb[name] = peak_rss_mb()

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


def is_embedded_llm(spec: str) -> bool:
    """Whether ``provider:model`` names the embedded SmolLM2-135M."""
    from synthlake.llm.providers.local import SMOLLM2_ALIASES

    provider, _, model = spec.partition(":")
    return provider == "local" and model.lower() in SMOLLM2_ALIASES


def plumbing_notice(summary: RunSummary) -> list[str]:
    """The block that opens the summary when the embedded model made nothing usable.

    Usable: a news QA pair or a verified translation. Judge scores of a 135M model are at
    chance level whatever it answers, so they do not count. Empty when a capable model is
    set, when something usable came out, or when no LLM stage had anything to work on."""
    embedded = [stage for stage, spec in summary.llm.items() if is_embedded_llm(spec)]
    if not embedded:
        return []
    translations = summary.stages.get("translations", {})
    news_qa = summary.tables.get("news_qa", 0)
    verified = translations.get("verified", 0)
    worked_on = summary.tables.get("news_clusters", 0) + sum(translations.values())
    if news_qa or verified or not worked_on:
        return []
    model = summary.llm[embedded[0]]
    return [
        "This run was a plumbing check, not a dataset.",
        f"  The embedded model ({model}, SmolLM2-135M) ran the LLM stages and made nothing",
        f"  usable: {news_qa} news QA pairs, {verified} verified translations, a judge at "
        "chance level.",
        "  Crawl, ingest, dbt, the LLM runner and its cache, and the exports all ran.",
        "For real content set SYNTHLAKE_LLM to a capable model and run again, e.g.:",
        *(f"  {line}    # {name}" for name, line in CAPABLE_MODELS),
    ]


def render(summary: RunSummary) -> None:
    """Print the summary for a person: the plumbing-check block when it applies, the
    table, time and memory, outputs, warnings. Long lines are not wrapped (a path or a
    setting stays one line to copy)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from synthlake.pipeline.run_display import format_seconds

    console = Console(stderr=False)
    notice = plumbing_notice(summary)
    for number, line in enumerate(notice):
        style = "bold yellow" if number == 0 else None
        console.print(line, style=style, highlight=False, markup=False, soft_wrap=True)
    if notice:
        console.print()
    console.print(f"synthlake run {summary.run_id}", style="bold", highlight=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
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
        shown = ", ".join(f"{reason} {count}" for reason, count in reasons.items())
        table.add_row(f"dropped {domain}", shown)
    console.print(table)
    if summary.seconds:
        stages = ", ".join(f"{step} {format_seconds(s)}" for step, s in summary.seconds.items())
        peak = max((rss.get("self", 0.0) for rss in summary.peak_rss_mb.values()), default=0)
        memory = f"; peak RSS {peak / 1024:.2f} GB" if peak else ""
        console.print(f"  time: {stages}{memory}", highlight=False, soft_wrap=True)
    if summary.slowest_models:
        slowest = ", ".join(f"{m['model']} {m['seconds']:.0f} s" for m in summary.slowest_models)
        console.print(f"  slowest dbt models: {slowest}", highlight=False, soft_wrap=True)
    for name, path in summary.outputs.items():
        console.print(f"  {name}: {path}", highlight=False, markup=False, soft_wrap=True)
    for warning in summary.warnings:
        console.print("warning: ", style="bold yellow", end="")
        console.print(warning, highlight=False, markup=False, soft_wrap=True)

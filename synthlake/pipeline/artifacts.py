"""The run summary as a Prefect artifact: a markdown table on the flow run's page in the UI."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

ARTIFACT_KEY = "synthlake-refresh-summary"


def summary_markdown(summary: dict[str, Any]) -> str:
    """A markdown table of a ``RunSummary.as_dict()``: new rows, tables, stages, timings."""
    rows: list[tuple[str, str]] = []
    for domain, files in summary.get("ingest", {}).items():
        for name, stats in files.items():
            new = stats.get("new", 0) + stats.get("updated", 0)
            rows.append(
                (f"ingest {domain}: {name}", f"{new} new, {stats.get('unchanged', 0)} unchanged")
            )
    rows += [(name, str(count)) for name, count in summary.get("tables", {}).items()]
    for label, outcomes in summary.get("stages", {}).items():
        rows.append((label, ", ".join(f"{k} {n}" for k, n in outcomes.items()) or "none"))
    rows += [
        (f"{step} (s)", f"{seconds:.1f}") for step, seconds in summary.get("seconds", {}).items()
    ]
    rows += [("warning", w.replace("|", "\\|")) for w in summary.get("warnings", [])]
    lines = [f"### synthlake run {summary.get('run_id', '?')}", "", "| what | value |", "|---|---|"]
    lines += [f"| {what} | {value} |" for what, value in rows]
    return "\n".join(lines) + "\n"


def publish_summary(summary: dict[str, Any]) -> None:
    """Attach the summary to the current flow run; a failure here never fails the run."""
    try:
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(
            markdown=summary_markdown(summary),
            key=ARTIFACT_KEY,
            description=f"synthlake run {summary.get('run_id')}",
        )
    except Exception as exc:  # noqa: BLE001 - the summary is also saved in the lake
        logger.warning("could not publish the run summary artifact: %s", exc)

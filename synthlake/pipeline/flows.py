"""Prefect flows that compose the rooms: ``refresh`` = ingest -> dbt build -> export.

Flows only wire tasks; the logic lives in ``ingest/``, the dbt project and ``export/``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run as prefect_run

from synthlake.errors import ExportError
from synthlake.export.files import export_files
from synthlake.export.flows import upsert_mongo_documents, write_training_dataset
from synthlake.ingest.folder import ingest_folder
from synthlake.ingest.news.crawl import crawl_news
from synthlake.ingest.news.sample_site import serve_sample_site
from synthlake.lake import Lake, new_run_id
from synthlake.pipeline.artifacts import publish_summary
from synthlake.pipeline.build_state import (
    build_fingerprint,
    is_up_to_date,
    last_build,
    record_build,
)
from synthlake.pipeline.dbt_runner import dbt_artifacts_dir, run_dbt
from synthlake.pipeline.notify import notify_failure, notify_run
from synthlake.pipeline.run_display import DbtNodeCounter, RunDisplay
from synthlake.pipeline.run_lock import holding_run_lock
from synthlake.pipeline.run_log import run_log_file
from synthlake.pipeline.run_summary import (
    LLM_STAGES,
    RunSummary,
    render,
    slowest_models,
    warehouse_counts,
)
from synthlake.quality.report import write_report
from synthlake.quality.toxicity import toxicity_status
from synthlake.settings import Settings, load_settings

RUN_LOG = "run.log"
log = logging.getLogger(__name__)


@task(name="ingest_inputs", cache_policy=NO_CACHE)
def ingest_inputs(folder: Path, lake: Lake, settings: Settings, run_id: str) -> dict[str, Any]:
    logger = get_run_logger()
    results = ingest_folder(folder, lake, settings, run_id=run_id)
    out: dict[str, dict[str, Any]] = {}
    for domain, files in results.items():
        for name, stats in files.items():
            info = stats.as_dict()
            logger.info(
                "ingest %s %s: %s", domain, name, {k: v for k, v in info.items() if k != "files"}
            )
            out.setdefault(domain, {})[name] = info
    return out


@task(name="crawl_news_sites", cache_policy=NO_CACHE)
def crawl_news_sites(
    settings: Settings, lake: Lake, run_id: str, source: Literal["sample-site", "live"]
) -> dict[str, Any]:
    """Crawl the outlets: the saved sample site served on 127.0.0.1, or the real sites.

    Either way the scrapers, the polite client and the stored URLs are the real ones; only
    the transport maps the outlets' hosts to the local server for the sample.
    """
    logger = get_run_logger()
    site = settings.sample_dir / "site"
    with serve_sample_site(site) if source == "sample-site" else nullcontext(None) as host_map:
        stats = crawl_news(settings, lake, run_id=run_id, host_map=host_map)
    for warning in stats.warnings:
        logger.warning("%s", warning)
    info = stats.as_dict()
    logger.info("crawl: %s", {k: v for k, v in info.items() if k not in ("files", "outlets")})
    return info


@task(name="check_lake", cache_policy=NO_CACHE)
def check_lake(lake: Lake) -> int:
    """Open every raw file before dbt reads them, so a corrupt one is named clearly."""
    count = lake.check_raw()
    lake.check_warehouse()  # a damaged warehouse.duckdb: say how to rebuild it
    get_run_logger().info("lake: %d raw files readable", count)
    return count


@task(name="build_warehouse", cache_policy=NO_CACHE)
def build_warehouse(settings: Settings) -> None:
    run_dbt(["build"], settings, in_prefect=True)


@contextmanager
def counting_dbt_nodes(display: RunDisplay) -> Iterator[None]:
    """The display's dbt stage advances with each node line prefect-dbt logs."""
    counter = DbtNodeCounter(display)
    logger = logging.getLogger("prefect.task_runs")
    logger.addHandler(counter)
    try:
        yield
    finally:
        logger.removeHandler(counter)


@task(name="export_outputs", cache_policy=NO_CACHE)
def export_outputs(lake: Lake, memory_limit: str = "auto") -> dict[str, str]:
    written = export_files(lake, memory_limit)
    get_run_logger().info("exported %d files to %s", len(written), lake.exports)
    return {name: str(path) for name, path in written.items()}


@task(name="write_quality_report", cache_policy=NO_CACHE)
def write_quality_report(settings: Settings, lake: Lake) -> str:
    return str(write_report(settings, lake))


def _independent(name: str, failed: dict[str, str], task_obj: Any, *args: Any) -> Any:
    """Run one output's task; its failure is recorded in ``failed`` (and logged by
    Prefect) instead of raised, so that the outputs after it are still written."""
    state = task_obj(*args, return_state=True)
    if not state.is_failed() and not state.is_crashed():
        return state.result()
    exc = state.result(raise_on_failure=False)
    failed[name] = str(exc) if isinstance(exc, BaseException) else str(state.message)
    return None


# A failed or crashed run has no summary; the hooks send what failed (SYNTHLAKE_NOTIFY_*).
# They run once per flow run, after the last of the retries of a scheduled run.
@flow(name="refresh", on_failure=[notify_failure], on_crashed=[notify_failure])
@holding_run_lock  # one run per lake (synthlake/pipeline/run_lock.py)
def refresh(
    inputs: str | None = None,
    news: Literal["sample-site", "live", "none"] = "sample-site",
    export: bool = True,
    lake_root: str | None = None,
    rebuild: bool = False,
) -> dict[str, Any]:
    """Crawl the news, ingest the input folder, build the warehouse, export.

    The dbt build is skipped when nothing it reads changed since the last one
    (``synthlake/pipeline/build_state.py``); ``rebuild=True`` builds anyway.

    ``news``: crawl the bundled saved site served on 127.0.0.1 (default), the real outlets
    (``live``), or nothing. ``inputs``: a folder with a manifest.toml (default: the bundled
    sample); its files are imported after the crawl, so an article both crawled and listed
    is stored once. Returns the run summary (also saved under
    ``lake/runs/<run_id>/summary.json``, and sent to ``SYNTHLAKE_NOTIFY_URLS``).
    """
    settings = load_settings(**({"lake_root": Path(lake_root)} if lake_root else {}))
    lake = Lake.from_settings(settings).ensure()
    run_id = new_run_id()
    # The full log in the run folder; on the terminal, the live display of the stages.
    with run_log_file(lake.runs / run_id / RUN_LOG), RunDisplay() as display:
        try:
            return _refresh(settings, lake, run_id, display, inputs, news, export, rebuild)
        except BaseException as exc:
            # for the run log; the terminal gets the command line's own error message
            log.error("run %s failed: %s", run_id, exc, extra={"terminal": False})
            raise


def _refresh(
    settings: Settings,
    lake: Lake,
    run_id: str,
    display: RunDisplay,
    inputs: str | None,
    news: Literal["sample-site", "live", "none"],
    export: bool,
    rebuild: bool,
) -> dict[str, Any]:
    summary = RunSummary(
        run_id=run_id,
        lake_root=str(lake.root),
        started_at=datetime.now(UTC).isoformat(),
        llm={stage: str(settings.llm_for(stage)) for stage in LLM_STAGES},
    )
    summary.outputs["log"] = str(lake.runs / run_id / RUN_LOG)
    folder = Path(inputs) if inputs else settings.sample_dir

    if news != "none":
        display.begin("crawl", unit="pages")
        crawl = crawl_news_sites(settings, lake, run_id, news)
        summary.ingest.setdefault("news", {})[f"crawl ({news})"] = crawl
        summary.warnings.extend(crawl["warnings"])
        display.advance(crawl.get("fetched", 0), total=crawl.get("requests"))
        summary.record_stage("crawl", display.end())
    display.begin("ingest", unit="files")
    for domain, files in ingest_inputs(folder, lake, settings, run_id).items():
        summary.ingest.setdefault(domain, {}).update(files)
        display.advance(len(files))
    summary.record_stage("ingest", display.end())

    display.begin("dbt build", unit="nodes")
    check_lake(lake)
    fingerprint = build_fingerprint(settings, lake)
    if not rebuild and is_up_to_date(lake, fingerprint):
        built = (last_build(lake) or {}).get("built_at", "?")
        summary.outputs["dbt build"] = f"skipped: nothing changed since the build of {built}"
        get_run_logger().info("warehouse up to date (built %s): dbt build skipped", built)
        note = f"skipped, nothing changed since the build of {built}"
    else:
        with counting_dbt_nodes(display):
            build_warehouse(settings)
        record_build(lake, fingerprint, run_id)
        summary.slowest_models = slowest_models(dbt_artifacts_dir(settings) / "target")
        note = ""
    summary.record_stage("dbt build", display.end(note))

    # The export targets are independent: one failing (MongoDB down) does not stop the
    # others; the run still fails at the end, naming it.
    failed: dict[str, str] = {}
    if export:
        display.begin("export")
        written = _independent("files", failed, export_outputs, lake, settings.duckdb_memory_limit)
        summary.outputs.update(written or {})
        mongo = _independent("mongodb", failed, upsert_mongo_documents, settings, lake, run_id)
        if mongo is not None:
            summary.outputs["mongodb"] = mongo["message"]
        training = _independent("training", failed, write_training_dataset, settings, lake)
        if training is not None:
            summary.outputs["training"] = (
                f"{training['directory']} ({training['rows']} rows: "
                + ", ".join(f"{split} {n}" for split, n in training["counts"].items())
                + ")"
            )
            summary.warnings.extend(f"training export: {w}" for w in training["warnings"])
        summary.record_stage("export", display.end())

    display.begin("report")
    report = _independent("report", failed, write_quality_report, settings, lake)
    if report is not None:
        summary.outputs["report"] = report
    summary.outputs.update({name: f"FAILED: {reason}" for name, reason in failed.items()})
    summary.tables, summary.stages, summary.dropped = warehouse_counts(lake)
    toxicity = toxicity_status(settings, lake)
    if "hint" in toxicity:
        summary.warnings.append(f"toxicity {toxicity['status']}: {toxicity['hint']}")
    summary.outputs["warehouse"] = str(lake.warehouse)
    for domain in ("news", "hf"):
        staged = {"news": "stg_news__articles", "hf": "stg_hf__instructions"}[domain]
        if summary.tables.get(staged, 0) == 0:
            summary.warnings.append(f"no {domain} rows in {staged}: check the inputs")
    summary.record_stage("report", display.end())
    summary.finished_at = datetime.now(UTC).isoformat()
    summary.save(lake)
    display.close()  # the live display gives way to the summary
    render(summary)
    publish_summary(summary.as_dict())  # a markdown artifact on the flow run
    if failed:  # the failure hook sends the notification
        raise ExportError(
            "the run finished, but these outputs failed: "
            + "; ".join(f"{name}: {reason}" for name, reason in failed.items())
            + f" (the others were written; summary in {summary.outputs['summary']})"
        )
    notify_run(settings, summary.as_dict(), failed=False, run=prefect_run.name)  # never raises
    return summary.as_dict()

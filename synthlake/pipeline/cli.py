"""The `synthlake` command line (typer)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from synthlake.lake import Lake, new_run_id
from synthlake.pipeline.cli_common import LakeOption, friendly, settings_for
from synthlake.pipeline.run_log import configure_logging, quiet_progress_bars
from synthlake.settings import Settings, load_settings

app = typer.Typer(
    help=(
        "synthlake builds fine-tuning datasets for LLMs from public material: "
        "ingest -> dbt build -> export. Settings come from SYNTHLAKE_* variables or "
        "synthlake.toml (see `synthlake doctor`)."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
ingest_app = typer.Typer(help="Load inputs into lake/raw/ (Parquet).", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
# Fine-tuning and evaluation (train_cli.py): `synthlake train [sweep]`, `synthlake evaluate`.
from synthlake.pipeline.train_cli import evaluate_command, train_app  # noqa: E402

app.add_typer(train_app, name="train")
app.command("evaluate")(evaluate_command)


@app.callback()
def main(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show every log line on the terminal (dbt's node lines, LLM progress), at "
            "DEBUG; without it, warnings and errors only (a run's full log is in "
            "lake/runs/<run_id>/run.log).",
        ),
    ] = False,
) -> None:
    # Before Prefect is imported: its logging config then leaves the root logger to us.
    configure_logging(verbose)
    # The temporary Prefect server gets 30 s to start by default; a loaded 2-core machine
    # can need more. Its analytics would try the network, which may not be there.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@app.command()
@friendly
def run(
    inputs: Annotated[
        Path | None,
        typer.Option(help="Input folder with a manifest.toml (default: the bundled sample)."),
    ] = None,
    news: Annotated[
        str,
        typer.Option(
            help="Crawl 'sample-site' (the saved pages on 127.0.0.1), 'live' (the real "
            "outlets) or 'none'."
        ),
    ] = "sample-site",
    export: Annotated[bool, typer.Option(help="Write lake/exports/ after the build.")] = True,
    rebuild: Annotated[
        bool, typer.Option(help="Run the dbt build even when nothing changed since the last.")
    ] = False,
    retry_quarantined: Annotated[
        bool,
        typer.Option(
            help="Ask the LLM again for rows quarantined for their content (a bad answer), "
            "without reading the cache for them; implies --rebuild."
        ),
    ] = False,
    lake: LakeOption = None,
) -> None:
    """Run the whole pipeline (the Prefect flow `refresh`): crawl + ingest, dbt build, export."""
    if news not in ("sample-site", "live", "none"):
        raise typer.BadParameter("--news must be sample-site, live or none")
    if retry_quarantined:
        # read by the LLM stages inside the dbt build, in this process (load_settings)
        os.environ["SYNTHLAKE_LLM_RETRY_QUARANTINED"] = "true"
        rebuild = True
    quiet_progress_bars()  # the run's own display shows the progress (unless -v)
    settings = settings_for(lake)
    from synthlake.pipeline.flows import refresh
    from synthlake.pipeline.prefect_server import prefect_api
    from synthlake.pipeline.run_lock import run_lock

    # One run per lake; the lock comes first, so a stale server found next is never the
    # live server of another run. The temporary Prefect server dies with this process.
    with run_lock(settings.lake_path):
        Lake.from_settings(settings).check_warehouse()  # before anything starts
        with prefect_api(settings.lake_path):
            refresh(
                inputs=str(inputs) if inputs else None,
                news=news,
                export=export,
                lake_root=str(settings.lake_path),
                rebuild=rebuild,
            )


@ingest_app.command("news")
@friendly
def ingest_news(
    from_: Annotated[
        Path, typer.Option("--from", help="Parquet, JSONL or CSV with url/title/content.")
    ],
    lake: LakeOption = None,
) -> None:
    """Import news articles from a file (your own crawl): normalize, dedupe, store.

    Needs url, title and content (or body); outlet, date, tags, author are optional. Dates
    may be ISO 8601 or Italian text ("06 gennaio 2024, 18:54"). Rows without a body are
    kept in the rejects table with the reason.
    """
    from synthlake.ingest.news.importer import import_news_file

    settings = settings_for(lake)
    stats = import_news_file(from_, Lake.from_settings(settings), settings, run_id=new_run_id())
    typer.echo(f"{from_}: {stats.summary()}")
    for warning in stats.warnings:
        typer.echo(f"warning: {warning}", err=True)


@ingest_app.command("hf")
@friendly
def ingest_hf(
    from_: Annotated[
        Path, typer.Option("--from", help="A downloaded dataset file: JSONL, JSON or Parquet.")
    ],
    dataset: Annotated[str, typer.Option(help="Dataset id, e.g. Open-Orca/SlimOrca.")],
    revision: Annotated[str, typer.Option(help="Revision the file comes from.")] = "local",
    language: Annotated[str, typer.Option(help="Language of the dataset's text.")] = "en",
    lake: LakeOption = None,
) -> None:
    """Import an instruction dataset file in SlimOrca's or OpenHermes' shape."""
    from synthlake.ingest.hf import HFSource, import_hf_file

    settings = settings_for(lake)
    stats = import_hf_file(
        from_,
        Lake.from_settings(settings),
        HFSource(dataset, revision, language),
        run_id=new_run_id(),
        max_field_chars=settings.hf_max_field_chars,
    )
    typer.echo(
        f"{from_}: {stats.read} read, {stats.new} new, {stats.unchanged} unchanged, "
        f"rejected {stats.rejected or 0}"
    )


@ingest_app.command("hub")
@friendly
def ingest_hub(
    datasets: Annotated[
        Path | None,
        typer.Option(help="CSV dataset,revision,files,language (default seeds/hf_datasets.csv)."),
    ] = None,
    sample_rows: Annotated[
        int | None, typer.Option(help="Seeded random sample of this many rows per dataset.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the sample.")] = None,
    lake: LakeOption = None,
) -> None:
    """Download the listed Hugging Face datasets (pinned revisions) into the lake (flow
    `ingest_hf`); a rerun at the same revision downloads and writes nothing."""
    from synthlake.ingest.hf_flows import ingest_hf as ingest_hf_flow

    settings = settings_for(lake)
    results = ingest_hf_flow(
        datasets_file=str(datasets) if datasets else None,
        lake_root=str(settings.lake_path),
        sample_rows=sample_rows,
        seed=seed,
    )
    for dataset, stats in results.items():
        shown = {k: v for k, v in stats.items() if k != "files"}
        typer.echo(f"{dataset}: {shown}")


@ingest_app.command("folder")
@friendly
def ingest_folder_command(
    folder: Annotated[Path, typer.Argument(help="A folder with a manifest.toml.")],
    lake: LakeOption = None,
) -> None:
    """Import every file a folder's manifest.toml lists (data/sample/ is one)."""
    from synthlake.ingest.folder import ingest_folder

    settings = settings_for(lake)
    results = ingest_folder(folder, Lake.from_settings(settings), settings, run_id=new_run_id())
    for domain, files in results.items():
        for name, stats in files.items():
            typer.echo(f"{domain} {name}: {stats.as_dict() | {'files': len(stats.files)}}")


@app.command()
@friendly
def build(
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select",
            "-s",
            help="dbt node selection, as dbt takes it: several selectors after one --select "
            "(`--select llm_failures llm_calls`) or --select repeated.",
        ),
    ] = None,
    more_selectors: Annotated[
        list[str] | None,
        typer.Argument(
            hidden=True, metavar="SEL", help="The selectors after the first of a --select."
        ),
    ] = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Rebuild the incremental models from scratch (after moving a damaged "
            "warehouse.duckdb aside: the warehouse is derived from lake/raw/). The LLM "
            "cache answers what was asked before, so nothing is paid twice.",
        ),
    ] = False,
    lake: LakeOption = None,
) -> None:
    """Run `dbt build` on the lake (staging, marts and their tests)."""
    from synthlake.pipeline.dbt_runner import run_dbt
    from synthlake.pipeline.run_lock import run_lock

    if more_selectors and not select:
        raise typer.BadParameter(
            f"{' '.join(more_selectors)!r}: selectors go after --select, e.g. "
            f"`synthlake build --select {' '.join(more_selectors)}`"
        )
    settings = settings_for(lake)
    lake_dir = Lake.from_settings(settings).require()
    with run_lock(settings.lake_path):
        # ensure(): a lake made by an older version gets the schema files of newer tables
        lake_dir.ensure().check_raw()
        lake_dir.check_warehouse()
        selectors = [*(select or []), *(more_selectors or [])]
        args = ["build", *(["--select", *selectors] if selectors else [])]
        run_dbt([*args, *(["--full-refresh"] if full_refresh else [])], settings)


@app.command()
@friendly
def export(
    what: Annotated[
        str,
        typer.Argument(
            help="all (default: files, training, and MongoDB when a URI is set), files "
            "(exp_files__* Parquet), training, or mongo (the exp_mongo__* marts)."
        ),
    ] = "all",
    push: Annotated[
        str | None,
        typer.Option(
            "--push",
            metavar="REPO",
            help="Upload the training dataset to this Hugging Face dataset repo "
            "(HF_ENDPOINT, HF_TOKEN).",
        ),
    ] = None,
    uri: Annotated[
        str | None,
        typer.Option(
            "--uri",
            metavar="URI",
            help="MongoDB to export to (default SYNTHLAKE_MONGODB_URI, else MONGODB_URI); "
            "never printed with its password.",
        ),
    ] = None,
    lake: LakeOption = None,
) -> None:
    """Write the export marts: lake/exports/ (Parquet files, the training dataset) and MongoDB.

    The same code as the run's export step, on the warehouse as built: build once, push
    later or to a second server. A second export of unchanged marts writes nothing.
    """
    from synthlake.errors import ExportError, SynthlakeError
    from synthlake.export.files import export_files
    from synthlake.export.training import export_training

    targets = ("all", "files", "training", "mongo")
    if what not in targets:
        raise typer.BadParameter(f"{what!r}: use {', '.join(targets)}", param_hint="WHAT")
    if push and what in ("files", "mongo"):
        raise typer.BadParameter(f"--push uploads the training dataset: drop `{what}`")
    if uri and what in ("files", "training"):
        raise typer.BadParameter(f"--uri names a MongoDB server: drop `{what}`")
    settings = load_settings(
        **({"lake_root": lake} if lake else {}), **({"mongodb_uri": uri} if uri else {})
    )
    lake_dir = Lake.from_settings(settings).require()
    if what == "mongo" and settings.mongodb_uri is None:
        raise typer.BadParameter(
            "no MongoDB to export to: pass --uri mongodb://HOST:27017 or set "
            "SYNTHLAKE_MONGODB_URI (or MONGODB_URI)"
        )

    def files() -> None:
        for name, path in export_files(lake_dir, settings.duckdb_memory_limit).items():
            typer.echo(f"{name} -> {path}")

    def training() -> None:
        result = export_training(settings, lake_dir, push=push)
        counts = ", ".join(f"{split} {n}" for split, n in result.counts.items())
        typer.echo(f"training -> {result.directory} ({counts}; snapshot {result.snapshot_id[:12]})")
        for warning in result.warnings:
            typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
        if result.pushed_to:
            typer.echo(f"pushed -> {result.pushed_to}")

    steps = {
        "files": files,
        "training": training,
        "mongo": lambda: _export_mongo(settings, lake_dir),
    }
    if what != "all":
        steps[what]()
        return
    # As in the run's export step, the targets are independent: MongoDB being down does
    # not stop the files or the training export; the command still fails naming each.
    failed = []
    for target, step in steps.items():
        try:
            step()
        except SynthlakeError as exc:
            typer.secho(f"error: {target}: {exc}", fg=typer.colors.RED, err=True)
            failed.append(target)
    if failed:
        raise ExportError(
            f"export failed for: {', '.join(failed)} (see above; the other targets ran)"
        )


def _export_mongo(settings: Settings, lake_dir: Lake) -> None:
    """The run's MongoDB export (export/mongo.py) and one line per collection."""
    from synthlake.export.mongo import export_mongo

    stats = export_mongo(settings, lake_dir, run_id=new_run_id())
    if stats.status == "skipped":
        typer.echo(f"mongodb: {stats.message}")
        return
    for name, coll in stats.collections.items():
        typer.echo(
            f"mongodb {name}: rows {coll.rows}, inserted {coll.inserted}, updated "
            f"{coll.updated}, unchanged {coll.unchanged}, removed {coll.removed}, "
            f"rejected {coll.rejected}"
        )
    typer.echo(
        f"mongodb -> {stats.server}, database {stats.database}: {stats.writes} document write(s)"
    )
    if stats.status == "rejected_rows":
        typer.secho(f"warning: mongodb: {stats.message}", fg=typer.colors.YELLOW, err=True)


@app.command()
@friendly
def sql(
    query: Annotated[str, typer.Argument(help="SQL to run on the warehouse (read-only).")],
    lake: LakeOption = None,
) -> None:
    """Query the warehouse, e.g. `synthlake sql "select count(*) from stg_news__articles"`."""
    import duckdb

    from synthlake.errors import LakeError

    warehouse = Lake.from_settings(settings_for(lake)).warehouse
    if not warehouse.is_file():
        raise LakeError(f"no warehouse at {warehouse}: run `synthlake run` first")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            relation = con.sql(query)
        except duckdb.Error as exc:
            raise LakeError(f"query failed: {exc}") from None
        if relation is None:
            return
        relation.show(max_width=200, max_rows=100)


@app.command()
@friendly
def doctor(lake: LakeOption = None) -> None:
    """Show which component each stage will use and whether it is reachable."""
    from synthlake.pipeline.doctor import render_checks, run_checks

    render_checks(run_checks(settings_for(lake)))


@app.command()
@friendly
def llm(
    prompt: Annotated[str, typer.Argument(help="The user message.")],
    model: Annotated[
        str | None, typer.Option("--llm", help="provider:model[@url]; default SYNTHLAKE_LLM.")
    ] = None,
    system: Annotated[str | None, typer.Option(help="A system message.")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Answer length cap.")] = 128,
) -> None:
    """Ask the configured LLM one question through the runner (cached, accounted)."""
    from synthlake.llm.cli import ask

    typer.echo(
        ask(
            prompt, llm=model, system=system, max_new_tokens=max_new_tokens, settings=settings_for()
        )
    )


@app.command()
@friendly
def calibrate(
    judge: Annotated[
        str | None, typer.Option(help="provider:model[@url]; default SYNTHLAKE_LLM_JUDGE.")
    ] = None,
    second_judge: Annotated[
        str | None, typer.Option(help="A second judge: adds the inter-judge agreement.")
    ] = None,
    labelled: Annotated[
        Path | None,
        typer.Option(help="Labelled JSONL (default SYNTHLAKE_JUDGE_CALIBRATION_FILE)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    lake: LakeOption = None,
) -> None:
    """Agreement of the judge with the labelled set: exact, within 1, Cohen's kappa, bias."""
    import json

    from synthlake.quality.calibration import calibrate as run_calibration

    report = run_calibration(settings_for(lake), judge, second_judge, path=labelled)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        report.render()


@app.command()
@friendly
def report(
    out: Annotated[Path | None, typer.Option(help="HTML file to write.")] = None,
    lake: LakeOption = None,
) -> None:
    """Write the quality report (HTML, self-contained) from the warehouse."""
    from synthlake.quality.report import write_report

    settings = settings_for(lake)
    typer.echo(str(write_report(settings, Lake.from_settings(settings).require(), path=out)))


@app.command()
@friendly
def serve(lake: LakeOption = None) -> None:
    """Serve the scheduled `refresh` deployment until Ctrl-C (SYNTHLAKE_REFRESH_* settings)."""
    from synthlake.pipeline.schedule import build_deployment
    from synthlake.pipeline.schedule import serve as serve_deployment

    settings = settings_for(lake)
    deployment = build_deployment(settings)  # a bad cron fails here, before serving
    typer.echo(f"serving {deployment.name}: cron {settings.refresh_cron!r} ({settings.timezone})")
    serve_deployment(settings)


models_app = typer.Typer(help="Fetch model weights into the per-user model cache.")
app.add_typer(models_app, name="models")


@models_app.command("pull")
@friendly
def models_pull(
    name: Annotated[str, typer.Argument(help="What to pull: detoxify.")],
    model: Annotated[
        str | None, typer.Option(help="Detoxify model (default SYNTHLAKE_DETOXIFY_MODEL).")
    ] = None,
) -> None:
    """Download Detoxify's weights once, check their sha256, place them in the model cache."""
    from synthlake.quality.detoxify_pull import pull_command

    typer.echo(pull_command(settings_for(None), name, model))


if __name__ == "__main__":  # pragma: no cover
    app()

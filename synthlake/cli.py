"""The `synthlake` command line (typer)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

from synthlake.errors import SynthlakeError
from synthlake.lake import Lake, new_run_id
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

LakeOption = Annotated[
    Path | None, typer.Option("--lake", help="Lake root (overrides SYNTHLAKE_LAKE_ROOT).")
]


def _settings(lake: Path | None = None) -> Settings:
    return load_settings(**({"lake_root": lake} if lake else {}))


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a SynthlakeError as one clear message and exit 1, instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SynthlakeError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None

    return wrapper


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Prefect's client logs every API request at INFO; that drowns the run's own lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)
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
    lake: LakeOption = None,
) -> None:
    """Run the whole pipeline (the Prefect flow `refresh`): crawl + ingest, dbt build, export."""
    if news not in ("sample-site", "live", "none"):
        raise typer.BadParameter("--news must be sample-site, live or none")
    settings = _settings(lake)
    from synthlake.flows import refresh

    refresh(
        inputs=str(inputs) if inputs else None,
        news=news,
        export=export,
        lake_root=str(settings.lake_path),
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
    from ingest.news.importer import import_news_file

    settings = _settings(lake)
    stats = import_news_file(from_, Lake.from_settings(settings), settings, run_id=new_run_id())
    typer.echo(
        f"{from_}: {stats.read} read, {stats.new} new, {stats.updated} updated, "
        f"{stats.unchanged} unchanged, rejected {stats.rejected or 0}"
    )


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
    from ingest.hf import HFSource, import_hf_file

    settings = _settings(lake)
    stats = import_hf_file(
        from_,
        Lake.from_settings(settings),
        HFSource(dataset, revision, language),
        run_id=new_run_id(),
    )
    typer.echo(
        f"{from_}: {stats.read} read, {stats.new} new, {stats.unchanged} unchanged, "
        f"rejected {stats.rejected or 0}"
    )


@ingest_app.command("folder")
@friendly
def ingest_folder_command(
    folder: Annotated[Path, typer.Argument(help="A folder with a manifest.toml.")],
    lake: LakeOption = None,
) -> None:
    """Import every file a folder's manifest.toml lists (data/sample/ is one)."""
    from ingest.sample import ingest_folder

    settings = _settings(lake)
    results = ingest_folder(folder, Lake.from_settings(settings), settings, run_id=new_run_id())
    for domain, files in results.items():
        for name, stats in files.items():
            typer.echo(f"{domain} {name}: {stats.as_dict() | {'files': len(stats.files)}}")


@app.command()
@friendly
def build(
    select: Annotated[
        str | None, typer.Option("--select", "-s", help="dbt node selection.")
    ] = None,
    lake: LakeOption = None,
) -> None:
    """Run `dbt build` on the lake (staging, marts and their tests)."""
    from synthlake.dbt import run_dbt

    settings = _settings(lake)
    Lake.from_settings(settings).require().check_raw()
    run_dbt(["build", *(["--select", select] if select else [])], settings)


@app.command()
@friendly
def export(lake: LakeOption = None) -> None:
    """Write the export marts to lake/exports/ as Parquet."""
    from export.files import export_files

    settings = _settings(lake)
    for name, path in export_files(Lake.from_settings(settings).require()).items():
        typer.echo(f"{name} -> {path}")


@app.command()
@friendly
def sql(
    query: Annotated[str, typer.Argument(help="SQL to run on the warehouse (read-only).")],
    lake: LakeOption = None,
) -> None:
    """Query the warehouse, e.g. `synthlake sql "select count(*) from stg_news__articles"`."""
    import duckdb

    from synthlake.errors import LakeError

    warehouse = Lake.from_settings(_settings(lake)).warehouse
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
    from synthlake.doctor import render_checks, run_checks

    render_checks(run_checks(_settings(lake)))


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
        ask(prompt, llm=model, system=system, max_new_tokens=max_new_tokens, settings=_settings())
    )


if __name__ == "__main__":  # pragma: no cover
    app()

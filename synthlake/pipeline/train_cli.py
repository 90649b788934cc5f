"""``synthlake train``, ``synthlake train sweep`` and ``synthlake evaluate`` (typer).

Registered in ``synthlake/pipeline/cli.py``. Heavy imports (torch, transformers, peft) happen inside
the commands, so ``synthlake --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from synthlake.pipeline.cli_common import LakeOption, friendly, settings_for

train_app = typer.Typer(
    help="Fine-tune a causal LM on the training export with LoRA (QLoRA on CUDA).",
    invoke_without_command=True,
    no_args_is_help=False,
)

ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config", "-c", help="A YAML config, or the name of one in train/configs/ (cpu-smoke)."
    ),
]


@train_app.callback()
@friendly
def train_command(
    ctx: typer.Context,
    config: ConfigOption = None,
    run_id: Annotated[str | None, typer.Option(help="Name the run (default: generated).")] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Continue this run from its last checkpoint (its saved config unless --config)."
        ),
    ] = None,
    max_steps: Annotated[int | None, typer.Option(help="Override the config's max_steps.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Training export folder.")] = None,
    merge: Annotated[bool, typer.Option(help="Also save the merged model.")] = False,
    lake: LakeOption = None,
) -> None:
    """Train one adapter: `synthlake train --config cpu-smoke`."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None and resume is None:
        raise typer.BadParameter("give --config (e.g. cpu-smoke)", param_hint="--config")
    from synthlake.lake import Lake
    from synthlake.train.config import load_config
    from synthlake.train.lora import CONFIG_FILE, train

    settings = settings_for(lake)
    overrides: dict[str, Any] = {"max_steps": max_steps, "data_dir": data_dir}
    if merge:
        overrides["merge"] = True
    if config is None:  # resume with the config the run saved
        config = str(Lake.from_settings(settings).runs / str(resume) / CONFIG_FILE)
        cfg = load_config(config, **overrides)  # JSON is YAML
    else:
        cfg = load_config(config, **overrides)
    result = train(cfg, settings, run_id=resume or run_id, resume=resume is not None)
    info = result.info
    typer.echo(
        f"run {result.run_id}: {result.steps} steps, loss {info['first_loss']:.4f} -> "
        f"{info['last_loss']:.4f}, {info['steps_per_second']} steps/s on {info['device']} "
        f"(quantization {info['quantization_used']})"
    )
    typer.echo(f"adapter -> {result.adapter_dir}")
    if info["encode"]["overlength"]:
        typer.secho(
            f"warning: {info['encode']['overlength']} rows over max_seq_length "
            f"(see {result.run_dir / 'run.json'})",
            fg=typer.colors.YELLOW,
            err=True,
        )


def _thresholds(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give numbers such as 0,3,4") from None
    if not values or any(not 0 <= v <= 5 for v in values):
        raise typer.BadParameter(
            "thresholds are judge scores from 0 to 5", param_hint="--thresholds"
        )
    return values


@train_app.command("sweep")
@friendly
def sweep_command(
    config: ConfigOption = None,
    thresholds: Annotated[
        str, typer.Option(help="Judge-score thresholds, comma separated (0 = all rows).")
    ] = "0,3,4",
    max_steps: Annotated[int | None, typer.Option(help="Override the config's max_steps.")] = None,
    judge: Annotated[bool, typer.Option(help="Score answers with the judge.")] = True,
    max_rows: Annotated[int | None, typer.Option(help="Evaluate at most this many rows.")] = None,
    lake: LakeOption = None,
) -> None:
    """Train and evaluate one adapter per judge threshold (AlpaGasus-style comparison)."""
    if config is None:
        raise typer.BadParameter("give --config (e.g. cpu-smoke)", param_hint="--config")
    from synthlake.train.config import load_config
    from synthlake.train.evaluate import sweep

    values = _thresholds(thresholds)
    cfg = load_config(config, max_steps=max_steps)
    outcomes = sweep(cfg, settings_for(lake), values, judge=judge, max_rows=max_rows)
    for outcome in outcomes:
        if outcome.skipped:
            typer.echo(f"threshold {outcome.threshold:g}: skipped ({outcome.skipped})")
        else:
            typer.echo(
                f"threshold {outcome.threshold:g}: run {outcome.run_id}, "
                f"{outcome.eval_rows} eval rows"
            )
    typer.echo('compare: synthlake sql "select * from rpt_eval_results" (after synthlake build)')


@friendly
def evaluate_command(
    run: Annotated[str, typer.Argument(help="The training run id (a folder in lake/runs/).")],
    judge: Annotated[
        bool, typer.Option(help="Score answers with the judge (SYNTHLAKE_LLM_JUDGE).")
    ] = True,
    max_rows: Annotated[int | None, typer.Option(help="Evaluate at most this many rows.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Training export folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON lines.")] = False,
    lake: LakeOption = None,
) -> None:
    """Base vs fine-tuned answers on the eval split -> lake/raw/eval_results/."""
    from synthlake.lake import Lake
    from synthlake.train.evaluate import evaluate

    settings = settings_for(lake)
    run_dir = Lake.from_settings(settings).runs / run
    table = evaluate(
        settings,
        run_dir,
        data_dir=data_dir,
        judge=judge and settings.eval_judge,
        max_rows=max_rows,
    )
    rows = table.to_pylist()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, default=str, ensure_ascii=False))
        return
    for variant in ("base", "tuned"):
        mine = [r for r in rows if r["variant"] == variant]
        told = [r["in_prompt_language"] for r in mine if r["in_prompt_language"] is not None]
        scores = [r["judge_score"] for r in mine if r["judge_score"] is not None]
        typer.echo(
            f"{variant}: {len(mine)} answers, in the prompt's language {sum(told)}/{len(told)}, "
            f"judge mean {sum(scores) / len(scores):.2f} over {len(scores)}"
            if scores
            else f"{variant}: {len(mine)} answers, in the prompt's language "
            f"{sum(told)}/{len(told)}, no judge score"
        )
    typer.echo("-> lake/raw/eval_results/ (report: rpt_eval_results after `synthlake build`)")

"""Scheduled refreshes: the ``refresh`` flow as a Prefect deployment (``synthlake serve``).

``build_deployment`` makes the deployment from the settings (cron in ``settings.timezone``,
parameters, concurrency limit 1, flow retries); ``serve`` runs it in this process with
``prefect.serve`` until stopped. ``prefect.yaml`` at the repository root is the same
deployment for ``prefect deploy`` on a work pool; its entrypoint is
``synthlake/pipeline/schedule.py:scheduled_refresh``, the flow with the retries of the settings, and
its pull step ``enter_checkout`` starts each flow run in the checkout.

A refresh with nothing new is cheap by construction: ingest writes only new or changed
rows, the model-bound dbt models are incremental and the LLM cache answers what was asked
before, so a run with no new article sends nothing to a model.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from synthlake.errors import SettingsError
from synthlake.settings import Settings, load_settings

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment

DEPLOYMENT_NAME = "synthlake-refresh"
TAGS = ["synthlake"]


def refresh_parameters(settings: Settings) -> dict[str, Any]:
    """The parameters every scheduled run of ``refresh`` gets."""
    return {
        "inputs": str(settings.refresh_inputs) if settings.refresh_inputs else None,
        "news": settings.refresh_news,
        "export": True,
        "lake_root": str(settings.lake_path),
    }


def scheduled_flow(settings: Settings) -> Flow:
    """``refresh`` with the flow-level retries a scheduled run gets (transient failures:
    an outlet down, a provider's 5xx after the task-level retries are spent)."""
    from synthlake.pipeline.flows import refresh

    return refresh.with_options(
        retries=settings.refresh_retries,
        retry_delay_seconds=settings.refresh_retry_delay_s,
    )


def build_deployment(settings: Settings, *, name: str = DEPLOYMENT_NAME) -> RunnerDeployment:
    """The deployment of ``refresh``: cron schedule, parameters, never two runs at once."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.client.schemas.schedules import CronSchedule

    try:
        schedule = CronSchedule(cron=settings.refresh_cron, timezone=settings.timezone)
    except ValueError as exc:  # pydantic's ValidationError: keep its one message
        reason = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
        reason = reason.removeprefix("Value error, ")
        raise SettingsError(
            f"SYNTHLAKE_REFRESH_CRON = {settings.refresh_cron!r} is not a valid cron: {reason}"
        ) from exc
    return scheduled_flow(settings).to_deployment(
        name=name,
        # a schedule object rather than cron=, which has no time zone
        schedules=[schedule],
        parameters=refresh_parameters(settings),
        # A run still going when the next is due: the new one is cancelled, not queued;
        # the run after it picks up whatever arrived in between.
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        description="synthlake: crawl + ingest, dbt build, export (scheduled).",
        tags=TAGS,
    )


def enter_checkout() -> dict[str, str]:
    """``prefect.yaml``'s pull step: start the flow run in the synthlake checkout.

    The checkout is the dbt project, ``SYNTHLAKE_PROJECT_DIR``, whose default is the
    checkout this package is installed from (``pip install -e .``): a worker started with
    the checkout's .venv needs no variable, and one whose flow runs should use another
    checkout names it there. The entrypoint and the relative paths of the settings (the
    default lake, ``lake/``) are then read from it. A variable of its own in the
    ``SYNTHLAKE_`` namespace would be refused as a misspelt setting, by ``prefect deploy``
    (it loads the entrypoint) as by every flow run.
    """
    project = load_settings().project_dir
    if not (project / "dbt_project.yml").is_file():
        raise SettingsError(
            f"SYNTHLAKE_PROJECT_DIR = {str(project)!r} has no dbt_project.yml: set it, in the "
            "worker's environment, to the synthlake checkout the flow runs should use"
        )
    os.chdir(project)
    return {"directory": str(project)}


def serve(settings: Settings | None = None) -> None:
    """Serve the deployment in this process until interrupted (Ctrl-C)."""
    from prefect import serve as prefect_serve

    prefect_serve(build_deployment(settings or load_settings()))


def __getattr__(name: str) -> Any:
    # ``prefect deploy`` loads ``scheduled_refresh`` from here at run time, so the retries
    # follow the settings of the worker's environment.
    if name == "scheduled_refresh":
        return scheduled_flow(load_settings())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

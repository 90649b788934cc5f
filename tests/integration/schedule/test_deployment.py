"""The `synthlake serve` deployment, registered on a real (temporary) Prefect server."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_deployment_has_schedule_concurrency_limit_and_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.testing.utilities import prefect_test_harness

    from synthlake.schedule import DEPLOYMENT_NAME, build_deployment
    from synthlake.settings import load_settings

    monkeypatch.setenv("SYNTHLAKE_REFRESH_CRON", "30 5 * * 1-5")
    monkeypatch.setenv("SYNTHLAKE_TIMEZONE", "America/New_York")
    monkeypatch.setenv("SYNTHLAKE_REFRESH_NEWS", "none")
    monkeypatch.setenv("SYNTHLAKE_REFRESH_INPUTS", str(tmp_path / "inputs"))
    monkeypatch.setenv("SYNTHLAKE_REFRESH_RETRIES", "3")
    settings = load_settings(lake_root=tmp_path / "lake")

    deployment = build_deployment(settings)
    assert deployment.flow_name == "refresh"
    [schedule] = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == (
        "30 5 * * 1-5",
        "America/New_York",
    )
    assert deployment.concurrency_limit == 1
    assert deployment.concurrency_options.collision_strategy.value == "CANCEL_NEW"

    # the server stores what `prefect.serve` would register (serve itself would block)
    with prefect_test_harness(server_startup_timeout=120):
        deployment_id = deployment.apply()
        with get_client(sync_client=True) as client:
            stored = client.read_deployment(deployment_id)
            assert stored.name == DEPLOYMENT_NAME
            assert stored.parameters == {
                "inputs": str(tmp_path / "inputs"),
                "news": "none",
                "export": True,
                "lake_root": str((tmp_path / "lake").resolve()),
            }
            [stored_schedule] = stored.schedules
            assert stored_schedule.active
            assert stored_schedule.schedule.cron == "30 5 * * 1-5"
            assert stored_schedule.schedule.timezone == "America/New_York"
            assert stored.global_concurrency_limit.limit == 1
            flow = client.read_flow(stored.flow_id)
            assert flow.name == "refresh"


def test_run_summary_is_published_as_a_markdown_artifact() -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.testing.utilities import prefect_test_harness

    from synthlake.artifacts import ARTIFACT_KEY, publish_summary

    summary = {
        "run_id": "r-42",
        "ingest": {"news": {"crawl (sample-site)": {"new": 3, "updated": 0, "unchanged": 39}}},
        "tables": {"stg_news__articles": 42},
        "stages": {"translations": {"translated": 2, "not_selected": 5}},
        "seconds": {"dbt build": 12.34},
        "warnings": ["a | pipe"],
    }

    @flow
    def publishes() -> None:
        publish_summary(summary)

    with prefect_test_harness(server_startup_timeout=120):
        publishes()
        with get_client(sync_client=True) as client:
            [artifact] = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[ARTIFACT_KEY]))
            )
    assert artifact.type == "markdown"
    assert "| ingest news: crawl (sample-site) | 3 new, 39 unchanged |" in artifact.data
    assert "| stg_news__articles | 42 |" in artifact.data
    assert "| translations | translated 2, not_selected 5 |" in artifact.data
    assert "| dbt build (s) | 12.3 |" in artifact.data
    assert "| warning | a \\| pipe |" in artifact.data


def test_the_prefect_yaml_entrypoint_loads_without_shadowing_installed_packages() -> None:
    # A worker loads `synthlake/schedule.py:scheduled_refresh` as a script, which puts
    # synthlake/ first on sys.path; a module there named like a dependency (it was
    # synthlake/dbt.py) would then hide it. A fresh interpreter, as on a worker.
    import subprocess
    import sys

    import yaml

    from synthlake.settings import PROJECT_DIR

    [deployment] = yaml.safe_load((PROJECT_DIR / "prefect.yaml").read_text())["deployments"]
    code = (
        "import sys\n"
        "from prefect.flows import load_flow_from_entrypoint\n"
        f"flow = load_flow_from_entrypoint({deployment['entrypoint']!r})\n"
        "from dbt.cli.main import dbtRunner\n"
        "import dbt.adapters.duckdb\n"
        "print(flow.name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "refresh"

"""The `synthlake serve` deployment, registered on a real (temporary) Prefect server."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_deployment_has_schedule_concurrency_limit_and_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.testing.utilities import prefect_test_harness

    from synthlake.pipeline.schedule import DEPLOYMENT_NAME, build_deployment
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


def test_run_summary_markdown_is_one_table_row_per_figure() -> None:
    # The artifact's publication on a real server, from a real flow run, is checked by
    # test_deployment_work_pool.py; this is the table it carries (no server needed).
    from synthlake.pipeline.artifacts import summary_markdown

    summary = {
        "run_id": "r-42",
        "ingest": {"news": {"crawl (sample-site)": {"new": 3, "updated": 0, "unchanged": 39}}},
        "tables": {"stg_news__articles": 42},
        "stages": {"translations": {"translated": 2, "not_selected": 5}},
        "seconds": {"dbt build": 12.34},
        "warnings": ["a | pipe"],
    }
    markdown = summary_markdown(summary)
    assert markdown.startswith("### synthlake run r-42\n")
    assert "| ingest news: crawl (sample-site) | 3 new, 39 unchanged |" in markdown
    assert "| stg_news__articles | 42 |" in markdown
    assert "| translations | translated 2, not_selected 5 |" in markdown
    assert "| dbt build (s) | 12.3 |" in markdown
    assert "| warning | a \\| pipe |" in markdown


def test_the_prefect_yaml_entrypoint_loads_without_shadowing_installed_packages() -> None:
    # A worker loads `synthlake/pipeline/schedule.py:scheduled_refresh` as a script, which puts
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


# --- prefect.yaml's pull step: each flow run of a work pool starts in the checkout ----------


def test_the_pull_step_of_prefect_yaml_enters_the_installed_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The step as prefect.yaml writes it, resolved as Prefect's step runner does (the
    # function by its import path, `{{ $VAR }}` templates from the environment), from
    # elsewhere and with no variable set: a worker started with the checkout's .venv. The
    # runner itself, on a real worker, is test_deployment_work_pool.py's.
    import os

    import yaml
    from prefect.utilities.importtools import import_object
    from prefect.utilities.templating import apply_values

    from synthlake.settings import PROJECT_DIR

    [step] = yaml.safe_load((PROJECT_DIR / "prefect.yaml").read_text())["pull"]
    [(function, inputs)] = step.items()
    monkeypatch.chdir(tmp_path)
    outputs = import_object(function)(**apply_values(inputs or {}, os.environ))
    assert Path(os.getcwd()) == PROJECT_DIR
    assert outputs["directory"] == str(PROJECT_DIR)


def test_the_pull_step_follows_synthlake_project_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from synthlake.errors import SettingsError
    from synthlake.pipeline.schedule import enter_checkout

    other = tmp_path / "other-checkout"
    other.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYNTHLAKE_PROJECT_DIR", str(other))
    with pytest.raises(SettingsError, match="SYNTHLAKE_PROJECT_DIR = .* has no dbt_project.yml"):
        enter_checkout()
    assert Path(os.getcwd()) == tmp_path

    (other / "dbt_project.yml").write_text("name: other\n")
    assert enter_checkout() == {"directory": str(other)}
    assert Path(os.getcwd()) == other

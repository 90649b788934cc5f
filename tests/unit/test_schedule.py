"""The scheduled refresh without a Prefect server: settings, deployment shape, prefect.yaml."""

from __future__ import annotations

import pytest
import yaml

from synthlake.errors import SettingsError
from synthlake.pipeline.schedule import DEPLOYMENT_NAME, build_deployment, refresh_parameters
from synthlake.settings import PROJECT_DIR, load_settings


def test_prefect_yaml_matches_the_default_settings() -> None:
    from prefect.cli.deploy._models import PrefectYamlModel

    raw = yaml.safe_load((PROJECT_DIR / "prefect.yaml").read_text(encoding="utf-8"))
    [deployment] = PrefectYamlModel.model_validate(raw).deployments
    settings = load_settings()
    assert deployment.name == DEPLOYMENT_NAME
    assert deployment.entrypoint == "synthlake/pipeline/schedule.py:scheduled_refresh"
    [schedule] = deployment.schedules
    assert (schedule.cron, schedule.timezone) == (settings.refresh_cron, settings.timezone)
    assert deployment.concurrency_limit.limit == 1
    expected = refresh_parameters(settings)
    assert {k: expected[k] for k in deployment.parameters} == deployment.parameters


def test_prefect_yaml_entrypoint_is_refresh_with_the_retry_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.flows import load_flow_from_entrypoint

    monkeypatch.setenv("SYNTHLAKE_REFRESH_RETRIES", "4")
    monkeypatch.setenv("SYNTHLAKE_REFRESH_RETRY_DELAY_S", "30")
    flow = load_flow_from_entrypoint(
        str(PROJECT_DIR / "synthlake" / "pipeline" / "schedule.py") + ":scheduled_refresh"
    )
    assert (flow.name, flow.retries, flow.retry_delay_seconds) == ("refresh", 4, 30)


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("every 6 hours", "SYNTHLAKE_REFRESH_CRON = 'every 6 hours'"),
        ("0 */6 * *", "not a 5-field cron expression"),
    ],
)
def test_a_malformed_cron_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, cron: str, message: str
) -> None:
    monkeypatch.setenv("SYNTHLAKE_REFRESH_CRON", cron)
    with pytest.raises(SettingsError, match=message):
        load_settings()


def test_an_impossible_cron_fails_when_the_deployment_is_built() -> None:
    settings = load_settings(refresh_cron="61 * * * *")
    with pytest.raises(SettingsError, match="SYNTHLAKE_REFRESH_CRON = '61 \\* \\* \\* \\*'"):
        build_deployment(settings)

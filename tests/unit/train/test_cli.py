"""Command-line errors that need no model: one clear line, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthlake.pipeline.cli import app
from tests.fixtures.training_export import write_export


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train"], "give --config"),
        (["train", "--config", "no-such-config"], "no training config at"),
        (["train", "sweep", "--config", "cpu-smoke", "--thresholds", "0,7"], "0 to 5"),
        (["train", "sweep", "--config", "cpu-smoke", "--thresholds", "a,b"], "give numbers"),
        (["evaluate", "no-such-run"], "no training run at"),
    ],
)
def test_bad_invocations_say_what_is_wrong(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, [*args, "--lake", str(tmp_path / "lake")])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_export_is_reported_before_any_model_loads(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", "--config", "cpu-smoke", "--lake", str(tmp_path / "lake")]
    )
    assert result.exit_code == 1
    assert "no training export at" in result.output
    assert "synthlake export training" in result.output


def test_malformed_export_line_is_named(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "lake" / "exports" / "training")
    with (folder / "train.jsonl").open("a") as handle:
        handle.write('{"id": "broken"\n')
    result = CliRunner().invoke(
        app, ["train", "--config", "cpu-smoke", "--lake", str(tmp_path / "lake")]
    )
    assert result.exit_code == 1
    assert "train.jsonl:7: not valid JSON" in result.output

"""The Prefect flow ``export_training`` end to end on a small warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthlake.lake import Lake
from tests.unit.export.test_training import make_warehouse


@pytest.mark.slow
def test_flow_writes_the_training_dataset(tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness
    from synthlake.export.flows import export_training

    lake = Lake(tmp_path / "lake").ensure()
    make_warehouse(lake.warehouse)

    with prefect_test_harness(server_startup_timeout=120):  # slow on a loaded machine
        result = export_training(lake_root=str(lake.root))

    assert result["rows"] == 5
    assert result["counts"] == {"train": 2, "validation": 1, "eval": 2}
    assert result["pushed_to"] is None
    manifest = json.loads((lake.exports / "training" / "manifest.json").read_text())
    assert manifest["snapshot_id"] == result["snapshot_id"]

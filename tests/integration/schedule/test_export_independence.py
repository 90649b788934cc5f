"""The outputs of a run are independent: MongoDB down must not cost the training export
and the report of that run; the run still fails, naming MongoDB.

A real ``refresh`` on a temporary Prefect server, with ``MONGODB_URI`` pointing at a closed
local port (pymongo really fails to connect; the task's own retries run). Nothing is
ingested and no model is loaded: the dbt build runs on the empty raw tables.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from synthlake.errors import ExportError


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed when the socket is


@pytest.mark.slow
def test_a_mongodb_outage_does_not_skip_the_other_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: None
) -> None:
    from synthlake.flows import refresh

    port = closed_port()
    monkeypatch.setenv("MONGODB_URI", f"mongodb://127.0.0.1:{port}/")
    monkeypatch.setenv("SYNTHLAKE_MONGODB_TIMEOUT_S", "0.5")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "manifest.toml").write_text("# nothing listed\n")
    lake = tmp_path / "lake"

    with pytest.raises(ExportError) as failure:
        refresh(inputs=str(inputs), news="none", lake_root=str(lake))

    message = str(failure.value)
    assert "mongodb: MongoDB export to" in message and f"127.0.0.1:{port}" in message
    assert "training" not in message.split("(the others")[0]  # only MongoDB failed
    # the outputs after MongoDB were still written
    assert (lake / "exports" / "training").is_dir()
    assert any((lake / "exports" / "training").iterdir())
    (summary_path,) = lake.glob("runs/*/summary.json")
    outputs = json.loads(summary_path.read_text())["outputs"]
    assert outputs["mongodb"].startswith("FAILED: MongoDB export to")
    assert Path(outputs["report"]).is_file()
    assert "training" in outputs and not outputs["training"].startswith("FAILED")

"""``--push REPO``: the training export uploaded with huggingface_hub's own client to a
local stand-in of the hub's upload endpoints (tests/integration/export/hub_upload_server.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from synthlake.export.training import export_training

from synthlake.errors import ExportError
from synthlake.lake import Lake
from synthlake.settings import Settings
from tests.integration.export.hub_upload_server import HubUploadServer
from tests.unit.export.test_training import folder_bytes, make_warehouse

TOKEN = "hf_test_token_123"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubUploadServer]:
    from huggingface_hub import constants

    with HubUploadServer(token=TOKEN) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        # conftest sets HF_HUB_OFFLINE=1 for every test; huggingface_hub reads it at import
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        yield server


def test_push_uploads_the_exported_folder(
    settings: Settings, lake: Lake, hub: HubUploadServer
) -> None:
    make_warehouse(lake.warehouse)
    result = export_training(settings, lake, push="me/synthlake-sft")

    assert result.pushed_to == f"{hub.endpoint}/datasets/me/synthlake-sft"
    assert hub.repos == {"me/synthlake-sft": True}  # created private
    (commit,) = hub.commits
    assert commit.summary == f"synthlake training export {result.snapshot_id[:12]}"
    assert commit.files == folder_bytes(result.directory)
    manifest = json.loads(commit.files["manifest.json"])
    assert manifest["snapshot_id"] == result.snapshot_id

    # a second push to the same repo: create_repo's 409 is fine, a new commit lands
    export_training(settings, lake, push="me/synthlake-sft")
    assert len(hub.commits) == 2


def test_a_refused_token_is_a_clear_error_and_the_export_stays(
    settings: Settings, lake: Lake, hub: HubUploadServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_warehouse(lake.warehouse)
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")

    with pytest.raises(ExportError, match=r"pushing .*training to the hub dataset me/x failed"):
        export_training(settings, lake, push="me/x")

    assert hub.commits == []
    out: Path = lake.exports / "training"
    assert (out / "train.jsonl").is_file() and (out / "README.md").is_file()
    assert TOKEN not in str(hub.requests)


def test_an_unreachable_hub_is_a_clear_error(
    settings: Settings, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from huggingface_hub import constants

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    make_warehouse(lake.warehouse)

    with pytest.raises(ExportError, match=r"to the hub dataset me/x failed: .*Connect"):
        export_training(settings, lake, push="me/x")
    assert (lake.exports / "training" / "eval.jsonl").is_file()

"""Shared fixtures: every test gets clean settings and its own lake under tmp_path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from synthlake.lake import Lake
from synthlake.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
SECRET_ENV = ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "MONGODB_URI")


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the developer's shell, and nothing reaches for the network."""
    for key in list(os.environ):
        if key.upper().startswith("SYNTHLAKE_") or key in SECRET_ENV:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("DO_NOT_TRACK", "1")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(lake_root=tmp_path / "lake")


@pytest.fixture
def lake(settings: Settings) -> Lake:
    return Lake.from_settings(settings).ensure()


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server (and database) for the flow tests of a module: each
    start costs about 12 s on two cores."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield

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

# huggingface_hub and transformers read these once, when first imported. A module- or
# session-scoped fixture runs before the autouse _hermetic_env below, and one that builds a
# tiny model imports them: without this, the worker that ran it would be online for the rest
# of the session (a push test then reached for huggingface.co, depending on scheduling).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist (make test: pytest -n 2)
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN001, ANN201 - xdist's
    from tests.fixtures.xdist_schedule import ModuleScheduling

    return ModuleScheduling(config, log)


@pytest.fixture(scope="session", autouse=True)
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One model cache (SYNTHLAKE_MODEL_CACHE) for every lake of the session, set before any
    fixture runs: SmolLM2 is dequantized once, and never into the machine's real ~/.cache.
    The workers of ``pytest -n`` share it too (the folder above their own temporary ones):
    the cache's lock lets two processes load into one cache (test_local_shared_cache)."""
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "model-cache"
    path.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYNTHLAKE_MODEL_CACHE", str(path))
        yield path


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch, model_cache_dir: Path) -> None:
    """No setting leaks in from the developer's shell, and nothing reaches for the network."""
    for key in list(os.environ):
        if key.upper().startswith("SYNTHLAKE_") or key in SECRET_ENV:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SYNTHLAKE_MODEL_CACHE", str(model_cache_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("DO_NOT_TRACK", "1")


@pytest.fixture(autouse=True)
def _own_redaction_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secrets a test's settings register for log redaction end with the test: a
    notification URL's host (``json://127.0.0.1/...``, masked as an apprise token) must not
    mask 127.0.0.1 in the messages of every later test."""
    from synthlake import redact

    monkeypatch.setattr(redact, "_secrets", set(redact._secrets))
    monkeypatch.setattr(redact, "_pattern", redact._pattern)


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

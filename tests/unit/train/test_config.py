from __future__ import annotations

from pathlib import Path

import pytest
from synthlake.train.config import CONFIG_DIR, TrainConfigError, load_config, parse_config


@pytest.mark.parametrize("name", ["cpu-smoke", "gemma-2b-qlora", "llama3-8b-qlora"])
def test_shipped_configs_are_valid(name: str) -> None:
    config = load_config(name)
    assert config.name == name
    assert (config.quantization == "qlora-4bit") == name.endswith("qlora")


def test_cpu_smoke_is_the_bundled_model_for_a_few_steps() -> None:
    config = load_config(CONFIG_DIR / "cpu-smoke.yaml")
    assert config.model == "local:smollm2"
    assert config.is_local
    assert config.max_steps is not None and config.max_steps <= 10
    assert config.quantization == "none"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"model": "local:smollm2", "lora_alpha": 16}, "lora_alpha", "unknown field"),
        ({"model": "local:smollm2", "r": 0}, "r = 0", "greater than or equal to 1"),
        ({"model": "local:smollm2", "lr": -1}, "lr = -1", "greater than 0"),
        ({"model": "local:smollm2", "quantization": "int8"}, "quantization = 'int8'", "'none'"),
        ({"model": "local:smollm2", "scheduler": "step"}, "scheduler = 'step'", "'cosine'"),
        ({"model": "local:smollm2", "warmup": 2.5}, "warmup", "whole number"),
        ({"model": "local:smollm2", "target_modules": []}, "target_modules", "module names"),
        ({"r": 8}, "model", "Field required"),
    ],
)
def test_invalid_config_names_the_field(data: dict, field: str, message: str) -> None:
    with pytest.raises(TrainConfigError) as info:
        parse_config(data, where="bad.yaml")
    text = str(info.value)
    assert "bad.yaml" in text
    assert field in text
    assert message in text


def test_yaml_file_errors(tmp_path: Path) -> None:
    with pytest.raises(TrainConfigError, match="no training config at .*nope.yaml.*cpu-smoke"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [unclosed\n")
    with pytest.raises(TrainConfigError, match="cannot read training config"):
        load_config(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- model\n")
    with pytest.raises(TrainConfigError, match="must be a mapping"):
        load_config(listed)


def test_overrides_win_and_none_keeps_the_file_value(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model: local:smollm2\nmax_steps: 7\n")
    assert load_config(path, max_steps=None).max_steps == 7
    assert load_config(path, max_steps=3).max_steps == 3


def test_fingerprint_changes_with_any_field() -> None:
    a = parse_config({"model": "local:smollm2"})
    b = parse_config({"model": "local:smollm2", "seed": 1})
    assert a.fingerprint() == parse_config({"model": "local:smollm2"}).fingerprint()
    assert a.fingerprint() != b.fingerprint()
    assert a.resolved()["target_modules"] == "all-linear"

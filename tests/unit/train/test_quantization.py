"""The QLoRA switch: 4-bit NF4 + double quant + bf16 compute, on CUDA only."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest
from synthlake.train.config import parse_config
from synthlake.train.lora import quantization_config

from synthlake.errors import DependencyMissing

QLORA = parse_config({"model": "local:smollm2", "quantization": "qlora-4bit"})


def test_plain_config_never_quantizes() -> None:
    assert quantization_config(parse_config({"model": "local:smollm2"}), cuda=True) is None


def test_qlora_without_cuda_falls_back_to_plain_lora(caplog: pytest.LogCaptureFixture) -> None:
    assert quantization_config(QLORA, cuda=False) is None
    assert "plain LoRA instead" in caplog.text


@pytest.mark.skipif(
    importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed"
)
def test_qlora_on_cuda_without_bitsandbytes_names_the_package() -> None:
    with pytest.raises(DependencyMissing, match="pip install bitsandbytes") as info:
        quantization_config(QLORA, cuda=True)
    assert "gpu" in str(info.value)


def test_qlora_on_cuda_is_nf4_double_quant_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    if importlib.util.find_spec("bitsandbytes") is None:
        # Only the import is checked here; the config object is transformers' own.
        monkeypatch.setitem(sys.modules, "bitsandbytes", types.ModuleType("bitsandbytes"))
    config = quantization_config(QLORA, cuda=True, bf16=True)
    assert config.load_in_4bit and not config.load_in_8bit
    assert config.bnb_4bit_quant_type == "nf4"
    assert config.bnb_4bit_use_double_quant is True
    assert config.bnb_4bit_compute_dtype == torch.bfloat16

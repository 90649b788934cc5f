"""The per-user model cache: where it is, and how converted weights are keyed (no model
is loaded here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthlake.llm.providers.local import (
    LocalTransformersProvider,
    converted_dir,
    resolve_local_model,
)
from synthlake.model_cache import model_cache_dir
from synthlake.settings import LLMSpec, load_settings


@pytest.fixture
def no_cache_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("SYNTHLAKE_MODEL_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_default_is_the_users_cache_dir(no_cache_env: Path) -> None:
    settings = load_settings(lake_root=no_cache_env / "lake")
    assert model_cache_dir(settings) == no_cache_env / "home" / ".cache" / "synthlake"
    assert model_cache_dir() == no_cache_env / "home" / ".cache" / "synthlake"


def test_xdg_cache_home_is_honoured_when_absolute(no_cache_env, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(no_cache_env / "xdg"))
    assert model_cache_dir(load_settings()) == no_cache_env / "xdg" / "synthlake"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # the XDG spec: ignore it
    assert model_cache_dir(load_settings()) == no_cache_env / "home" / ".cache" / "synthlake"


def test_the_setting_wins(no_cache_env, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(no_cache_env / "xdg"))
    monkeypatch.setenv("SYNTHLAKE_MODEL_CACHE", str(no_cache_env / "shared"))
    assert model_cache_dir(load_settings()) == no_cache_env / "shared"
    assert model_cache_dir() == no_cache_env / "shared"  # callers without settings too


def test_every_lake_of_a_user_shares_one_cache(tmp_path: Path) -> None:
    first = load_settings(lake_root=tmp_path / "lake-a", model_cache=tmp_path / "models")
    second = load_settings(lake_root=tmp_path / "lake-b", model_cache=tmp_path / "models")
    spec = LLMSpec.parse("local:smollm2")
    roots = {LocalTransformersProvider.from_settings(spec, s).cache_root for s in (first, second)}
    assert roots == {tmp_path / "models"}


def gguf(path: Path, middle: bytes) -> Path:
    """A 3 MiB stand-in GGUF file whose bytes differ only in the middle."""
    path.mkdir(parents=True, exist_ok=True)
    size = 3 << 20
    data = bytearray(b"GGUF" + b"\0" * (size - 4))
    data[size // 2 : size // 2 + len(middle)] = middle
    (path / "model.gguf").write_bytes(bytes(data))
    return path


def test_converted_weights_are_keyed_by_the_whole_content(tmp_path: Path) -> None:
    one = resolve_local_model(str(gguf(tmp_path / "one" / "m", b"first")))
    two = resolve_local_model(str(gguf(tmp_path / "two" / "m", b"other")))  # same name, size
    cache = tmp_path / "cache"
    assert converted_dir(one, cache) != converted_dir(two, cache)
    same = resolve_local_model(str(gguf(tmp_path / "three", b"first")))
    key = converted_dir(one, cache).name.rsplit("-", 1)[1]
    assert converted_dir(same, cache).name.rsplit("-", 1)[1] == key  # same bytes, same key

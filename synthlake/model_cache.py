"""The per-user model cache: converted and downloaded model files, shared by every lake.

Dequantized LLM weights (``models/<name>-<sha256 of the GGUF>/``) and pulled Detoxify
weights (``detoxify/<model type>/``) are the same whatever the lake, so they live once per
user: ``SYNTHLAKE_MODEL_CACHE``, else ``$XDG_CACHE_HOME/synthlake``, else
``~/.cache/synthlake``.

Two processes may share it: a folder is written under a temporary name beside its target
and renamed into place, and the work that fills it runs under a lock file
(``<target>.lock``, ``filelock``), so the second process waits and then reads what the
first wrote instead of doing the work again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from synthlake.errors import DependencyMissing
from synthlake.lake import replace_folder

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

ENV = "SYNTHLAKE_MODEL_CACHE"


def model_cache_dir(settings: Settings | None = None) -> Path:
    """The model cache of this user (not created here).

    ``settings.model_cache`` (``SYNTHLAKE_MODEL_CACHE``) wins; without settings the variable
    is read directly; then the XDG base directory rules (a relative ``XDG_CACHE_HOME`` is
    ignored, as the spec says).
    """
    explicit = getattr(settings, "model_cache", None) if settings is not None else None
    if explicit is None and settings is None:
        explicit = os.environ.get(ENV) or None
    if explicit is not None:
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "synthlake"


@contextlib.contextmanager
def locked(target: Path, *, timeout_s: float = -1) -> Iterator[None]:
    """Hold ``<target>.lock`` (blocking; other processes wait) while filling ``target``."""
    try:
        from filelock import FileLock
    except ImportError as exc:  # pragma: no cover - huggingface_hub depends on it
        raise DependencyMissing("filelock", "sharing the model cache between processes") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.with_name(target.name + ".lock")), timeout=timeout_s):
        yield


def temp_sibling(target: Path) -> Path:
    """A fresh temporary folder beside ``target`` (same file system, so renames are atomic)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir(parents=True)
    return tmp


def place(tmp: Path, target: Path) -> None:
    """Move the finished folder ``tmp`` to ``target`` (``synthlake.lake.replace_folder``:
    a reader never sees a half folder); callers hold ``locked(target)``."""
    replace_folder(tmp, target)


_HASHES: dict[tuple[str, int, int], str] = {}
_HASHES_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, remembered per process for the same path, size and mtime.

    Hashing the bundled 98 MB SmolLM2 GGUF takes about 0.1 s here (sha256 with SHA-NI on
    a warm page cache), so the content hash is affordable at each model load.
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _HASHES_LOCK:
        known = _HASHES.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _HASHES_LOCK:
        _HASHES[key] = value
    return value


__all__ = ["ENV", "file_sha256", "locked", "model_cache_dir", "place", "temp_sibling"]

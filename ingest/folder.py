"""Ingest an input folder described by a ``manifest.toml`` (the bundled sample is one).

The manifest names files and, for instruction data, the dataset they stand for; each file
then goes through the same import code a user's own files or a live download use.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from synthlake.ingest.hf import HFSource, HFStats, IngestedIds, import_hf_file, known_record_ids
from synthlake.ingest.ledger import IngestLedger
from synthlake.ingest.news.importer import import_news_file
from synthlake.ingest.news.store import StoreStats

from synthlake.errors import InputFileError
from synthlake.lake import Lake
from synthlake.rejects import known_reject_ids
from synthlake.settings import Settings


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / "manifest.toml"
    if not path.is_file():
        raise InputFileError(f"no manifest.toml in {folder}: it lists the files to ingest")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(f"{path}: {exc}") from exc


def ingest_folder(
    folder: Path, lake: Lake, settings: Settings, *, run_id: str
) -> dict[str, dict[str, StoreStats | HFStats]]:
    """Ingest every file the folder's manifest lists; returns stats per domain and file."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    results: dict[str, dict[str, StoreStats | HFStats]] = {"hf": {}, "news": {}}
    # the lake's instruction ids, read once for all the files (not once per shard)
    known = known_record_ids(lake.ensure()) if manifest.get("hf") else set()
    ledger = IngestLedger(lake)
    known_rejects = known_reject_ids(lake) if manifest.get("hf") else set()
    for entry in manifest.get("hf", []):
        try:
            source = HFSource(
                entry["dataset"], str(entry.get("revision", "local")), entry.get("language", "en")
            )
        except KeyError as exc:
            raise InputFileError(f"{folder}/manifest.toml: an [[hf]] entry lacks {exc}") from exc
        for name in entry.get("files", []):
            path = folder / name
            if not path.is_file():  # import_hf_file names it
                key = None
            else:
                key = ledger.key(
                    path,
                    source,
                    source_file=str(path),
                    max_field_chars=settings.hf_max_field_chars,
                )
                held = ledger.holds_whole(key, known, known_rejects)
                if held is not None:
                    rows, since = held
                    results["hf"][name] = HFStats(
                        unchanged=rows,
                        skipped=f"not read: the lake holds its {rows} rows since run {since}",
                    )
                    continue
            seen = IngestedIds()
            results["hf"][name] = import_hf_file(
                path,
                lake,
                source,
                run_id=run_id,
                max_field_chars=settings.hf_max_field_chars,
                known=known,
                seen=seen,
            )
            if key is not None and results["hf"][name].read:  # an empty file warns every time
                ledger.record(key, seen, run_id=run_id)
    for entry in manifest.get("news", []):
        for name in entry.get("files", []):
            results["news"][name] = import_news_file(folder / name, lake, settings, run_id=run_id)
    return results

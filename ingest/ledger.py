"""The ingest ledger: an instruction file the lake already holds whole is not read again.

A scheduled refresh of an input folder re-lists every file, and importing a file means
reading, checking and hashing each of its rows to find that its record ids are known: at
seed scale 22-31 s of a daily refresh went to re-reading 760,000 unchanged rows of 12
shards to find the 1% that were new (``bench/rehearsal.py``). The hub route skips a
revision it ingested (``hf_download``: a commit is immutable); a local file can change in
place, so here a file is recognised by its bytes.

After a file is imported, the ledger keeps, under a key made of everything its rows depend
on (dataset, revision, language, the name it is stored under, the file's size and
BLAKE2b digest, ``max_field_chars``, and the source of the import code, so a change of
the normalization reads every file again), the record ids and reject ids it produced. A
later import with the same key skips the file only when every one of those ids is still in
the lake's raw tables: then reading it would add nothing. A raw part deleted or lost, a
file edited, another setting: the file is read as before. The ledger lives in the lake's
cache (``cache/ingest_ledger/``): deleting it costs one full read, nothing else.

The ledger keeps one entry per file (dataset and the name its rows are stored under): the
last import's. Recording an import removes the entries it supersedes, so a shard edited
every day, or a change of the import code that re-keys every file, leaves no trail of
entries nothing can match again (each is the file's ids: ~2 MB for a 63k-row shard).
Entries written before they named their file cannot be matched to it and stay.

Hand-written: no library keeps "what a file contributed" for an append-only Parquet lake;
the digest is ``hashlib``'s, the storage Parquet.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from synthlake.ingest import hf

from synthlake import lake as lake_module
from synthlake.lake import Lake, atomic_write_parquet

log = logging.getLogger(__name__)

LEDGER_DIR = "ingest_ledger"
_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """BLAKE2b of the file's bytes (~0.6 s for the 384 MB of the rehearsal's shards)."""
    digest = hashlib.blake2b(digest_size=20)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _code_digest() -> str:
    """The import code a stored row depends on: a change in it reads every file again."""
    digest = hashlib.blake2b(digest_size=16)
    for module in (hf, lake_module):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class LedgerKey:
    value: str  # everything the file's rows depend on, hashed
    file: str  # which file it is (dataset and stored name): one entry per file is kept


@dataclass(frozen=True, slots=True)
class IngestLedger:
    lake: Lake

    @property
    def folder(self) -> Path:
        return self.lake.cache / LEDGER_DIR

    def key(
        self, path: Path, source: hf.HFSource, *, source_file: str, max_field_chars: int | None
    ) -> LedgerKey:
        fields = {
            "dataset": source.dataset,
            "revision": source.revision,
            "language": source.language,
            "source_file": source_file,
            "size": path.stat().st_size,
            "digest": file_digest(path),
            "max_field_chars": max_field_chars,
            "code": _code_digest(),
        }
        value = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]
        file = json.dumps({"dataset": source.dataset, "source_file": source_file}, sort_keys=True)
        return LedgerKey(value, file)

    def _path(self, key: LedgerKey) -> Path:
        return self.folder / f"{key.value}.parquet"

    def holds_whole(
        self, key: LedgerKey, known_rows: set[str], known_rejects: set[str]
    ) -> tuple[int, str] | None:
        """(rows, run id) when the file of ``key`` was imported and every row and reject it
        produced is still in the lake; None otherwise (read it)."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            entry = pq.read_table(path)
            meta = json.loads(entry.schema.metadata[b"synthlake"])
        except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
            log.warning("ingest ledger: %s unreadable (%s): the file is read again", path, exc)
            return None
        kinds, ids = entry.column("kind").to_pylist(), entry.column("id").to_pylist()
        rows = [i for k, i in zip(kinds, ids, strict=True) if k == "row"]
        rejects = [i for k, i in zip(kinds, ids, strict=True) if k == "reject"]
        if not known_rows.issuperset(rows) or not known_rejects.issuperset(rejects):
            return None
        return len(rows), str(meta.get("run_id"))

    def record(self, key: LedgerKey, ids: hf.IngestedIds, *, run_id: str) -> None:
        """What an import of the file produced (after it was stored); the file's earlier
        entries, superseded, are removed."""
        self.folder.mkdir(parents=True, exist_ok=True)
        table = pa.table(
            {
                "kind": ["row"] * len(ids.records) + ["reject"] * len(ids.rejects),
                "id": [*ids.records, *ids.rejects],
            }
        ).replace_schema_metadata({"synthlake": json.dumps({"run_id": run_id, "file": key.file})})
        atomic_write_parquet(table, self._path(key))
        self._remove_superseded(key)

    def _remove_superseded(self, key: LedgerKey) -> None:
        for path in self.folder.glob("*.parquet"):
            if path.stem == key.value:
                continue
            try:  # the footer only: an entry's ids are not read
                meta = json.loads(pq.read_schema(path).metadata[b"synthlake"])
            except (OSError, KeyError, TypeError, ValueError, pa.ArrowException):
                continue  # unreadable: holds_whole names it if its file comes again
            if meta.get("file") == key.file:
                path.unlink(missing_ok=True)
                log.info("ingest ledger: %s superseded by %s, removed", path.name, key.value)

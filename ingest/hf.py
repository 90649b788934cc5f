"""Instruction datasets (SlimOrca, OpenHermes and anything of the same shapes) into lake/raw/hf.

This is the part of the Hugging Face ingest that runs after the files are on disk: read
each row, check it has the shape it claims, and store it *in its own shape* (ShareGPT
``conversations`` or alpaca-style ``instruction``/``input``/``output``). Mapping roles to a
unified schema happens in dbt (``stg_hf__instructions``) so it stays queryable and tested.

A row that cannot be used (no assistant turn, a missing field, an unknown role) is a
counted reject with its reason; the rest of the file goes on. So is a row whose text cannot
be stored: a field of the wrong type (``invalid_field``), a text field longer than
``SYNTHLAKE_HF_MAX_FIELD_CHARS`` (``too_large``), or text with lone surrogates, which
JSON's ``\\ud800`` escapes can produce and Parquet cannot hold (``invalid_text``).

The same functions serve the bundled sample, a user's own file and the live download
(``ingest/hf_download.py``): rows stream from disk (a JSON array through ``ijson``, since
OpenHermes is one ~0.5 GB array that ``json.load`` would hold in memory several times
over), an optional seeded reservoir sample keeps ``k`` rows without holding the rest, and
rows are written in chunks. The reservoir is hand-written (Algorithm R, a dozen lines):
``datasets``' ``shuffle`` + ``take`` on a stream is a *buffered* shuffle, not a uniform
sample, and its result depends on the shard layout.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from synthlake.ingest.files import InvalidRecord, iter_records

from synthlake.errors import InputFileError
from synthlake.lake import RAW_HF_SCHEMA, Lake, content_hash, now_utc, short_id
from synthlake.rejects import Reject, count_reasons, write_rejects

log = logging.getLogger(__name__)

SHAREGPT_ROLES = ("system", "human", "gpt")
WRITE_CHUNK_ROWS = 50_000
DEFAULT_MAX_FIELD_CHARS = 100_000  # SYNTHLAKE_HF_MAX_FIELD_CHARS
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass(slots=True)
class HFStats:
    read: int = 0
    new: int = 0
    unchanged: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    sampled_out: int = 0  # valid rows the seeded sample left out
    skipped: str | None = None  # why nothing was done (e.g. 'already ingested')
    error: str | None = None  # a dataset-level failure (404, truncated download...)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "read": self.read,
            "new": self.new,
            "unchanged": self.unchanged,
            "rejected": dict(self.rejected),
            "files": list(self.files),
        }
        if self.sampled_out:
            out["sampled_out"] = self.sampled_out
        if self.skipped:
            out["skipped"] = self.skipped
        if self.error:
            out["error"] = self.error
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


@dataclass(slots=True)
class IngestedIds:
    """Every record id (new or already stored) and reject id an import produced: what
    ``IngestLedger`` keeps of a file, to skip it next time while the lake still holds them."""

    records: list[str] = field(default_factory=list)
    rejects: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HFSource:
    """Where rows come from: the dataset id, its revision and the language of its text."""

    dataset: str
    revision: str
    language: str = "en"


def normalize_hf_record(
    record: Mapping[str, Any],
    *,
    source: HFSource,
    source_file: str,
    row_index: int,
    max_field_chars: int | None = DEFAULT_MAX_FIELD_CHARS,
) -> dict[str, Any] | Reject:
    """One dataset row as a raw lake row, or the reason it cannot be one."""
    locator = f"row {row_index + 1}"

    def reject(reason: str, detail: str) -> Reject:
        return Reject(
            "hf",
            source_file,
            locator,
            reason,
            f"{source.dataset} {locator}: {detail}",
            dict(record),
        )

    base = {
        "source_dataset": source.dataset,
        "source_revision": source.revision,
        "source_file": source_file,
        "row_index": row_index,
        "language": source.language,
        "conversations": None,
        "instruction": None,
        "input": None,
        "output": None,
    }
    if "conversations" in record:
        turns = record["conversations"]
        if not isinstance(turns, list) or not turns:
            return reject("empty_conversation", "'conversations' is not a non-empty list")
        clean: list[dict[str, str]] = []
        for number, turn in enumerate(turns, start=1):
            if not isinstance(turn, Mapping) or not isinstance(turn.get("value"), str):
                return reject("malformed_turn", f"turn {number} has no string 'value'")
            role = turn.get("from")
            if role not in SHAREGPT_ROLES:
                return reject("unknown_role", f"turn {number} has role {role!r}")
            if not turn["value"].strip():
                return reject("empty_turn", f"turn {number} ({role}) is empty")
            clean.append({"from": role, "value": turn["value"]})
        roles = [t["from"] for t in clean]
        if "human" not in roles:
            return reject("no_user_turn", "the conversation has no human turn")
        if "gpt" not in roles:
            return reject("no_assistant_turn", "the conversation has no gpt (assistant) turn")
        digest = content_hash(*(f"{t['from']}:{t['value']}" for t in clean))
        row = base | {"shape": "sharegpt", "conversations": clean}
    elif "instruction" in record or "output" in record:
        fields = {}
        for name in ("instruction", "output"):
            value = record.get(name)
            if value is not None and not isinstance(value, str):
                kind = type(value).__name__
                return reject("invalid_field", f"'{name}' is {kind}, expected text")
            if not isinstance(value, str) or not value.strip():
                return reject(f"missing_{name}", f"'{name}' is missing or empty")
            fields[name] = value
        context = record.get("input")
        if context is not None and not isinstance(context, str):
            return reject("malformed_input", "'input' is not a string")
        fields["input"] = context or ""
        digest = content_hash(fields["instruction"], fields["input"], fields["output"])
        row = base | {"shape": "alpaca", **fields}
    else:
        keys = ", ".join(sorted(map(str, record))[:8])
        return reject("unknown_shape", f"neither 'conversations' nor 'instruction' (keys: {keys})")
    for name, text in _texts(row):
        if max_field_chars is not None and len(text) > max_field_chars:
            return reject(
                "too_large",
                f"{name} has {len(text):,} characters, over the cap of {max_field_chars:,} "
                "(SYNTHLAKE_HF_MAX_FIELD_CHARS)",
            )
        if _SURROGATE.search(text):
            return reject("invalid_text", f"{name} holds a lone surrogate (broken UTF-16 escape)")
    row["content_hash"] = digest
    row["record_id"] = short_id(source.dataset, str(row_index), digest)
    return row


def _texts(row: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field name, text) of every text field a row stores."""
    for number, turn in enumerate(row.get("conversations") or [], start=1):
        yield f"turn {number} ({turn['from']})", turn["value"]
    for name in ("instruction", "input", "output"):
        if isinstance(row.get(name), str):
            yield f"'{name}'", row[name]


def iter_hf_records(path: Path) -> Iterator[tuple[str, dict[str, Any] | InvalidRecord]]:
    """``(locator, record)`` of a dataset file, streamed; JSON arrays through ``ijson``.

    A JSON array cut short (a truncated file) yields its complete objects, then one
    ``InvalidRecord('truncated_file')`` for the rest, so the readable rows are kept.
    """
    path = Path(path)
    if path.suffix.lower() == ".json" and path.is_file() and _starts_with_array(path):
        yield from _stream_json_array(path)
        return
    records = iter_records(path)
    if path.suffix.lower() not in (".jsonl", ".ndjson", ".json"):
        yield from records
        return
    # JSON lines: a last line that does not parse and has no newline is a cut-off file.
    previous = None
    for current in records:
        if previous is not None:
            yield previous
        previous = current
    if previous is None:
        return
    locator, record = previous
    cut_off = isinstance(record, InvalidRecord) and record.reason == "invalid_json"
    if cut_off and _no_final_eol(path):
        record = InvalidRecord(
            "truncated_file",
            f"{path}: the file breaks off inside its last line ({locator}); the lines before "
            "it are kept. Re-download the file if it should be complete.",
            record.raw,
        )
    yield locator, record


def _no_final_eol(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(0, 2)
        if handle.tell() == 0:
            return False
        handle.seek(-1, 2)
        return handle.read(1) not in (b"\n", b"\r")


def _starts_with_array(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


def _stream_json_array(path: Path) -> Iterator[tuple[str, dict[str, Any] | InvalidRecord]]:
    import ijson

    number = 0
    try:
        with path.open("rb") as handle:
            for number, record in enumerate(ijson.items(handle, "item", use_float=True), 1):
                if isinstance(record, dict):
                    yield f"row {number}", record
                else:
                    bad = InvalidRecord("not_an_object", f"{path} row {number}", repr(record)[:500])
                    yield f"row {number}", bad
    except ijson.JSONError as exc:  # IncompleteJSONError is a subclass
        where = f"after row {number}" if number else "before the first row"
        yield (
            f"row {number + 1}",
            InvalidRecord(
                "truncated_file",
                f"{path}: the JSON array breaks off {where} ({exc}); the rows before it are "
                "kept. Re-download the file if it should be complete.",
                "",
            ),
        )
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read {path}: {exc}") from exc


def read_hf_file(
    path: Path,
    source: HFSource,
    *,
    source_file: str | None = None,
    max_field_chars: int | None = DEFAULT_MAX_FIELD_CHARS,
) -> Iterator[dict[str, Any] | Reject]:
    """Every row of one file as a raw lake row or a ``Reject``.

    ``source_file`` names the file in rows and rejects (default: the local path; a download
    passes ``hf://datasets/<repo>@<sha>/<file>``).
    """
    source_file = source_file or str(path)
    for row_index, (locator, record) in enumerate(iter_hf_records(path)):
        if isinstance(record, InvalidRecord):
            yield Reject("hf", source_file, locator, record.reason, record.detail, record.raw)
        else:
            yield normalize_hf_record(
                record,
                source=source,
                source_file=source_file,
                row_index=row_index,
                max_field_chars=max_field_chars,
            )


@dataclass(slots=True)
class _SampledOut:
    """Marker at the end of a sampled stream: how many valid rows were left out."""

    count: int


def sample_hf_items(
    items: Iterable[dict[str, Any] | Reject], k: int | None, seed: int | str
) -> Iterator[dict[str, Any] | Reject | _SampledOut]:
    """A uniform random sample of ``k`` valid rows (Algorithm R with a seeded RNG).

    Rejects pass straight through (every bad row is counted, sampled or not). The sample
    holds at most ``k`` rows in memory and comes out in the input's order, so the same
    input, ``k`` and seed always give the same rows. ``k=None`` passes everything.
    """
    if k is None:
        yield from items
        return
    rng = random.Random(str(seed))
    reservoir: list[tuple[int, dict[str, Any]]] = []
    seen = 0
    for item in items:
        if isinstance(item, Reject):
            yield item
            continue
        if seen < k:
            reservoir.append((seen, item))
        else:
            slot = rng.randrange(seen + 1)
            if slot < k:
                reservoir[slot] = (seen, item)
        seen += 1
    reservoir.sort(key=lambda pair: pair[0])
    for _, item in reservoir:
        yield item
    if seen > k:
        yield _SampledOut(seen - k)


def known_record_ids(lake: Lake) -> set[str]:
    """The record ids of every instruction row in the lake."""
    return set(lake.read_raw("hf", columns=["record_id"]).column("record_id").to_pylist())


def store_hf_rows(
    lake: Lake,
    items: Iterable[dict[str, Any] | Reject | _SampledOut],
    *,
    run_id: str,
    chunk_rows: int = WRITE_CHUNK_ROWS,
    known: set[str] | None = None,
    seen: IngestedIds | None = None,
) -> HFStats:
    """Append rows not already in the lake (by record id) and the rejects.

    Rows are written every ``chunk_rows`` so that a full dataset never sits in memory as
    Python objects; a rerun on the same input writes nothing. ``known``: the lake's record
    ids (``known_record_ids``), read here when not given, and updated with the rows
    written; a caller importing many files passes one set to all of them, since reading
    the ids again per file made importing N shards cost N reads of the whole lake.
    ``seen`` collects the record and reject ids of the input (``IngestedIds``).
    """
    lake.ensure()
    if known is None:
        known = known_record_ids(lake)
    now = now_utc()
    stats = HFStats()
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []

    def flush() -> None:
        path = lake.write_raw("hf", pa.Table.from_pylist(rows, schema=RAW_HF_SCHEMA), run_id)
        if path is not None:
            stats.files.append(str(path))
        rows.clear()

    stamp = {"ingested_at": now, "ingest_date": now.date().isoformat(), "run_id": run_id}
    for item in items:
        if isinstance(item, _SampledOut):
            stats.sampled_out += item.count
            continue
        stats.read += 1
        if isinstance(item, Reject):
            rejects.append(item)
            if seen is not None:
                seen.rejects.append(item.reject_id)
            continue
        if seen is not None:
            seen.records.append(item["record_id"])
        if item["record_id"] in known:
            stats.unchanged += 1
        else:
            known.add(item["record_id"])
            stats.new += 1
            rows.append(item | stamp)
            if len(rows) >= chunk_rows:
                flush()
    flush()
    reject_path = write_rejects(lake, rejects, run_id=run_id)
    if reject_path is not None:
        stats.files.append(str(reject_path))
    stats.rejected = count_reasons(rejects)
    return stats


def import_hf_files(
    paths: Sequence[Path],
    lake: Lake,
    source: HFSource,
    *,
    run_id: str,
    source_files: Sequence[str] | None = None,
    sample_rows: int | None = None,
    seed: int | str = 0,
    max_field_chars: int | None = DEFAULT_MAX_FIELD_CHARS,
    known: set[str] | None = None,
    seen: IngestedIds | None = None,
) -> HFStats:
    """Read downloaded dataset files (one dataset) into the lake, optionally sampled.

    The sample is drawn over all the files together, seeded by ``seed`` and the dataset's
    id and revision, so each dataset gets its own reproducible sample. ``known``, ``seen``:
    see ``store_hf_rows``.
    """
    names = list(source_files) if source_files is not None else [str(p) for p in paths]
    if len(names) != len(paths):
        raise ValueError("source_files must name every path")

    def items() -> Iterator[dict[str, Any] | Reject]:
        for path, name in zip(paths, names, strict=True):
            yield from read_hf_file(
                Path(path), source, source_file=name, max_field_chars=max_field_chars
            )

    stream = sample_hf_items(items(), sample_rows, f"{seed}:{source.dataset}@{source.revision}")
    stats = store_hf_rows(lake, stream, run_id=run_id, known=known, seen=seen)
    log.info(
        "hf %s@%s: read %d, new %d, unchanged %d, sampled out %d, rejected %s",
        source.dataset,
        source.revision,
        stats.read,
        stats.new,
        stats.unchanged,
        stats.sampled_out,
        stats.rejected or 0,
    )
    if stats.read == 0 and not stats.sampled_out:
        stats.warnings.append(f"{', '.join(names)}: 0 rows read (an empty file?)")
        log.warning("hf %s: %s", source.dataset, stats.warnings[-1])
    return stats


def import_hf_file(
    path: Path,
    lake: Lake,
    source: HFSource,
    *,
    run_id: str,
    sample_rows: int | None = None,
    seed: int | str = 0,
    max_field_chars: int | None = DEFAULT_MAX_FIELD_CHARS,
    known: set[str] | None = None,
    seen: IngestedIds | None = None,
) -> HFStats:
    """Read one downloaded dataset file (JSONL, JSON array or Parquet) into the lake."""
    return import_hf_files(
        [Path(path)],
        lake,
        source,
        run_id=run_id,
        sample_rows=sample_rows,
        seed=seed,
        max_field_chars=max_field_chars,
        known=known,
        seen=seen,
    )

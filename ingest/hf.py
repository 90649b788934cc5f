"""Instruction datasets (SlimOrca, OpenHermes and anything of the same shapes) into lake/raw/hf.

This is the part of the Hugging Face ingest that runs after the files are on disk: read
each row, check it has the shape it claims, and store it *in its own shape* (ShareGPT
``conversations`` or alpaca-style ``instruction``/``input``/``output``). Mapping roles to a
unified schema happens in dbt (``stg_hf__instructions``) so it stays queryable and tested.

A row that cannot be used (no assistant turn, a missing field, an unknown role) is a
counted reject with its reason; the rest of the file goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ingest.files import InvalidRecord, iter_records
from synthlake.lake import RAW_HF_SCHEMA, Lake, content_hash, now_utc, short_id
from synthlake.rejects import Reject, count_reasons, write_rejects

SHAREGPT_ROLES = ("system", "human", "gpt")


@dataclass(slots=True)
class HFStats:
    read: int = 0
    new: int = 0
    unchanged: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "read": self.read,
            "new": self.new,
            "unchanged": self.unchanged,
            "rejected": dict(self.rejected),
            "files": list(self.files),
        }


@dataclass(frozen=True, slots=True)
class HFSource:
    """Where rows come from: the dataset id, its revision and the language of its text."""

    dataset: str
    revision: str
    language: str = "en"


def normalize_hf_record(
    record: Mapping[str, Any], *, source: HFSource, source_file: str, row_index: int
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
    row["content_hash"] = digest
    row["record_id"] = short_id(source.dataset, str(row_index), digest)
    return row


def read_hf_file(path: Path, source: HFSource) -> Iterator[dict[str, Any] | Reject]:
    source_file = str(path)
    for row_index, (locator, record) in enumerate(iter_records(path)):
        if isinstance(record, InvalidRecord):
            yield Reject("hf", source_file, locator, record.reason, record.detail, record.raw)
        else:
            yield normalize_hf_record(
                record, source=source, source_file=source_file, row_index=row_index
            )


def store_hf_rows(lake: Lake, items: Iterable[dict[str, Any] | Reject], *, run_id: str) -> HFStats:
    """Append rows not already in the lake (by record id) and the rejects."""
    lake.ensure()
    known = set(lake.read_raw("hf", columns=["record_id"]).column("record_id").to_pylist())
    now = now_utc()
    stats = HFStats()
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for item in items:
        stats.read += 1
        if isinstance(item, Reject):
            rejects.append(item)
        elif item["record_id"] in known:
            stats.unchanged += 1
        else:
            known.add(item["record_id"])
            stats.new += 1
            rows.append(
                item | {"ingested_at": now, "ingest_date": now.date().isoformat(), "run_id": run_id}
            )
    path = lake.write_raw("hf", pa.Table.from_pylist(rows, schema=RAW_HF_SCHEMA), run_id)
    if path is not None:
        stats.files.append(str(path))
    reject_path = write_rejects(lake, rejects, run_id=run_id)
    if reject_path is not None:
        stats.files.append(str(reject_path))
    stats.rejected = count_reasons(rejects)
    return stats


def import_hf_file(path: Path, lake: Lake, source: HFSource, *, run_id: str) -> HFStats:
    """Read one downloaded dataset file (JSONL, JSON array or Parquet) into the lake."""
    return store_hf_rows(lake, read_hf_file(Path(path), source), run_id=run_id)

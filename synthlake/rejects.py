"""Rejected rows: kept with a reason and counted, never silently dropped (datatrove's pattern)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from synthlake.lake import RAW_REJECTS_SCHEMA, Lake, now_utc, short_id

RAW_PREVIEW_CHARS = 4000


@dataclass(slots=True)
class Reject:
    """One input row an ingest refused."""

    domain: str
    source: str
    locator: str
    reason: str
    detail: str
    raw: Any = None

    def raw_json(self) -> str:
        try:
            text = json.dumps(self.raw, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(self.raw)
        # Lone surrogates from undecodable input cannot go into Parquet as UTF-8.
        return text[:RAW_PREVIEW_CHARS].encode("utf-8", "replace").decode("utf-8")

    @property
    def reject_id(self) -> str:
        return short_id(self.domain, self.source, self.locator, self.reason, self.raw_json())


def rejects_table(rejects: Iterable[Reject], *, run_id: str, now: datetime) -> pa.Table:
    rows = [
        {
            "reject_id": r.reject_id,
            "domain": r.domain,
            "source": r.source,
            "locator": r.locator,
            "reason": r.reason,
            "detail": r.detail,
            "raw": r.raw_json(),
            "ingested_at": now,
            "ingest_date": now.date().isoformat(),
            "run_id": run_id,
        }
        for r in rejects
    ]
    return pa.Table.from_pylist(rows, schema=RAW_REJECTS_SCHEMA)


def known_reject_ids(lake: Lake) -> set[str]:
    """The ids of every reject recorded in the lake."""
    return set(lake.read_raw("rejects", columns=["reject_id"]).column("reject_id").to_pylist())


def write_rejects(lake: Lake, rejects: list[Reject], *, run_id: str) -> Path | None:
    """Append the rejects not already recorded (a rerun on the same input adds nothing)."""
    known = known_reject_ids(lake)
    fresh: dict[str, Reject] = {}
    for reject in rejects:
        if reject.reject_id not in known:
            fresh.setdefault(reject.reject_id, reject)
    return lake.write_raw(
        "rejects", rejects_table(fresh.values(), run_id=run_id, now=now_utc()), run_id
    )


def count_reasons(rejects: Iterable[Reject]) -> dict[str, int]:
    return dict(Counter(r.reason for r in rejects))

"""Reading record files (JSONL, JSON arrays, CSV, Parquet) as a stream of (locator, record).

A file that cannot be opened at all is an :class:`InputFileError`; a single bad line inside
a readable file is yielded as an ``InvalidRecord`` so the caller can reject that row alone
and keep the rest.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from synthlake.errors import InputFileError

SUPPORTED = (".jsonl", ".ndjson", ".json", ".csv", ".parquet")


@dataclass(slots=True)
class InvalidRecord:
    reason: str
    detail: str
    raw: str


def iter_records(path: Path) -> Iterator[tuple[str, dict[str, Any] | InvalidRecord]]:
    """Yield ``(locator, record)``; locator is 'line N' or 'row N' (1-based)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"input file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise InputFileError(f"{path}: unsupported file type {suffix!r}; use one of {SUPPORTED}")
    try:
        if suffix == ".parquet":
            yield from _parquet(path)
        elif suffix == ".csv":
            yield from _csv(path)
        elif suffix == ".json" and _starts_with_array(path):
            yield from _json_array(path)
        else:
            yield from _jsonl(path)
    except (OSError, pa.ArrowException, csv.Error) as exc:
        raise InputFileError(f"cannot read {path}: {exc}") from exc


def _starts_with_array(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def _jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any] | InvalidRecord]]:
    with path.open("rb") as handle:
        for number, raw_line in enumerate(handle, start=1):
            locator = f"line {number}"
            if not raw_line.strip():
                continue
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as exc:
                text = raw_line.decode("utf-8", "replace")
                yield locator, InvalidRecord("invalid_utf8", f"{path}:{number}: {exc}", text)
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield locator, InvalidRecord("invalid_json", f"{path}:{number}: {exc}", line)
                continue
            if not isinstance(record, dict):
                yield (
                    locator,
                    InvalidRecord(
                        "not_an_object", f"{path}:{number}: a JSON {type(record).__name__}", line
                    ),
                )
                continue
            yield locator, record


def _json_array(path: Path) -> Iterator[tuple[str, dict[str, Any] | InvalidRecord]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path} is not a valid JSON array: {exc}") from exc
    for number, record in enumerate(data, start=1):
        locator = f"row {number}"
        if isinstance(record, dict):
            yield locator, record
        else:
            raw = json.dumps(record, ensure_ascii=False)[:500]
            yield locator, InvalidRecord("not_an_object", f"{path} {locator}", raw)


def _csv(path: Path) -> Iterator[tuple[str, dict[str, Any] | InvalidRecord]]:
    """CSV records, decoded line by line so that one bad byte costs its record, not the file.

    A record (which may span lines inside quotes) with a line that is not UTF-8 is an
    ``invalid_utf8`` InvalidRecord at its first line, as for JSON lines.
    """
    bad_lines: dict[int, UnicodeDecodeError] = {}
    with path.open("rb") as handle:
        reader = csv.reader(_decoded_lines(handle, bad_lines))
        header = next(reader, None)
        if header is None:
            return
        header = [name.strip() for name in header]
        start = reader.line_num + 1
        for values in reader:
            end = reader.line_num
            locator = f"line {start}"
            broken = [n for n in range(start, end + 1) if n in bad_lines]
            if broken:
                first = broken[0]
                raw = ",".join(values)
                detail = (
                    f"{path}:{first}: not UTF-8 ({bad_lines[first]}); re-save the file as "
                    "UTF-8 (it may be Latin-1/Windows-1252)"
                )
                yield locator, InvalidRecord("invalid_utf8", detail, raw)
            elif any(v.strip() for v in values):
                yield locator, dict(zip(header, values, strict=False))
            start = end + 1


def _decoded_lines(handle: Any, bad_lines: dict[int, UnicodeDecodeError]) -> Iterator[str]:
    """The file's lines as text; a line that is not UTF-8 is decoded with U+FFFD and noted."""
    for number, raw in enumerate(handle, start=1):
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad_lines[number] = exc
            yield raw.decode("utf-8", "replace")


def csv_columns(path: Path) -> list[str] | None:
    """The header of a CSV file (None when the file is empty)."""
    with Path(path).open("rb") as handle:
        first = handle.readline().removeprefix(b"\xef\xbb\xbf")
    if not first.strip():
        return None
    row = next(csv.reader([first.decode("utf-8", "replace")]), [])
    return [name.strip() for name in row]


def _parquet(path: Path) -> Iterator[tuple[str, dict[str, Any] | InvalidRecord]]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputFileError(f"{path} is not a readable Parquet file: {exc}") from exc
    number = 0
    for batch in parquet.iter_batches(batch_size=4096):
        for record in batch.to_pylist():
            number += 1
            yield f"row {number}", record

"""The ingest ledger (``ingest/ledger.py``): a folder's instruction file the lake already
holds whole is not read again, and is read again whenever reading it could add something.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from synthlake.ingest.folder import ingest_folder
from synthlake.ingest.ledger import LEDGER_DIR

from synthlake.lake import Lake
from synthlake.settings import load_settings

ROWS = [
    {"instruction": "Name a colour", "input": "", "output": "Blue"},
    {"instruction": "Add them all", "input": "2 and 3, " * 150, "output": "1 250"},
    {"instruction": "No answer", "input": ""},  # a reject (missing_output)
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    root.mkdir()
    (root / "a.json").write_text(json.dumps(ROWS))
    (root / "b.json").write_text(json.dumps([{"instruction": "Say hi", "output": "Hi"}]))
    (root / "manifest.toml").write_text(
        '[[hf]]\ndataset = "teknium/openhermes"\nrevision = "r"\nfiles = ["a.json", "b.json"]\n'
    )
    return root


def ingest(folder: Path, lake: Lake, run_id: str, **overrides: object) -> dict:
    return ingest_folder(
        folder, lake, load_settings(lake_root=lake.root, **overrides), run_id=run_id
    )["hf"]


def test_an_unchanged_file_is_not_read_again(folder: Path, lake: Lake) -> None:
    first = ingest(folder, lake, "r1")
    assert (first["a.json"].read, first["a.json"].new) == (3, 2)
    again = ingest(folder, lake, "r2")
    for name, rows in (("a.json", 2), ("b.json", 1)):
        stats = again[name]
        assert (stats.read, stats.new, stats.unchanged) == (0, 0, rows)
        assert stats.skipped == f"not read: the lake holds its {rows} rows since run r1"
    assert lake.read_raw("hf").num_rows == 3
    assert lake.read_raw("rejects").num_rows == 1


def test_an_edited_file_is_read_and_its_new_row_stored(folder: Path, lake: Lake) -> None:
    ingest(folder, lake, "r1")
    edited = [*ROWS[:2], {"instruction": "Name a fruit", "input": "", "output": "Pear"}]
    (folder / "a.json").write_text(json.dumps(edited))
    again = ingest(folder, lake, "r2")
    assert (again["a.json"].read, again["a.json"].new, again["a.json"].unchanged) == (3, 1, 2)
    assert again["b.json"].read == 0  # the other file is still skipped
    assert lake.read_raw("hf").num_rows == 4


def test_a_lost_raw_part_makes_the_file_read_and_its_rows_stored_again(
    folder: Path, lake: Lake
) -> None:
    first = ingest(folder, lake, "r1")
    parts = [Path(p) for p in first["a.json"].files if "/hf/" in p]
    assert parts
    for part in parts:
        part.unlink()
    again = ingest(folder, lake, "r2")
    assert (again["a.json"].read, again["a.json"].new) == (3, 2)
    assert again["b.json"].read == 0
    assert lake.read_raw("hf").num_rows == 3


def test_a_lost_reject_makes_the_file_read_and_the_reject_recorded_again(
    folder: Path, lake: Lake
) -> None:
    first = ingest(folder, lake, "r1")
    for part in first["a.json"].files:
        if "/rejects/" in part:
            Path(part).unlink()
    assert lake.read_raw("rejects").num_rows == 0
    again = ingest(folder, lake, "r2")
    assert (again["a.json"].read, again["a.json"].rejected) == (3, {"missing_output": 1})
    assert lake.read_raw("rejects").num_rows == 1


def test_another_field_cap_reads_every_file_again(folder: Path, lake: Lake) -> None:
    ingest(folder, lake, "r1")
    again = ingest(folder, lake, "r2", hf_max_field_chars=1000)
    assert again["a.json"].read == 3 and again["b.json"].read == 1
    assert again["a.json"].rejected == {"missing_output": 1, "too_large": 1}  # the long input


def test_an_unreadable_ledger_entry_is_named_and_the_file_read(
    folder: Path, lake: Lake, caplog: pytest.LogCaptureFixture
) -> None:
    ingest(folder, lake, "r1")
    for entry in (lake.cache / LEDGER_DIR).glob("*.parquet"):
        entry.write_bytes(b"not parquet")
    with caplog.at_level(logging.WARNING):
        again = ingest(folder, lake, "r2")
    assert again["a.json"].read == 3 and again["a.json"].new == 0
    assert "unreadable" in caplog.text and LEDGER_DIR in caplog.text

"""The ingest ledger (``ingest/ledger.py``): a folder's instruction file the lake already
holds whole is not read again, and is read again whenever reading it could add something.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
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


def entries(lake: Lake) -> dict[str, str]:
    """Each ledger entry's name and the file it names (None: written before entries did)."""
    found = {}
    for path in (lake.cache / LEDGER_DIR).glob("*.parquet"):
        meta = json.loads(pq.read_schema(path).metadata[b"synthlake"])
        found[path.name] = meta.get("file")
    return found


def test_the_ledger_keeps_one_entry_per_file_however_often_it_changes(
    folder: Path, lake: Lake
) -> None:
    ingest(folder, lake, "r1")
    first = entries(lake)
    assert len(first) == 2 and len(set(first.values())) == 2
    (b_entry,) = [name for name, file in first.items() if "b.json" in file]
    for day in range(3):  # a.json edited daily: one new row each time
        rows = [*ROWS, {"instruction": f"Day {day}", "input": "", "output": f"Answer {day}"}]
        (folder / "a.json").write_text(json.dumps(rows))
        assert ingest(folder, lake, f"d{day}")["a.json"].new == 1
    now = entries(lake)
    assert len(now) == 2 and b_entry in now  # b.json's entry untouched
    assert sorted(now.values()) == sorted(first.values())
    # the surviving entry is the last import's: the unchanged file is skipped again
    assert ingest(folder, lake, "r5")["a.json"].read == 0


def test_another_field_cap_supersedes_the_entries_it_re_keys(folder: Path, lake: Lake) -> None:
    ingest(folder, lake, "r1")
    before = set(entries(lake))
    ingest(folder, lake, "r2", hf_max_field_chars=1000)
    after = entries(lake)
    assert len(after) == 2 and not before & set(after)


def test_an_entry_that_names_no_file_is_left_alone(folder: Path, lake: Lake) -> None:
    ingest(folder, lake, "r1")
    legacy = lake.cache / LEDGER_DIR / "0123456789abcdef0123456789abcdef.parquet"
    table = pa.table({"kind": ["row"], "id": ["x"]})
    pq.write_table(
        table.replace_schema_metadata({"synthlake": json.dumps({"run_id": "r0"})}), legacy
    )
    (folder / "a.json").write_text(json.dumps(ROWS[:1]))
    ingest(folder, lake, "r2")
    assert legacy.is_file() and len(entries(lake)) == 3

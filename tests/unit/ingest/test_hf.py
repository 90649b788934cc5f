from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.hf import HFSource, import_hf_file, normalize_hf_record
from synthlake.lake import Lake
from synthlake.rejects import Reject

SOURCE = HFSource("Open-Orca/SlimOrca", "abc123")


def norm(record: dict) -> dict | Reject:
    return normalize_hf_record(record, source=SOURCE, source_file="f.jsonl", row_index=4)


def turn(role: str, value: str) -> dict:
    return {"from": role, "value": value, "weight": None}


def test_sharegpt_row_is_kept_in_its_shape() -> None:
    row = norm({"conversations": [turn("system", "S"), turn("human", "Q"), turn("gpt", "A")]})
    assert row["shape"] == "sharegpt"
    assert row["conversations"] == [
        {"from": "system", "value": "S"},
        {"from": "human", "value": "Q"},
        {"from": "gpt", "value": "A"},
    ]
    assert row["source_dataset"] == "Open-Orca/SlimOrca" and row["source_revision"] == "abc123"
    assert row["row_index"] == 4


def test_alpaca_row_keeps_its_input() -> None:
    row = norm({"instruction": "Summarize", "input": "A long text.", "output": "Short."})
    assert (row["shape"], row["instruction"], row["input"], row["output"]) == (
        "alpaca",
        "Summarize",
        "A long text.",
        "Short.",
    )


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"conversations": [turn("system", "S"), turn("human", "Q")]}, "no_assistant_turn"),
        ({"conversations": [turn("system", "S"), turn("gpt", "A")]}, "no_user_turn"),
        ({"conversations": [turn("human", "Q"), turn("bot", "A")]}, "unknown_role"),
        ({"conversations": [turn("human", "Q"), turn("gpt", "  ")]}, "empty_turn"),
        ({"conversations": []}, "empty_conversation"),
        ({"conversations": [{"from": "human"}]}, "malformed_turn"),
        ({"instruction": "Do it", "input": ""}, "missing_output"),
        ({"output": "Done"}, "missing_instruction"),
        ({"instruction": "Do", "input": 3, "output": "x"}, "malformed_input"),
        ({"text": "hello"}, "unknown_shape"),
    ],
)
def test_unusable_rows_are_rejected_with_a_reason(record: dict, reason: str) -> None:
    result = norm(record)
    assert isinstance(result, Reject)
    assert result.reason == reason
    assert "Open-Orca/SlimOrca row 5" in result.detail


def test_same_content_same_id_different_rows_different_ids() -> None:
    record = {"instruction": "Q", "output": "A"}
    a = normalize_hf_record(record, source=SOURCE, source_file="f", row_index=1)
    b = normalize_hf_record(record, source=SOURCE, source_file="f", row_index=1)
    c = normalize_hf_record(record, source=SOURCE, source_file="f", row_index=2)
    assert a["record_id"] == b["record_id"] != c["record_id"]
    assert a["content_hash"] == c["content_hash"]


def test_import_is_incremental_and_counts_drops(tmp_path: Path, lake: Lake) -> None:
    path = tmp_path / "oh.json"
    rows = [
        {"instruction": "Name a colour", "input": "", "output": "Blue"},
        {"instruction": "Add", "input": "2 and 3", "output": "5"},
        {"instruction": "No answer", "input": ""},
    ]
    path.write_text(json.dumps(rows))
    source = HFSource("teknium/openhermes", "rev1")
    first = import_hf_file(path, lake, source, run_id="r1")
    assert (first.read, first.new, first.rejected) == (3, 2, {"missing_output": 1})
    second = import_hf_file(path, lake, source, run_id="r2")
    assert (second.new, second.unchanged) == (0, 2)
    assert lake.read_raw("hf").num_rows == 2
    assert lake.read_raw("rejects").num_rows == 1  # the same reject is not recorded twice

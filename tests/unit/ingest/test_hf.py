from __future__ import annotations

import json
from pathlib import Path

import pytest
from synthlake.ingest.hf import (
    HFSource,
    import_hf_file,
    normalize_hf_record,
    sample_hf_items,
    store_hf_rows,
)

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


def rows_of(n: int) -> list[dict]:
    return [
        normalize_hf_record(
            {"instruction": f"Q{i}", "output": f"A{i}"}, source=SOURCE, source_file="f", row_index=i
        )
        for i in range(n)
    ]


def test_sample_is_seeded_ordered_and_passes_rejects_through() -> None:
    bad = Reject("hf", "f", "row 3", "missing_output", "d")
    items = [*rows_of(2), bad, *rows_of(8)[2:]]
    first = list(sample_hf_items(items, 3, seed=5))
    assert first[0] is bad  # rejects come out as they stream by
    kept = [i for i in first if isinstance(i, dict)]
    assert [r["row_index"] for r in kept] == sorted(r["row_index"] for r in kept)
    assert len(kept) == 3
    again = [i for i in sample_hf_items(items, 3, seed=5) if isinstance(i, dict)]
    assert again == kept
    assert list(sample_hf_items(items, None, seed=5)) == items


def test_sample_is_uniform_not_the_first_rows() -> None:
    n, k, trials = 10, 3, 3000
    counts = [0] * n
    rows = rows_of(n)
    for seed in range(trials):
        for item in sample_hf_items(rows, k, seed=seed):
            if isinstance(item, dict):
                counts[item["row_index"]] += 1
    # every row is picked with probability k/n = 0.3 (binomial sd ~0.008 over 3000 trials)
    assert all(abs(c / trials - k / n) < 0.04 for c in counts), counts


def test_store_writes_in_chunks(lake: Lake) -> None:
    stats = store_hf_rows(lake, rows_of(7), run_id="r1", chunk_rows=3)
    assert stats.new == 7
    assert len([f for f in stats.files if "/hf/" in f]) == 3  # 3 + 3 + 1
    assert lake.read_raw("hf").num_rows == 7


@pytest.mark.parametrize(
    ("text", "kept", "reason"),
    [
        ('[{"instruction": "a", "output": "b"}, {"instruction": "c", "out', 1, "truncated_file"),
        ('[{"instruction": "a", "output": "b"}, 5]', 1, "not_an_object"),
        ("[]", 0, None),
    ],
)
def test_json_arrays_stream_and_a_cut_keeps_what_came_before(
    tmp_path: Path, lake: Lake, text: str, kept: int, reason: str | None
) -> None:
    path = tmp_path / "oh.json"
    path.write_text(text)
    stats = import_hf_file(path, lake, SOURCE, run_id="r1")
    assert stats.new == kept
    assert stats.rejected == ({reason: 1} if reason else {})


def test_jsonl_cut_inside_the_last_line_is_named_truncated(tmp_path: Path, lake: Lake) -> None:
    path = tmp_path / "slim.jsonl"
    good = json.dumps({"conversations": [turn("human", "Q"), turn("gpt", "A")]})
    path.write_text(good + "\n" + '{"not json\n' + good[:30])
    stats = import_hf_file(path, lake, SOURCE, run_id="r1")
    assert stats.new == 1
    assert stats.rejected == {"invalid_json": 1, "truncated_file": 1}


# --- rows that cannot be stored are rejected, never crash the import -------------------------


def test_a_lone_surrogate_rejects_its_row_and_the_file_goes_on(tmp_path: Path, lake: Lake) -> None:
    good = {"conversations": [turn("human", "Q"), turn("gpt", "A")]}
    path = tmp_path / "s.jsonl"
    path.write_text(
        json.dumps(good)
        + "\n"
        + '{"conversations": [{"from": "human", "value": "\\ud800 Q"}, '
        + '{"from": "gpt", "value": "A2"}]}\n'
        + json.dumps({"instruction": "Do", "output": "Done"})
        + "\n"
    )
    stats = import_hf_file(path, lake, SOURCE, run_id="r1")
    assert (stats.read, stats.new, stats.rejected) == (3, 2, {"invalid_text": 1})
    (reject,) = lake.read_raw("rejects").to_pylist()
    assert reject["locator"] == "row 2" and "turn 1" in reject["detail"]


@pytest.mark.parametrize(
    ("record", "reason", "named"),
    [
        ({"instruction": 5, "output": "x"}, "invalid_field", "'instruction'"),
        ({"instruction": "Do", "output": {"a": 1}}, "invalid_field", "'output'"),
        ({"instruction": "Do", "output": "x" * 2_001}, "too_large", "'output'"),
        (
            {"conversations": [turn("human", "Q"), turn("gpt", "y" * 2_001)]},
            "too_large",
            "turn 2 (gpt)",
        ),
    ],
)
def test_wrong_types_and_oversized_fields_are_rejected(
    record: dict, reason: str, named: str
) -> None:
    result = normalize_hf_record(
        record, source=SOURCE, source_file="f.jsonl", row_index=0, max_field_chars=2_000
    )
    assert isinstance(result, Reject)
    assert result.reason == reason and named in result.detail


def test_the_default_field_cap_rejects_a_huge_answer(tmp_path: Path, lake: Lake) -> None:
    path = tmp_path / "big.jsonl"
    rows = [
        {"instruction": "Ok", "output": "fine"},
        {"instruction": "Long", "output": "z" * 2_000_000},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stats = import_hf_file(path, lake, SOURCE, run_id="r1")
    assert (stats.new, stats.rejected) == (1, {"too_large": 1})


def test_an_empty_file_warns(tmp_path: Path, lake: Lake) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    stats = import_hf_file(path, lake, SOURCE, run_id="r1")
    assert stats.read == 0 and any("0 rows read" in w for w in stats.warnings)


def test_a_manifest_of_shards_reads_the_lakes_ids_once_and_still_skips_known_rows(
    tmp_path: Path, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthlake.ingest import folder as folder_module
    from synthlake.ingest.folder import ingest_folder

    from synthlake.settings import load_settings

    rows = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(6)]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "s0.json").write_text(json.dumps(rows[:4]))
    # a re-published shard: the same first 4 rows (same content at the same index: the
    # same record ids), then 2 new ones
    (tmp_path / "in" / "s1.json").write_text(json.dumps(rows))
    (tmp_path / "in" / "manifest.toml").write_text(
        '[[hf]]\ndataset = "teknium/openhermes"\nrevision = "r"\nfiles = ["s0.json", "s1.json"]\n'
    )
    settings = load_settings(lake_root=lake.root)
    reads = []
    real = folder_module.known_record_ids
    monkeypatch.setattr(folder_module, "known_record_ids", lambda lk: reads.append(1) or real(lk))

    first = ingest_folder(tmp_path / "in", lake, settings, run_id="r1")["hf"]
    assert [(s.new, s.unchanged) for s in first.values()] == [(4, 0), (2, 4)]
    again = ingest_folder(tmp_path / "in", lake, settings, run_id="r2")["hf"]
    assert [(s.new, s.unchanged) for s in again.values()] == [(0, 4), (0, 6)]
    assert lake.read_raw("hf").num_rows == 6
    assert len(reads) == 2  # once per ingest, not once per shard

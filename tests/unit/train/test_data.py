"""Reading the training export: the contract, and bad input named by file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synthlake.train.data import TrainingDataError, filter_by_score, read_export, snapshot_id

from tests.fixtures.training_export import row, write_export


def test_reads_every_split_with_the_manifest_snapshot(tmp_path: Path) -> None:
    export = read_export(write_export(tmp_path / "training"))
    assert {k: len(v) for k, v in export.splits.items()} == {
        "train": 6,
        "validation": 2,
        "eval": 5,
    }
    assert export.snapshot_id == "snap-test-1"
    news = {r.id: r for r in export.split("eval")}["news-it-e1"]
    assert news.domain == "news" and len(news.sources) == 2
    assert news.reference.startswith("A Borgoverde")
    assert news.prompt_messages == [
        {"role": "user", "content": "Riassumi le notizie seguenti in un paragrafo."}
    ]
    languages = {r.language for rows in export.splits.values() for r in rows}
    assert languages == {"en", "it", "fr", "de"}


def test_snapshot_falls_back_to_a_hash_of_the_files(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "training")
    (folder / "manifest.json").unlink()
    first = snapshot_id(folder)
    assert first.startswith("sha256:") and first == snapshot_id(folder)
    with (folder / "train.jsonl").open("a") as handle:
        handle.write(json.dumps(row("en-9", "Q?", "A.")) + "\n")
    assert snapshot_id(folder) != first


def test_missing_folder_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="no training export at .*synthlake export"):
        read_export(tmp_path / "absent")


def test_missing_required_split(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "training")
    (folder / "eval.jsonl").unlink()
    assert "eval" not in read_export(folder).splits  # not needed for training
    with pytest.raises(TrainingDataError, match="has no eval.jsonl"):
        read_export(folder, splits=("eval",), required=("eval",))


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "train.jsonl:2: not valid JSON"),
        ("[1, 2]", "train.jsonl:2: a row must be a JSON object"),
        (
            json.dumps({**row("x-1", "Q", "A"), "messages": [{"role": "robot", "content": "hi"}]}),
            "train.jsonl:2 (id 'x-1'): messages.0.role",
        ),
        (
            json.dumps({**row("x-2", "Q", "A"), "messages": [{"role": "user", "content": "Q"}]}),
            "train.jsonl:2 (id 'x-2'): messages: no assistant message with content",
        ),
        (
            json.dumps({k: v for k, v in row("x-3", "Q", "A").items() if k != "language"}),
            "train.jsonl:2 (id 'x-3'): language: Field required",
        ),
        (json.dumps({**row("x-4", "Q", "A"), "domain": "poetry"}), "domain"),
        (json.dumps(row("en-1", "Q", "A")), "train.jsonl:2: id 'en-1' repeats line 1"),
        (json.dumps(row("x-5", "Q", "A", split="eval")), "rows say another split"),
    ],
)
def test_malformed_line_is_named_with_file_and_line(
    tmp_path: Path, bad_line: str, message: str
) -> None:
    folder = write_export(tmp_path / "training", [row("en-1", "Q?", "A.")])
    with (folder / "train.jsonl").open("a") as handle:
        handle.write(bad_line + "\n")
    with pytest.raises(TrainingDataError) as info:
        read_export(folder)
    assert message in str(info.value)
    assert str(folder / "train.jsonl") in str(info.value)


def test_blank_lines_are_fine_and_empty_train_is_not(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "training", [row("en-1", "Q?", "A.")])
    with (folder / "train.jsonl").open("a") as handle:
        handle.write("\n\n")
    assert len(read_export(folder).split("train")) == 1
    empty = write_export(tmp_path / "empty", [row("e-1", "Q?", "A.", split="eval")])
    with pytest.raises(TrainingDataError, match="the train split of .* is empty"):
        read_export(empty)


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (None, {"a", "b", "c", "d"}),
        (0, {"a", "b", "c", "d"}),  # t=0: everything, unscored rows included
        (3, {"a", "b"}),
        (4.5, {"a"}),
        (5.1, set()),
    ],
)
def test_filter_by_score(tmp_path: Path, threshold: float | None, expected: set[str]) -> None:
    rows = [
        row("a", "Q", "A", judge_score=5.0),
        row("b", "Q", "A", judge_score=3.0),
        row("c", "Q", "A", judge_score=2.5),
        row("d", "Q", "A", judge_score=None),
    ]
    export = read_export(write_export(tmp_path / "t", rows))
    assert {r.id for r in filter_by_score(export.split("train"), threshold)} == expected

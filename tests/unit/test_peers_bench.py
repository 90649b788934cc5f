"""bench/peers/dedup.py: the labelled inputs and the scoring every tool is judged by.

The peer tools themselves live in their own venv (bench/peers/requirements.txt) and are
not tested here; what is, is what makes the comparison fair: every tool gets exactly the
rows ``bench/hf_dedup.py`` generates, each with the right label, and a tool that keeps a
planted duplicate instead of its original is credited like one that keeps the original.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

peers = importlib.import_module("bench.peers.dedup")


def test_the_labelled_rows_are_hf_dedups_rows_with_the_right_labels(
    capsys: pytest.CaptureFixture[str],
) -> None:
    peers.check_generator(3_000)  # raises if a row, a label or a source is off
    assert "identical to bench/hf_dedup.py's" in capsys.readouterr().out
    rows = list(peers.labelled_rows(3_000))
    for user, assistant, label, source in rows:
        original = rows[source]
        if label == "e":  # the compared text is the original's, exactly
            assert peers.normalize(user, assistant) == peers.normalize(*original[:2])
        elif label == "n":  # one word of the answer changed
            assert peers.normalize(user, assistant) != peers.normalize(*original[:2])
            assert user == original[0]


def _score(tmp_path: Path, kinds: str, sources: list[int], removed: list[int]) -> dict:
    (tmp_path / "removed.txt").write_text("\n".join(map(str, removed)))
    return peers.score({"kind": kinds, "source": sources}, tmp_path / "removed.txt")


def test_keeping_a_duplicate_instead_of_its_original_is_no_false_positive(
    tmp_path: Path,
) -> None:
    # rows: 0 original, 1 exact of 0, 2 near of 0, 3 original (alone), 4 near of 3
    kinds, sources = "oenon", [0, 0, 0, 3, 3]
    # datatrove-like: drops the original 0 and the exact duplicate, keeps the near one
    assert _score(tmp_path, kinds, sources, [0, 1, 4]) == {
        "exact_recall": 1.0,
        "near_recall": 1.0,
        "false_positives": 0,
        "removed": 3,
    }
    # the near duplicate 4 missed; the whole group of 0 dropped: one false positive
    assert _score(tmp_path, kinds, sources, [0, 1, 2]) == {
        "exact_recall": 1.0,
        "near_recall": 0.5,
        "false_positives": 1,
        "removed": 3,
    }


def test_the_synthlake_child_runs_the_real_dedup_step(tmp_path: Path) -> None:
    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir()
    out.mkdir()
    peers.child_generate(work, 2_000)
    labels = json.loads((work / "labels.json").read_text())
    result = peers.child_synthlake(work, out)
    scored = peers.score(labels, out / "removed.txt")
    assert result["rows"] == 2_000
    assert scored["exact_recall"] == 1.0 and scored["false_positives"] == 0
    assert scored["near_recall"] > 0.9

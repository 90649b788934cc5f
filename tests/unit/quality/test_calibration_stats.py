"""The statistics of the calibration report, against values computed by hand, and the
labelled set itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthlake.errors import SettingsError
from synthlake.quality.calibration import (
    Agreement,
    cohen_kappa,
    load_items,
    pearson,
    spearman,
    threshold_table,
)
from synthlake.quality.judge import load_dimensions
from synthlake.settings import PROJECT_DIR

LABELLED = PROJECT_DIR / "tests" / "fixtures" / "judge_calibration.jsonl"


def test_cohen_kappa_by_hand() -> None:
    # 2x2 table (categories 0 and 5): agree on 3 zeros and 2 fives, disagree twice.
    a = [0, 0, 0, 5, 5, 0, 5]
    b = [0, 0, 0, 5, 5, 5, 0]
    # po = 5/7; pe = (4/7 * 4/7) + (3/7 * 3/7) = 25/49; kappa = (po - pe) / (1 - pe)
    po, pe = 5 / 7, 25 / 49
    assert cohen_kappa(a, b) == pytest.approx((po - pe) / (1 - pe))


def test_weighted_kappa_credits_near_misses() -> None:
    human = [0, 1, 2, 3, 4, 5]
    near = [1, 1, 2, 3, 4, 4]  # two misses by one point
    far = [5, 1, 2, 3, 4, 0]  # two misses by five points
    assert cohen_kappa(near, human) == pytest.approx(cohen_kappa(far, human))
    assert cohen_kappa(near, human, weights="quadratic") > 0.9
    assert cohen_kappa(far, human, weights="quadratic") < 0.0
    # quadratic by hand for `near`: observed cost 2 * (1/5)^2 / 6
    observed = 2 * 0.04 / 6
    marg_a = {1: 2, 2: 1, 3: 1, 4: 2}
    expected = (
        sum(((i - j) / 5) ** 2 * marg_a.get(i, 0) * 1 for i in range(6) for j in range(6)) / 36
    )
    assert cohen_kappa(near, human, weights="quadratic") == pytest.approx(1 - observed / expected)


def test_kappa_is_undefined_when_both_raters_are_constant() -> None:
    assert cohen_kappa([3, 3, 3], [3, 3, 3]) is None
    assert cohen_kappa([], []) is None


def test_halves_round_up_into_categories() -> None:
    assert cohen_kappa([3.5, 0.5], [4, 1]) == pytest.approx(1.0)


def test_agreement_figures() -> None:
    agreement = Agreement.of([5, 4, 2, 0], [5, 5, 4, 0])
    assert (agreement.n, agreement.exact, agreement.within_1) == (4, 0.5, 0.75)
    assert agreement.mean_difference == pytest.approx(-0.75)


def test_correlations_by_hand() -> None:
    import numpy as np

    x = [1.0, 2.0, 3.0, 4.0, 10.0]
    y = [2.0, 1.0, 4.0, 3.0, 5.0]
    assert pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert spearman(x, y) == pytest.approx(0.8)  # ranks 1..5 vs 2,1,4,3,5
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(
        np.corrcoef([1, 2.5, 2.5, 4], [1, 2, 3, 4])[0, 1]
    )
    assert pearson([1, 1, 1], [1, 2, 3]) is None


def test_threshold_table_by_hand() -> None:
    judge = [5, 4, 4, 3, 2, 5]
    human = [5, 4, 1, 4, 0, 2]  # usable (>= 4): items 0, 1, 3
    rows, best = threshold_table(judge, human)
    by_t = {row.threshold: row for row in rows}
    assert (by_t[4.0].kept, by_t[4.0].precision, by_t[4.0].recall) == (4, 0.5, 2 / 3)
    assert (by_t[3.0].kept, by_t[3.0].precision, by_t[3.0].recall) == (5, 0.6, 1.0)
    assert (by_t[5.0].kept, by_t[5.0].precision, by_t[5.0].recall) == (2, 0.5, 1 / 3)
    assert best == 3.0  # F1 0.75 beats 4.0 (0.571) and 2.0 (0.667)


def test_the_labelled_set_covers_the_classic_failures() -> None:
    items = load_items(LABELLED)
    known = load_dimensions()
    assert len(items) >= 30
    assert len({item.id for item in items}) == len(items)
    for item in items:
        assert item.dimension in known and item.domain in known[item.dimension].domains
        assert 0 <= item.human_score <= 5 and item.human_score * 2 == int(item.human_score * 2)
        assert item.response.strip() and item.instruction.strip()
        assert (item.domain == "news") == bool(item.sources)
    cases = {item.case for item in items}
    assert {"wrong_confident", "wrong_language", "ignores_constraint", "refusal"} <= cases
    assert {"hallucinated_facts", "faithful_summary"} <= cases
    assert {item.language for item in items} >= {"en", "it", "fr", "es", "de"}
    scores = {item.human_score for item in items}
    assert scores >= {0, 1, 2, 3, 4, 5}


def test_a_bad_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    good = {"id": "a", "instruction": "i", "response": "r", "human_score": 3}
    path.write_text(json.dumps(good) + "\n" + '{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"labels.jsonl:2: not a calibration item"):
        load_items(path)
    with pytest.raises(SettingsError, match="does not exist"):
        load_items(tmp_path / "missing.jsonl")

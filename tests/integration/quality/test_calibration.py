"""The calibration command against a scripted judge on the local OpenAI-compatible server:
agreement, kappa, length bias and thresholds checked against figures computed here."""

from __future__ import annotations

import pytest

from synthlake.quality.calibration import calibrate, cohen_kappa, load_items, spearman
from synthlake.settings import PROJECT_DIR, load_settings

LABELLED = PROJECT_DIR / "tests" / "fixtures" / "judge_calibration.jsonl"
ITEMS = load_items(LABELLED)
OFF_BY_ONE = {"cal-01", "cal-07", "cal-12"}  # the judge gives one point less
GARBAGE = {"cal-20"}  # the judge never answers in the format


def scripted(body: dict) -> str:
    """Judge A: the label, except a few near misses and one unparseable item;
    judge B ('second-model'): always 3."""
    if body["model"] == "second-model":
        return "3\nAverage."
    first_user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    for item in ITEMS:
        if item.response in first_user and item.instruction in first_user:
            if item.id in GARBAGE:
                return "A fine answer overall, maybe a 5."
            score = item.human_score - (1 if item.id in OFF_BY_ONE else 0)
            return f"{score:g}\nBecause {item.case}."
    raise AssertionError("a request for no labelled item")


@pytest.fixture
def settings(tmp_path, openai_server):
    openai_server.reply_fn = scripted
    return load_settings(lake_root=tmp_path / "lake", llm_max_retries=0)


def test_calibration_figures_match_the_script(settings, openai_server) -> None:
    judge = f"openai:judge-model@{openai_server.base_url}"
    second = f"openai:second-model@{openai_server.base_url}"
    report = calibrate(settings, judge=judge, second_judge=second)

    n = len(ITEMS)
    assert report.n_items == n
    run = report.judge
    assert run.llm == judge and run.n_scored == n - 1
    assert run.failures == {"invalid_output": 1}
    scored = [i for i in ITEMS if i.id not in GARBAGE]
    judged = [i.human_score - (1 if i.id in OFF_BY_ONE else 0) for i in scored]
    human = [i.human_score for i in scored]
    assert run.agreement.n == n - 1
    assert run.agreement.exact == pytest.approx((n - 1 - 3) / (n - 1))
    assert run.agreement.within_1 == 1.0
    assert run.agreement.kappa == pytest.approx(cohen_kappa(judged, human))
    assert run.agreement.mean_difference == pytest.approx(-3 / (n - 1))
    assert run.length_bias == pytest.approx(spearman(judged, [len(i.response) for i in scored]))
    assert report.human_length_bias == pytest.approx(
        spearman([i.human_score for i in ITEMS], [len(i.response) for i in ITEMS])
    )
    # The off-by-one items are labelled 5: at t=5 the judge misses them, at t=4 not.
    by_t = {row.threshold: row for row in run.thresholds}
    usable = sum(1 for h in human if h >= 4)
    assert by_t[4.0].precision == 1.0 and by_t[4.0].recall == 1.0
    assert by_t[5.0].recall == pytest.approx((usable - 2 - 3) / usable)  # cal-31,-37 are 4s
    assert run.recommended_threshold == 4.0

    assert report.second is not None and report.second.n_scored == n
    assert report.second.agreement.exact == pytest.approx(
        sum(1 for i in ITEMS if i.human_score == 3) / n
    )
    inter = report.inter_judge
    assert inter.n == n - 1
    assert inter.exact == pytest.approx(sum(1 for s in judged if s == 3) / (n - 1))

    text = str(report)
    assert f"{n - 1}/{n} answers parsed" in text and "recommended threshold" in text
    from rich.console import Console

    console = Console(record=True, width=160)
    report.render(console)
    shown = console.export_text()
    assert "Cohen's kappa" in shown and "second-model" in shown


def test_a_rerun_is_answered_from_the_cache(settings, openai_server) -> None:
    judge = f"openai:judge-model@{openai_server.base_url}"
    calibrate(settings, judge=judge)
    calls = openai_server.call_count
    assert calls == len(ITEMS) + 1  # one repair request for the unparseable item
    again = calibrate(settings, judge=judge)
    # only the never-valid item is asked again (its request and its repair)
    assert openai_server.call_count == calls + 2
    assert again.judge.n_scored == len(ITEMS) - 1

"""What the judge is asked, and when a pair is judged again."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pytest

from synthlake.errors import SettingsError
from synthlake.prompts import load_prompt
from synthlake.quality.judge import (
    build_request,
    dimensions_for,
    judged_pair_ids,
    load_dimensions,
    plan_tasks,
    render_sources,
)
from synthlake.settings import load_settings

KNOWN = load_dimensions()
VERSIONS = {"instructions": "1", "news": "1"}
SOURCES = [
    {"article_id": "a1", "outlet": "ansa", "title": "Riapre il ponte", "url": "u",
     "content": "x " * 900},
    {"article_id": "a2", "outlet": "ilpost", "title": "Il ponte torna aperto", "url": "u",
     "content": "Breve."},
]  # fmt: skip


def pairs() -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "qa_id": "ins:1",
                "domain": "instructions",
                "qa_hash": "h1",
                "question": "What is 2 + 2?",
                "input": None,
                "answer": "4",
                "language": "it",
                "sources": [],
            },
            {
                "qa_id": "news:c1",
                "domain": "news",
                "qa_hash": "h2",
                "question": "Riassumi gli articoli.",
                "input": None,
                "answer": "Il ponte riapre.",
                "language": "it",
                "sources": SOURCES,
            },
        ]
    )


def test_default_dimensions_accuracy_for_instructions_faithfulness_for_news() -> None:
    tasks = plan_tasks(pairs(), KNOWN, load_settings(), judge_llm="x", prompt_versions=VERSIONS)
    assert [(t.qa_id, t.dimension.name) for t in tasks] == [
        ("ins:1", "accuracy"),
        ("news:c1", "faithfulness"),
    ]
    assert tasks[0].judgement_id == "ins:1|accuracy"


def test_stored_judgements_are_skipped_unless_pair_judge_or_prompt_changed() -> None:
    settings = load_settings()
    done = pa.table(
        {
            "judgement_id": ["ins:1|accuracy", "news:c1|faithfulness"],
            "qa_hash": ["h1", "old-hash"],
            "judge_llm": ["x", "x"],
            "prompt_version": ["1", "1"],
        }
    )
    plan = plan_tasks(pairs(), KNOWN, settings, done=done, judge_llm="x", prompt_versions=VERSIONS)
    assert [t.judgement_id for t in plan] == ["news:c1|faithfulness"]  # the pair changed
    other_judge = plan_tasks(
        pairs(), KNOWN, settings, done=done, judge_llm="y", prompt_versions=VERSIONS
    )
    assert len(other_judge) == 2
    new_prompt = plan_tasks(
        pairs(),
        KNOWN,
        settings,
        done=done,
        judge_llm="x",
        prompt_versions={**VERSIONS, "instructions": "2"},
    )
    assert [t.judgement_id for t in new_prompt] == ["ins:1|accuracy", "news:c1|faithfulness"]


def test_more_dimensions_and_a_limit() -> None:
    settings = load_settings(
        judge_dimensions_instructions=["accuracy", "fluency", "helpfulness"], judge_limit=2
    )
    tasks = plan_tasks(pairs(), KNOWN, settings, judge_llm="x", prompt_versions=VERSIONS)
    assert [t.judgement_id for t in tasks] == ["ins:1|accuracy", "ins:1|fluency"]


def test_the_pairs_chosen_from_ids_alone_plan_what_the_whole_table_plans() -> None:
    """The model reads every pair's id, then the texts of the chosen pairs only: that must
    plan the same tasks as planning on every pair's text."""
    settings = load_settings(judge_max_pairs=15)
    base = pairs().to_pylist()[0]
    every = pa.Table.from_pylist([{**base, "qa_id": f"ins:{i}"} for i in range(300)])
    chosen = judged_pair_ids(every.column("qa_id").to_pylist(), settings)
    assert len(chosen) == 15
    wanted = every.filter(pa.compute.is_in(every.column("qa_id"), value_set=pa.array(chosen)))
    whole = plan_tasks(every, KNOWN, settings, judge_llm="x", prompt_versions=VERSIONS)
    read = plan_tasks(wanted, KNOWN, settings, judge_llm="x", prompt_versions=VERSIONS)
    assert [t.judgement_id for t in read] == [t.judgement_id for t in whole]
    assert sorted(t.qa_id for t in whole) == chosen


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("judge_dimensions_instructions", ["accuracy", "wit"], "unknown judge dimension 'wit'"),
        ("judge_dimensions_instructions", ["faithfulness"], "does not apply to instructions"),
    ],
)
def test_bad_dimension_settings_are_named(setting, value, message) -> None:
    settings = load_settings(**{setting: value})
    with pytest.raises(SettingsError, match=message):
        dimensions_for(settings, "instructions", KNOWN)


def test_the_news_judge_reads_the_sources_cut_to_their_lead() -> None:
    settings = load_settings(judge_source_chars=200)
    [_, task] = plan_tasks(pairs(), KNOWN, settings, judge_llm="x", prompt_versions=VERSIONS)
    request = build_request(task, load_prompt("judge_news"), max_new_tokens=48)
    user = request.messages[-1].content
    assert "Source 1 (ansa): Riapre il ponte" in user and "Source 2 (ilpost)" in user
    assert "[...]" in user and len(render_sources(SOURCES, 200)) < 400
    assert "faithfulness" in user and "Italian" in user
    assert "<sources>" in user and "<response>" in user  # untrusted text stays tagged data
    assert request.params.max_new_tokens == 48 and request.row_id == "news:c1|faithfulness"
    assert request.prompt_id == "judge_news" and request.prompt_version == "1"


def test_the_instruction_judge_names_the_expected_language_and_the_scale() -> None:
    [task, _] = plan_tasks(pairs(), KNOWN, load_settings(), judge_llm="x", prompt_versions=VERSIONS)
    request = build_request(task, load_prompt("judge"), max_new_tokens=32)
    system, user = (m.content for m in request.messages)
    assert "impartial" in system
    assert "written in Italian" in user and "0 (worst) to 5 (best)" in user
    assert "score alone on the first line" in user
    assert "<instruction>\nWhat is 2 + 2?\n</instruction>" in user
    assert "<input>\n(none)\n</input>" in user

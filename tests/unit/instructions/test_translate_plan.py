"""The parts of translation that need no LLM: assignment, planning, cleaning, text choice."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pytest

from synthlake.instructions.langid import LanguageIdentifier, check_languages
from synthlake.instructions.translate import (
    TranslateConfig,
    _max_new_tokens,
    assign_languages,
    checked_translation_sources,
    clean_answer,
    plan_jobs,
    row_texts,
    translation_id,
    translation_sources,
)

LANGS = ["it", "fr", "es", "de"]


def test_one_language_per_row_is_seeded_balanced_and_stable() -> None:
    ids = [f"row{i}" for i in range(4000)]
    pairs = assign_languages(ids, LANGS, mode="one", seed=42)
    assert [p[0] for p in pairs] == ids
    counts = Counter(lang for _, lang in pairs)
    assert set(counts) == set(LANGS) and all(900 < c < 1100 for c in counts.values())
    assert assign_languages(ids, LANGS, mode="one", seed=42) == pairs
    assert assign_languages(ids, LANGS, mode="one", seed=7) != pairs
    # adding rows does not move the others (unlike drawing from an RNG in row order)
    more = dict(assign_languages(["new", *ids], LANGS, mode="one", seed=42))
    assert all(more[row_id] == lang for row_id, lang in pairs)
    # the order of the language list does not matter
    assert assign_languages(ids, LANGS[::-1], mode="one", seed=42) == pairs


def test_all_mode_gives_every_language() -> None:
    assert assign_languages(["a"], LANGS, mode="all", seed=1) == [
        ("a", "de"),
        ("a", "es"),
        ("a", "fr"),
        ("a", "it"),
    ]
    with pytest.raises(ValueError, match="'one' or 'all'"):
        assign_languages(["a"], LANGS, mode="some", seed=1)


def rows(n: int) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"id": f"r{i}", "language": "en", "instruction": "Q", "output": "A", "turns": []}
            for i in range(n)
        ]
    )


def test_plan_skips_done_pairs_and_honours_the_limit() -> None:
    config = TranslateConfig(mode="all")
    jobs = plan_jobs(rows(3), LANGS, config, prompt_version="1", llm="local:smollm2")
    assert len(jobs) == 12
    done = {j.translation_id for j in jobs[:5]}
    rest = plan_jobs(rows(3), LANGS, config, prompt_version="1", llm="local:smollm2", done=done)
    assert [j.translation_id for j in rest] == [j.translation_id for j in jobs[5:]]
    limited = TranslateConfig(mode="all", limit=4)
    assert len(plan_jobs(rows(3), LANGS, limited, prompt_version="1", llm="x:y")) == 4
    paused = TranslateConfig(mode="all", limit=0)
    assert plan_jobs(rows(3), LANGS, paused, prompt_version="1", llm="x:y") == []
    # a new prompt version or model is a new translation
    assert translation_id("r0", "it", "1", "a:b") != translation_id("r0", "it", "2", "a:b")
    assert translation_id("r0", "it", "1", "a:b") != translation_id("r0", "it", "1", "a:c")


def test_the_rows_chosen_from_ids_alone_plan_what_the_whole_table_plans() -> None:
    """The model reads every source's id, then the texts of the chosen rows only: that
    must plan the same pairs as planning on every row's text."""
    config = TranslateConfig(mode="one", max_rows=20, seed=7)
    every = rows(500)
    chosen = translation_sources(every.column("id").to_pylist(), config)
    assert len(chosen) == 20
    only_chosen = every.filter(pa.compute.is_in(every.column("id"), value_set=pa.array(chosen)))
    whole = plan_jobs(every, LANGS, config, prompt_version="1", llm="x:y")
    read = plan_jobs(only_chosen, LANGS, config, prompt_version="1", llm="x:y")
    assert [(j.row["id"], j.language) for j in read] == [(j.row["id"], j.language) for j in whole]
    assert sorted(j.row["id"] for j in whole) == chosen
    # another seed chooses other rows
    assert translation_sources(chosen, TranslateConfig(max_rows=10, seed=8)) != chosen[:10]


def turn(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


@pytest.mark.parametrize(
    ("row", "names"),
    [
        (
            {
                "shape": "alpaca",
                "system": None,
                "instruction": "Sum",
                "input": "2, 3",
                "output": "5",
                "turns": [turn("user", "Sum\n\n2, 3"), turn("assistant", "5")],
            },
            ["instruction", "input", "output"],
        ),
        (
            {
                "shape": "sharegpt",
                "system": "S",
                "instruction": "Q",
                "input": None,
                "output": "A",
                "turns": [turn("system", "S"), turn("user", "Q"), turn("assistant", "A")],
            },
            ["system", "instruction", "output"],
        ),
        (
            {
                "shape": "sharegpt",
                "system": "S",
                "instruction": None,
                "input": None,
                "output": None,
                "turns": [
                    turn("system", "S"),
                    turn("user", "Q1"),
                    turn("assistant", "A1"),
                    turn("user", "Q2"),
                    turn("assistant", "A2"),
                ],
            },
            ["turn_0", "turn_1", "turn_2", "turn_3", "turn_4"],
        ),
    ],
)
def test_row_texts_by_shape(row: dict, names: list[str]) -> None:
    assert [name for name, _ in row_texts(row)] == names


@pytest.mark.parametrize(
    ("answer", "source", "expected"),
    [
        ("<text>\nCiao mondo\n</text>", "Hello world", "Ciao mondo"),
        ('"Ciao mondo"', "Hello world", "Ciao mondo"),
        ('"Ciao" disse', '"Hi" he said', '"Ciao" disse'),
        ('"Ciao"', '"Hi"', '"Ciao"'),  # the source was quoted: keep the quotes
        ("  Ciao  \n", "Hi", "Ciao"),
    ],
)
def test_clean_answer(answer: str, source: str, expected: str) -> None:
    assert clean_answer(answer, source) == expected


def test_unit_budget_follows_max_new_tokens_and_context() -> None:
    assert TranslateConfig(max_new_tokens=192).max_unit_chars == 495  # (192 - 8) / 1.3 * 3.5
    assert TranslateConfig(max_new_tokens=96).max_unit_chars == 236
    small_context = TranslateConfig(max_new_tokens=192, context_tokens=512)
    assert small_context.max_unit_chars == int((512 - 220 - 192) * 3.5)
    # a unit of the longest size gets a token cap that holds its translation
    for cap in (96, 192):
        longest = TranslateConfig(max_new_tokens=cap).max_unit_chars
        assert _max_new_tokens("x" * longest, cap) == cap
    assert _max_new_tokens("Hello world", 96) == 16
    assert _max_new_tokens("x" * 100, 96) == 48


def test_moving_the_model_to_another_host_keeps_the_rows_done(tmp_path) -> None:
    """The row key names the model, not its URL: a vLLM server moved to another port must
    not re-translate (and re-key) every stored row. With the URL in the key, the stage
    would plan every pair again and call the runner (here an object that cannot run)."""
    from synthlake.instructions.translate import translate_rows
    from synthlake.settings import load_settings

    settings = load_settings(
        lake_root=tmp_path,
        llm="openai:llama-3.1-8b@http://127.0.0.1:8001/v1",
        translate_languages_mode="all",
    )
    version = load_prompt_version()
    done = {
        translation_id(f"r{i}", lang, version, "openai:llama-3.1-8b")
        for i in range(3)
        for lang in LANGS
    }
    out = translate_rows(rows(3), LANGS, settings, done=done, runner=object())
    assert out.num_rows == 0


def load_prompt_version() -> str:
    from synthlake.instructions.translate import PROMPT_ID
    from synthlake.prompts import load_prompt

    return load_prompt(PROMPT_ID).version


def test_checked_sources_are_the_selection_among_rows_that_pass_the_full_check() -> None:
    english = "Explain in two sentences why the sky looks blue on a clear afternoon, number {i}."
    italian = (
        "Spiega in due frasi perché il cielo appare azzurro in un pomeriggio sereno, numero {i}."
    )
    rows = pa.Table.from_pylist(
        [
            {
                "id": f"row{i:03d}",
                "language": "en",
                # every third row is Italian under an English label: not a translation source
                "turns": [
                    {"role": "user", "content": (italian if i % 3 == 0 else english).format(i=i)}
                ],
            }
            for i in range(120)
        ]
    )
    identifier = LanguageIdentifier(["en", "it", "fr"])
    full = check_languages(rows, identifier)
    passing = [r["id"] for r in full.to_pylist() if not r["language_mismatch"]]
    assert len(passing) == 80
    by_id = {r["id"]: r for r in rows.to_pylist()}
    read: list[int] = []

    def read_rows(ids: list[str]) -> pa.Table:
        read.append(len(ids))
        return pa.Table.from_pylist([by_id[i] for i in ids])

    for max_rows in (1, 30, 79, 80, 200, None):
        read.clear()
        config = TranslateConfig(seed=9, max_rows=max_rows)
        chosen = checked_translation_sources(list(by_id), read_rows, identifier, config)
        assert chosen == translation_sources(passing, config)
        if max_rows == 30:  # checked as far as needed, not all 120 rows
            assert sum(read) < 120

from __future__ import annotations

import pytest

from synthlake.instructions.protect import (
    fit_layout,
    prose,
    protect,
    restore,
    split_layout,
    split_sentences,
)

CODE = "```python\ndef add(a, b):\n    return a + b  # 2 numbers\n```"


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        (f"Here:\n\n{CODE}\n\nDone.", [CODE]),
        ("Call `len(x)` then `x.sort()`.", ["`len(x)`", "`x.sort()`"]),
        (
            "See https://example.org/a?b=1, or www.python.org.",
            ["https://example.org/a?b=1", "www.python.org"],
        ),
        (
            "Dear {name}, you owe %s (%(total)d) by ${DATE}.",
            ["{name}", "%s", "%(total)d", "${DATE}"],
        ),
        ("It costs $2,520.50 or 3.5e3 units, 12:30.", ["2,520.50", "3.5e3", "12:30"]),
        ("Write to ann.lee@mail.example.com today.", ["ann.lee@mail.example.com"]),
        ("Use <b>bold</b> here.", ["<b>", "</b>"]),
        ("No spans at all.", []),
    ],
)
def test_protect_finds_spans_and_restore_gives_the_text_back(text: str, spans: list[str]) -> None:
    protected = protect(text)
    assert protected.spans == spans
    assert all(span not in protected.masked for span in spans)
    restored = restore(protected.masked, protected.spans)
    assert restored.ok and restored.text == text


def test_an_unclosed_fence_protects_to_the_end() -> None:
    text = "Try this:\n```\nprint('hi')\nmore code"
    protected = protect(text)
    assert protected.spans == ["```\nprint('hi')\nmore code"]
    assert protected.code_chars == len(protected.spans[0])


def test_restore_reports_lost_repeated_and_invented_tokens() -> None:
    protected = protect("Add 2 and 3 with `sum`.")
    result = restore("Somma ⟦0⟧ e ⟦0⟧ con ⟦7⟧.", protected.spans)
    assert (result.missing, result.repeated, result.unknown) == ([1, 2], [0], ["⟦7⟧"])
    assert not result.ok
    assert restore("⟦2⟧ ⟦1⟧ ⟦0⟧", protected.spans).ok  # order may change in translation


def test_layout_keeps_markers_and_line_breaks_out_of_the_units() -> None:
    text = "# Title\n\n1. First item\n2) Second `x`\n- [ ] todo\n> quoted\n\n    indented line  \n"
    protected = protect(text)
    layout = split_layout(protected.masked)
    assert [u.text for u in layout.units] == [
        "Title",
        "First item",
        "Second ⟦0⟧",
        "todo",
        "quoted",
        "indented line",
    ]
    upper = layout.assemble([u.text.upper() for u in layout.units])
    restored = restore(upper, protected.spans).text
    assert restored == (
        "# TITLE\n\n1. FIRST ITEM\n2) SECOND `x`\n- [ ] TODO\n> QUOTED\n\n    INDENTED LINE  \n"
    )


def test_code_blocks_and_tables_survive_byte_for_byte() -> None:
    text = f"Intro text.\n{CODE}\nItem | Qty\nPen | 10\n| a | b |\nEnd."
    protected = protect(text)
    layout = split_layout(protected.masked)
    assert "Item" in [u.text for u in layout.units] and "Pen" in [u.text for u in layout.units]
    out = restore(layout.assemble(["Z" * 3 for _ in layout.units]), protected.spans).text
    assert CODE in out
    assert out.splitlines()[5:] == ["ZZZ | ZZZ", "ZZZ | 10", "| ZZZ | ZZZ |", "ZZZ"]


def test_soft_wrapped_prose_is_one_unit_separate_lines_are_not() -> None:
    layout = split_layout("The road was long and\nwinding. It ended.\nNext line.\nRevenue: 5")
    assert [u.text for u in layout.units] == [
        "The road was long and\nwinding. It ended.",
        "Next line.",
        "Revenue: 5",
    ]


def test_long_units_are_cut_at_sentence_ends_only() -> None:
    text = "First sentence here. Second one is longer, e.g. this. Third!  Fourth?"
    pieces = split_sentences(text, 40)
    assert "".join(pieces) == text
    units = pieces[::2]
    assert units == ["First sentence here.", "Second one is longer, e.g. this. Third!", "Fourth?"]
    assert split_sentences("A single sentence that is far too long to fit.", 10) is None
    layout = fit_layout(split_layout(text), 40)
    assert [u.text for u in layout.units] == units
    assert layout.assemble([u.text for u in layout.units]) == text
    assert fit_layout(split_layout("x" * 50), 10) is None


def test_prose_drops_code_urls_and_numbers() -> None:
    assert prose(f"Read\n{CODE}\nat https://x.org now, 42 times").split() == [
        "Read",
        "at",
        "now,",
        "times",
    ]


def _mixed_texts(n: int, seed: int) -> list[str]:
    """Texts built from pieces of every span kind, prose and odd characters, so that some
    hold a kind's literal without a match and some hold neither."""
    import random

    rng = random.Random(seed)
    pieces = [
        "plain words here",
        "Perché è così?",
        "mail me at ana.rossi+x@example.it today",
        "an @ alone, a dangling ://, www without dot",
        "see https://example.org/a?b=1 or www.python.org.",
        "Dear {name}, {{ total }} at 50% of <b>it</b>, %5.2f and ${VAR}",
        "a { lone brace and < and %",
        "`inline` and ``double `tick` code`` and a lone `",
        "```py\nx = 1\n```",
        "~~~\nunclosed fence",
        "12:30, 3.5e3, -4, 1,000.5",
        "1. first\n2) second",
        "token ⟦3⟧ shape and a lone ⟦",
        "١٢٣ Ⅷ ² ß 漢字 Ж 😀",
    ]
    return ["\n".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(n)]


def test_skipping_a_kind_whose_text_is_absent_finds_the_same_spans(monkeypatch) -> None:
    from synthlake.instructions import protect as module

    texts = _mixed_texts(400, seed=3)
    fast = [protect(t) for t in texts]
    monkeypatch.setattr(module, "_NEEDS", {})  # every pattern searched in every text
    slow = [protect(t) for t in texts]
    assert [(p.masked, p.spans, p.kinds) for p in fast] == [
        (p.masked, p.spans, p.kinds) for p in slow
    ]
    assert sum(len(p.spans) for p in fast) > 400  # the corpus does hold spans


def test_letters_counts_what_the_letter_class_matches() -> None:
    import random
    import re

    from synthlake.instructions.protect import letters

    letter = re.compile(r"[^\W\d_]")
    rng = random.Random(5)
    alphabet = "aZé9_ -\n\t.,ß漢字١٢٣Ⅷ²\u0301\u200bЖ😀ʼ⟦"
    texts = ["", "123", "abc"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(3000)
    ]
    assert [letters(t) for t in texts] == [len(letter.findall(t)) for t in texts]

"""Checks on a generated summary before it may become an answer.

A summary is refused (and quarantined, never stored as an answer) when it is:

- ``empty_output``: nothing, or fewer than ``MIN_WORDS`` words;
- ``prompt_echo``: the model repeated the prompt instead of writing a text: the answer
  reproduces the instruction (half of its word 4-grams), carries the sources' field labels
  ("Titolo:", "Contenuto:") on two or more lines, or is made almost entirely
  (``ECHO_FRACTION`` of its word 8-grams) of passages copied from the prompt;
- ``repetitive_output``: the text loops (small models under greedy decoding repeat a
  phrase until the token cap): fewer than ``MIN_DISTINCT_TRIGRAMS`` of its word 3-grams
  are distinct;
- ``wrong_language``: lingua does not find it in the expected language.

The output cue ("Testo integrato:") is allowed once at the start (some models repeat it
before answering) and is stripped by :func:`clean_summary`; more copies are an echo.

Hand-written rules rather than a classifier: the failure modes of small local models are
these few, and each refusal must carry a reason a person can read in ``llm_failures``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from synthlake.news_integration.language import NAMES, confidence_of, detect
from synthlake.news_integration.text import words

MIN_WORDS = 5
ECHO_FRACTION = 0.9
INSTRUCTION_ECHO = 0.5
MIN_LANGUAGE_CONFIDENCE = 0.5
MIN_DISTINCT_TRIGRAMS = 0.5
REPETITION_MIN_WORDS = 20  # shorter texts are not judged for repetition


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    code: str | None = None  # empty_output, prompt_echo, repetitive_output, wrong_language
    detail: str = ""


def _grams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def clean_summary(answer: str, cue: str) -> str:
    """The answer without surrounding blanks and without the output cue echoed at its start."""
    text = (answer or "").strip()
    cue = cue.strip()
    if cue and text.lower().startswith(cue.lower()):
        text = text[len(cue) :].strip()
    return text


def check_summary(
    answer: str,
    *,
    instruction: str,
    prompt_text: str,
    language: str,
    labels: tuple[str, str],
    cue: str = "",
) -> Verdict:
    """``Verdict(ok=True)``, or the first rule the answer breaks, with an explanation.

    ``answer`` should already be cleaned by :func:`clean_summary`.
    """
    text = (answer or "").strip()
    tokens = words(text)
    if len(tokens) < MIN_WORDS:
        return Verdict(False, "empty_output", f"{len(tokens)} words (at least {MIN_WORDS})")

    instruction_grams = _grams(words(instruction), 4)
    if instruction_grams:
        share = len(instruction_grams & _grams(tokens, 4)) / len(instruction_grams)
        if share >= INSTRUCTION_ECHO:
            return Verdict(False, "prompt_echo", f"repeats the instruction ({share:.0%})")
    label_lines = sum(
        1
        for line in text.splitlines()
        if re.match(rf"\s*({re.escape(labels[0])}|{re.escape(labels[1])})\s*:", line, re.I)
    )
    if label_lines >= 2:
        return Verdict(False, "prompt_echo", f"{label_lines} lines start with the source labels")
    cue_words = words(cue)
    if cue_words:
        cue_count = sum(tokens[i : i + len(cue_words)] == cue_words for i in range(len(tokens)))
        if cue_count >= 1:
            return Verdict(False, "prompt_echo", f"repeats the output cue {cue.strip()!r}")
    answer_grams = _grams(tokens, 8)
    if answer_grams:
        copied = len(answer_grams & _grams(words(prompt_text), 8)) / len(answer_grams)
        if copied >= ECHO_FRACTION:
            return Verdict(False, "prompt_echo", f"{copied:.0%} copied verbatim from the prompt")

    if len(tokens) >= REPETITION_MIN_WORDS:
        trigrams = [tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)]
        distinct = len(set(trigrams)) / len(trigrams)
        if distinct < MIN_DISTINCT_TRIGRAMS:
            return Verdict(
                False, "repetitive_output", f"only {distinct:.0%} of its word 3-grams are distinct"
            )

    found = detect(text)
    if found.language is not None and found.language != language:
        expected = confidence_of(text, language)
        if expected < MIN_LANGUAGE_CONFIDENCE:
            name = NAMES.get(found.language, (found.language, found.language))[1]
            want = NAMES.get(language, (language, language))[1]
            return Verdict(
                False,
                "wrong_language",
                f"written in {name} ({found.confidence:.2f}), expected {want} ({expected:.2f})",
            )
    return Verdict(True)


__all__ = ["Verdict", "check_summary", "clean_summary"]

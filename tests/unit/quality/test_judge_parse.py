"""Strict parsing of judge answers: the score line or nothing, never a number guessed."""

from __future__ import annotations

import pytest

from synthlake.quality.judge import JudgeParseError, parse_judgement

ACCEPTED = [
    ("4\nThe response answers the question correctly.", 4.0, "The response answers"),
    ("5", 5.0, ""),
    ("0\n\nExplanation: the list has no word ending in -nave.", 0.0, "the list has no word"),
    ("  \n3.5\nMostly right, one item is wrong.", 3.5, "Mostly right"),
    ("Score: 4\nGood answer.", 4.0, "Good answer."),
    ("score = 2\nIt ignores the limit of five items.", 2.0, "It ignores"),
    ("Accuracy score: 4.5\nPrecise.", 4.5, "Precise."),
    ("Rating: 1/5\nWrong language.", 1.0, "Wrong language."),
    ("4/5\nClear and correct.", 4.0, "Clear and correct."),
    ("3 out of 5\nPartially correct.", 3.0, "Partially correct."),
    ("**4**\n**Explanation:** concise and correct.", 4.0, "concise and correct."),
    ("[2]\nMisses the constraint.", 2.0, "Misses the constraint."),
    ("4.0\nfine", 4.0, "fine"),
    ("2,5\nHalf right.", 2.5, "Half right."),
    ("5.\nPerfect.", 5.0, "Perfect."),
]

REJECTED = [
    ("", "empty"),
    ("   \n\n", "empty"),
    ("four\nThe answer is correct.", "first line must be only the score"),
    ("Four out of five.", "first line must be only the score"),
    ("-1\nTerrible.", "between 0 and 5"),
    ("7\nExcellent.", "between 0 and 5"),
    ("5.5\nAbove the top.", "between 0 and 5"),
    ("3.7\nAlmost there.", "whole number or a half"),
    ("4/10\nOn another scale.", "0 to 5 scale"),
    ("8 out of 10", "0 to 5 scale"),
    # A number only in the explanation is never taken as the score.
    ("The response is accurate.\nI would give it 4.", "first line must be only the score"),
    ("Explanation: the list has 7 items, so 5 points.", "first line must be only the score"),
    # A number followed by more words is ambiguous ("4 of the 7 words are wrong").
    ("4 of the 7 words are wrong.\nScore: 1", "first line must be only the score"),
    ("4 because it is right", "first line must be only the score"),
    ("I'd rate this 4.", "first line must be only the score"),
    ("4 or 5\nhard to say", "first line must be only the score"),
    ("**4\nunbalanced markup", "first line must be only the score"),
]


@pytest.mark.parametrize(("text", "score", "explanation_start"), ACCEPTED)
def test_accepted_answers(text: str, score: float, explanation_start: str) -> None:
    judgement = parse_judgement(text)
    assert judgement.score == score
    assert judgement.explanation.startswith(explanation_start)


@pytest.mark.parametrize(("text", "message"), REJECTED)
def test_rejected_answers_say_why(text: str, message: str) -> None:
    with pytest.raises(JudgeParseError, match=message):
        parse_judgement(text)


def test_none_is_rejected_not_a_crash() -> None:
    with pytest.raises(JudgeParseError, match="empty"):
        parse_judgement(None)


def test_the_error_quotes_the_first_line_for_the_repair_request() -> None:
    with pytest.raises(JudgeParseError) as info:
        parse_judgement("The answer deserves a four.\n4")
    assert "'The answer deserves a four.'" in str(info.value)
    assert "from 0 to 5" in str(info.value)

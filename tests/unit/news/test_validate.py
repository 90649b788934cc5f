from __future__ import annotations

import pytest

from synthlake.news_integration.validate import check_summary, clean_summary

INSTRUCTION = (
    "Dati i titoli e i contenuti di più articoli sulla stessa notizia, riassumili e "
    "integrali in un unico testo in italiano."
)
SOURCE = (
    "La giunta comunale ha approvato il progetto definitivo di dodici chilometri di nuove "
    "piste ciclabili che collegheranno i quartieri della periferia nord al centro della città"
)
PROMPT = f"{INSTRUCTION}\n\nTitolo: Piste ciclabili\nContenuto: {SOURCE}\n\nTesto integrato:"
GOOD = (
    "Il Comune ha dato il via libera a dodici chilometri di corsie per le biciclette: "
    "uniranno la periferia nord al centro, e i lavori cominceranno a marzo."
)


def verdict(answer: str, language: str = "it"):
    return check_summary(
        clean_summary(answer, "Testo integrato:"),
        instruction=INSTRUCTION,
        prompt_text=PROMPT,
        language=language,
        labels=("Titolo", "Contenuto"),
        cue="Testo integrato:",
    )


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("", "empty_output"),
        ("   \n ", "empty_output"),
        ("Ecco il testo.", "empty_output"),
        (INSTRUCTION, "prompt_echo"),
        (f"{GOOD}\nTitolo: Piste\nContenuto: {SOURCE}", "prompt_echo"),
        (SOURCE, "prompt_echo"),
        (f"{GOOD}\n\nTesto integrato:\n\n{GOOD}", "prompt_echo"),
        ("che è una storia di musica, " * 15, "repetitive_output"),
        (
            "The city council approved twelve kilometres of new bike lanes linking the "
            "northern suburbs to the centre; works start in March.",
            "wrong_language",
        ),
    ],
)
def test_bad_summaries_are_refused_with_a_reason(answer: str, code: str) -> None:
    result = verdict(answer)
    assert not result.ok
    assert result.code == code
    assert result.detail


def test_a_real_summary_passes_and_a_leading_cue_is_stripped() -> None:
    assert verdict(GOOD).ok
    assert verdict(f"Testo integrato: {GOOD}").ok
    assert clean_summary(f"  Testo integrato:\n{GOOD} ", "Testo integrato:") == GOOD


def test_the_expected_language_is_what_counts() -> None:
    assert not verdict(GOOD, language="en").ok
    assert verdict(GOOD, language="en").code == "wrong_language"

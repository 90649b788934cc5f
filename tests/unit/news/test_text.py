from __future__ import annotations

import pytest

from synthlake.news_integration.text import (
    chunks,
    clean_paragraphs,
    entity_candidates,
    lead,
    normalize_for_hash,
    shingles,
    strip_boilerplate,
    url_key,
)


@pytest.mark.parametrize(
    ("paragraph", "expected"),
    [
        ("MILANO, 08 GEN - La giunta ha approvato.", "La giunta ha approvato."),
        ("VISSO (MACERATA), 04 GEN – Una scossa.", "Una scossa."),
        ("ROMA, 6 gennaio 2024 - Il testo.", "Il testo."),
        ("Il sindaco ha parlato. (ANSA).", "Il sindaco ha parlato."),
        ("Fine del pezzo (Adnkronos)", "Fine del pezzo"),
        # not a dateline: ordinary sentence with a comma and a number
        ("Roma, 3 persone ferite - dice la polizia.", "Roma, 3 persone ferite - dice la polizia."),
    ],
)
def test_strip_boilerplate(paragraph: str, expected: str) -> None:
    assert strip_boilerplate(paragraph) == expected


def test_lead_takes_whole_paragraphs_until_enough_words() -> None:
    content = "MILANO, 02 GEN - Uno due tre.\n\nQuattro cinque sei sette.\n\nOtto."
    assert lead(content, min_words=5) == "Uno due tre.\n\nQuattro cinque sei sette."
    assert lead(content, min_words=2) == "Uno due tre."


def test_lead_cuts_a_giant_first_paragraph() -> None:
    assert len(lead(" ".join(["parola"] * 500), max_words=120).split()) == 120


def test_chunks_cover_the_body_in_order_within_the_size() -> None:
    paragraphs = [" ".join(f"p{i}w{j}." for j in range(50)) for i in range(5)]
    pieces = chunks("\n\n".join(paragraphs), words_per_chunk=120)
    assert " ".join(" ".join(pieces).split()) == " ".join(" ".join(paragraphs).split())
    assert all(len(p.split()) <= 120 for p in pieces)
    assert len(pieces) == 3  # 2+2+1 paragraphs of 50 words


def test_hash_normalization_ignores_case_accents_punctuation_and_credit() -> None:
    a = "ROMA, 02 GEN - Città chiusa: è così!\n\nFine. (ANSA)."
    b = "città CHIUSA, e cosi\n\nfine"
    assert normalize_for_hash(a) == normalize_for_hash(b) == "citta chiusa e cosi fine"
    assert clean_paragraphs(a) == ["Città chiusa: è così!", "Fine."]


def test_shingles_of_a_short_text_are_the_whole_text() -> None:
    assert shingles("uno due") == {"uno due"}
    assert len(shingles("a b c d e f g")) == 3


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://www.ansa.it/x/y.html", "http://ansa.it/x/y.html"),
        ("https://www.ilpost.it/2024/01/02/slug/", "https://ilpost.it/2024/01/02/slug"),
        ("https://m.open.online/a/b/?utm_source=x", "https://www.open.online/a/b"),
    ],
)
def test_url_key_merges_variants(a: str, b: str) -> None:
    assert url_key(a) == url_key(b)


def test_url_key_keeps_different_pages_apart() -> None:
    assert url_key("https://www.ansa.it/a.html") != url_key("https://www.ansa.it/b.html")


@pytest.mark.parametrize(
    ("texts", "names", "initial"),
    [
        (
            ("Borsa: Milano chiude in rialzo", "Il Ftse Mib segna +0,6% a 30.412 punti."),
            {"ftse", "mib", "#+0.6%", "#30.412"},
            {"borsa", "milano"},
        ),
        (
            ("Terremoto a Camerino", "La scossa alle 3:12 di magnitudo 4.2, il 12 gennaio 2024."),
            {"camerino", "#3:12", "#4.2"},
            {"terremoto"},
        ),
        # a share written out is the same figure as with the sign
        (
            ("Mense, sconto del 40 per cento", "Sconto del 40% e del 5 per cento."),
            {"#40%", "#5%"},
            {"mense", "sconto"},
        ),
        # days of the month, years, articles, months and outlet names are not entities
        (("Venerdì 12 Gennaio 2024 a Città di Castello (ANSA)",), {"citta", "castello"}, set()),
    ],
)
def test_entity_candidates(texts: tuple[str, ...], names: set[str], initial: set[str]) -> None:
    assert entity_candidates(*texts) == (names, initial)

"""Reply functions for the OpenAI-compatible test server that play a translator.

``fake_translation`` answers in the language the prompt asks for, with a length close to
the source's and every ``⟦n⟧`` token of the source kept once, so the verification passes;
``wrong_language`` answers in English (the source echoed), which the language check must
catch. Both are deterministic, so a rerun hits the LLM cache.
"""

from __future__ import annotations

import re
from typing import Any

TOKEN = re.compile(r"⟦\d+⟧")
TEXT = re.compile(r"<text>\n(?P<text>.*)\n</text>", re.DOTALL)
TARGET = re.compile(r"Translate into (?P<language>\w+):")

WORDS = {
    "Italian": "questa frase è stata tradotta con cura in italiano per i lettori della scuola",
    "French": "cette phrase a été traduite avec soin en français pour les lecteurs de l'école",
    "Spanish": "esta frase ha sido traducida con cuidado al español para los lectores del colegio",
    "German": "dieser Satz wurde sorgfältig ins Deutsche übersetzt für die Leser der Schule",
}


def _request(body: Any) -> tuple[str, str]:
    user = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    text = TEXT.search(user)["text"]
    language = TARGET.search(user)["language"]
    return text, language


def fake_translation(body: Any) -> str:
    text, language = _request(body)
    words = WORDS[language].split()
    tokens = TOKEN.findall(text)
    prose_len = len(TOKEN.sub("", text))
    out: list[str] = []
    k = 0
    while len(" ".join(out)) < prose_len:
        out.append(words[k % len(words)])
        k += 1
    # one token after each of the first words, in the source's order
    for i, token in enumerate(tokens):
        out.insert(min(len(out), 2 * i + 1), token)
    answer = " ".join(out) or words[0]
    lines = text.count("\n")
    if lines:  # a soft-wrapped unit: keep its line count
        parts = answer.split(" ")
        step = max(1, len(parts) // (lines + 1))
        answer = "\n".join(
            " ".join(parts[i * step : (i + 1) * step if i < lines else None])
            for i in range(lines + 1)
        )
    return answer


def wrong_language(body: Any) -> str:
    text, _ = _request(body)
    return text  # "translated" into English: the source itself

"""What the rehearsal's stand-in provider answers: a "capable model" for every LLM stage.

``answer(body)`` reads an OpenAI chat-completions request body, recognises which synthlake
prompt it carries (``synthlake/prompts/*.toml``) and writes an answer that the stage's own
checks accept, so that the rehearsal quarantines no row for its content:

- **translation** (``translate_instruction``): the unit in the requested language, word
  for word from a small vocabulary of that language (a word of about the same length for
  each source word), keeping every ``⟦n⟧`` token exactly once and every line break, so the
  language check (lingua), the echo check, the span check and the length ratio pass;
- **judge** (``judge`` / ``judge_news``): a score line (4 or 5) and one sentence;
- **summary** (``news_integrate_*``): a text in the requested language that names every
  source by its title and the opening words of its lead, between connecting phrases of
  its own (so it is close to every source for the similarity gate, yet not a copy of the
  prompt for the echo check), within the request's ``max_tokens``;
- anything else (``ask``): one short sentence.

Deterministic per request body (no clock, no global random state), stdlib only: the
stand-in's server process imports nothing else.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

__all__ = ["answer", "apply_stop", "rough_tokens", "stage_of"]

# Common words of each language, by the language's English name as the prompts write it.
# Written for this file; function words first, they are what language ID keys on.
VOCABULARY: dict[str, str] = {
    "Italian": (
        "e il la di che un una per non con del della sono anche come questo quando "
        "perché molto sempre dove tutto prima dopo ancora niente nostro vostro loro "
        "essere avere fare andare dire vedere sapere venire volere potere dovere "
        "giorno tempo lavoro mondo paese città strada parola problema risposta domanda "
        "importante necessario possibile semplice facilmente generalmente soprattutto "
        "specialmente naturalmente attualmente informazione comunicazione"
    ),
    "French": (
        "et le la de que un une pour pas avec des sont aussi comme cette quand "
        "parce très toujours tout avant après encore rien notre votre leur être avoir "
        "faire aller dire voir savoir venir vouloir pouvoir devoir jour temps travail "
        "monde pays ville chemin parole problème réponse question important nécessaire "
        "possible simplement facilement généralement surtout spécialement naturellement "
        "actuellement information communication"
    ),
    "Spanish": (
        "y el la de que un una para no con los las son también como este cuando "
        "porque muy siempre donde todo antes después todavía nada nuestro vuestro "
        "ser tener hacer decir ver saber venir querer poder deber día tiempo trabajo "
        "mundo país ciudad camino palabra problema respuesta pregunta importante "
        "necesario posible sencillo fácilmente generalmente sobre especialmente "
        "naturalmente actualmente información comunicación"
    ),
    "German": (
        "und der die das nicht mit ist sind auch wie dieser wenn weil sehr immer wo "
        "alles vorher nachher noch nichts unser euer ihr sein haben machen gehen sagen "
        "sehen wissen kommen wollen können müssen Tag Zeit Arbeit Welt Land Stadt Straße "
        "Wort Problem Antwort Frage wichtig notwendig möglich einfach leicht allgemein "
        "besonders natürlich gegenwärtig Information Kommunikation Zusammenarbeit"
    ),
    "Portuguese": (
        "e o a de que um uma para não com os as são também como este quando porque "
        "muito sempre onde tudo antes depois ainda nada nosso vosso ser ter fazer dizer "
        "ver saber vir querer poder dever dia tempo trabalho mundo país cidade caminho "
        "palavra problema resposta pergunta importante necessário possível simples "
        "facilmente geralmente sobretudo especialmente naturalmente atualmente "
        "informação comunicação"
    ),
    "Dutch": (
        "en de het van dat een niet met zijn ook zoals deze wanneer omdat heel altijd "
        "waar alles voor daarna nog niets onze jullie hun hebben maken gaan zeggen zien "
        "weten komen willen kunnen moeten dag tijd werk wereld land stad straat woord "
        "probleem antwoord vraag belangrijk noodzakelijk mogelijk eenvoudig gemakkelijk "
        "algemeen vooral bijzonder natuurlijk tegenwoordig informatie communicatie"
    ),
    "English": (
        "and the of that a for not with are also like this when because very always "
        "where everything before after still nothing our your their being have make go "
        "say see know come want can must day time work world country city road word "
        "problem answer question important necessary possible simple easily generally "
        "especially naturally currently information communication"
    ),
}
CODES = {
    "it": "Italian",
    "fr": "French",
    "es": "Spanish",
    "de": "German",
    "pt": "Portuguese",
    "nl": "Dutch",
    "en": "English",
}

_TOKEN = re.compile(r"⟦\d+⟧")
_PIECES = re.compile(r"(⟦\d+⟧|\s+)")
_WORD = re.compile(r"^(\W*)(.*?)(\W*)$", re.UNICODE)
_TRANSLATE_SYSTEM = re.compile(r"Translate the text from (.+?) into (.+?)\.")
_TEXT_BLOCK = re.compile(r"<text>\n(.*)\n</text>", re.DOTALL)
_SOURCES_BLOCK = re.compile(r"<sources>\n(.*)\n</sources>", re.DOTALL)
_WRITTEN_IN = re.compile(r"written in ([A-Z][a-z]+)")
_LABELLED = re.compile(r"^([^\W\d_]+):\s?(.*)$", re.UNICODE)

# How a summary strings its sources together, per language: an opening, a phrase before
# each further source, and a closing sentence (none of them words of the prompts' cues).
SUMMARY_FRAMES: dict[str, tuple[str, str, str]] = {
    "Italian": (
        "Le fonti raccontano la stessa vicenda.",
        "Un altro articolo riferisce",
        "I resoconti concordano sui fatti principali.",
    ),
    "English": (
        "The sources report the same story.",
        "Another article reports",
        "The reports agree on the main facts.",
    ),
    "French": (
        "Les sources racontent la même histoire.",
        "Un autre article rapporte",
        "Les récits concordent sur les faits principaux.",
    ),
    "German": (
        "Die Quellen berichten über dieselbe Geschichte.",
        "Ein weiterer Artikel berichtet",
        "Die Berichte stimmen in den wichtigsten Tatsachen überein.",
    ),
    "Spanish": (
        "Las fuentes cuentan la misma historia.",
        "Otro artículo informa",
        "Los relatos coinciden en los hechos principales.",
    ),
    "Portuguese": (
        "As fontes contam a mesma história.",
        "Outro artigo relata",
        "Os relatos concordam nos fatos principais.",
    ),
}
JUDGE_REASONS = (
    "Accurate and complete for what was asked, and clearly written.",
    "Correct, on topic and faithful to the given material.",
    "Does what was asked with the detail the task needs.",
)


def rough_tokens(text: str) -> int:
    """Token usage as the stand-in reports it: about 4 UTF-8 bytes a token."""
    return math.ceil(len(text.encode("utf-8")) / 4) if text else 0


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big")


def _messages(body: dict[str, Any]) -> tuple[str, str]:
    """(system text, last user text) of a chat body."""
    messages = body.get("messages") or []
    system = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "system")
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    return system, users[-1] if users else ""


def stage_of(body: dict[str, Any]) -> str:
    """Which synthlake prompt a request carries: translate, judge, summarize or ask."""
    system, user = _messages(body)
    if _TRANSLATE_SYSTEM.search(system) and "<text>" in user:
        return "translate"
    if "<response>" in user and "Rate the " in user:
        return "judge"
    if "<sources>" in user:
        return "summarize"
    return "ask"


def answer(body: dict[str, Any]) -> str:
    """The stand-in model's answer to one chat-completions body (before stop/max_tokens)."""
    stage = stage_of(body)
    system, user = _messages(body)
    if stage == "translate":
        target = _TRANSLATE_SYSTEM.search(system).group(2)  # type: ignore[union-attr]
        match = _TEXT_BLOCK.search(user)
        return translate(match.group(1) if match else user, target)
    if stage == "judge":
        key = _digest(user)
        score = 5 if key % 3 == 0 else 4
        return f"{score}\n{JUDGE_REASONS[key % len(JUDGE_REASONS)]}"
    if stage == "summarize":
        found = _WRITTEN_IN.search(user)
        language = found.group(1) if found and "Sei un redattore" not in system else "Italian"
        limit = body.get("max_tokens") or body.get("max_completion_tokens") or 256
        match = _SOURCES_BLOCK.search(user)
        return summarize(match.group(1) if match else user, language, max_tokens=int(limit))
    return "A short answer to the question, in its own language."


def apply_stop(text: str, stop: Any) -> str:
    """Cut ``text`` at the first stop sequence, as OpenAI-compatible servers do."""
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    return text if cut < 0 else text[:cut]


# --- translation ---------------------------------------------------------------------------
def _by_length(language: str) -> dict[int, list[str]]:
    words = VOCABULARY.get(language) or VOCABULARY["English"]
    table: dict[int, list[str]] = {}
    for word in words.split():
        table.setdefault(len(word), []).append(word)
    return table


_TABLES: dict[str, dict[int, list[str]]] = {}


def _word_like(word: str, language: str) -> str:
    """A word of ``language`` about as long as ``word``, chosen by a hash of ``word``."""
    table = _TABLES.get(language)
    if table is None:
        table = _TABLES[language] = _by_length(language)
    length = min(table, key=lambda n: (abs(n - len(word)), n))
    choices = table[length]
    chosen = choices[_digest(language, word.lower()) % len(choices)]
    if word[:1].isupper():
        chosen = chosen[:1].upper() + chosen[1:]
    return chosen


def translate(text: str, language_name: str) -> str:
    """``text`` rendered in the target language word for word; tokens and layout kept."""
    language = language_name if language_name in VOCABULARY else "English"
    out: list[str] = []
    for piece in _PIECES.split(text):
        if not piece or piece.isspace() or _TOKEN.fullmatch(piece):
            out.append(piece)
            continue
        lead, core, trail = _WORD.match(piece).groups()  # type: ignore[union-attr]
        if not any(ch.isalpha() for ch in core):
            out.append(piece)  # punctuation, symbols: kept as they are
            continue
        out.append(lead + _word_like(core, language) + trail)
    result = "".join(out)
    if result == text:  # only possible for text made of the vocabulary's own words
        result = result + ("." if not result.endswith(".") else "")
    return result


# --- summaries -----------------------------------------------------------------------------
def _sources(block: str) -> list[tuple[str, str]]:
    """(title, content) of each source in a ``Label: title\\nLabel: content`` block."""
    out = []
    for chunk in block.split("\n\n"):
        lines = [line for line in chunk.splitlines() if line.strip()]
        if not lines:
            continue
        first = _LABELLED.match(lines[0])
        title = first.group(2) if first else lines[0]
        rest = lines[1:]
        if rest:
            second = _LABELLED.match(rest[0])
            rest[0] = second.group(2) if second else rest[0]
        out.append((title.strip(), " ".join(rest).strip()))
    return out


def summarize(block: str, language: str, *, max_tokens: int) -> str:
    """A text naming every source (title, then the opening words of its lead), within
    ``max_tokens`` (about 4 bytes a token). The sources get the room first; the phrases
    that join them only what is left, so a tight cap still yields a text close to every
    source."""
    opening, further, closing = SUMMARY_FRAMES.get(language, SUMMARY_FRAMES["English"])
    sources = _sources(block) or [(block[:120], "")]
    budget = max_tokens * 4 - 8  # bytes
    framed = len((opening + closing).encode()) + (len(further.encode()) + 6) * len(sources)
    frame = budget - framed >= 80 * len(sources)  # room for the phrases and real content
    room = budget - (framed if frame else 6 * len(sources))
    per_source = max(16, room // len(sources))

    def piece(title: str, lead: str) -> str:
        words = title.split()
        text = " ".join(words)
        lead_words = lead.split()[:12]
        while lead_words and len((text + ": " + " ".join(lead_words)).encode()) > per_source:
            lead_words = lead_words[:-1]
        if len(lead_words) >= 3:
            text += ": " + " ".join(lead_words)
        while len(text.encode("utf-8")) > per_source and len(words) > 2:
            words = words[:-1]
            text = " ".join(words)
        return text.rstrip(" .;:,")

    parts = [opening] if frame else []
    for k, (title, lead) in enumerate(sources):
        joined = f"{further} " if frame and k else ""
        parts.append(f"{joined}«{piece(title, lead)}».")
    if frame:
        parts.append(closing)
    summary = " ".join(parts)
    while rough_tokens(summary) > max_tokens and len(parts) > 1:
        parts.pop()  # a guard for caps too small for every source
        summary = " ".join(parts)
    return summary

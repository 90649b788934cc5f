"""Text helpers for the news integration: leads, chunks, boilerplate, URL keys, entities.

Outlet boilerplate is stripped before embedding and near-duplicate detection: an agency's
dateline ("MILANO, 08 GEN - ") and sign-off ("(ANSA).") make every article of that agency
look alike, which pulls unrelated stories together and hides syndicated copies whose only
difference is the credit line. Hand-written regular expressions, because no library knows
Italian agency datelines.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

# "MILANO, 08 GEN - ", "ROMA, 6 gennaio 2024 - ", "VISSO (MACERATA), 04 GEN – "
_DATELINE = re.compile(
    r"^\s*[A-ZÀ-ÝŽ][A-ZÀ-ÝŽ'’ .\-]{1,40}(?:\s*\([A-ZÀ-Ýa-zà-ý'’ .\-]{1,30}\))?\s*,\s*"
    r"\d{1,2}\s+[A-Za-zÀ-ý]{3,10}\.?(?:\s+\d{4})?\s*[-–—]\s*"
)
# "(ANSA).", "(AGI)", "(Adnkronos)", "- RIPRODUZIONE RISERVATA"
_SIGN_OFF = re.compile(
    r"\s*(?:\((?:ANSA|AGI|ADNKRONOS|Adnkronos|LaPresse|Askanews|Dire|DIRE|Italpress)\)\.?"
    r"|[-–—]?\s*RIPRODUZIONE RISERVATA\.?)\s*$"
)
_WORD = re.compile(r"\w+", re.UNICODE)
_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?…»])\s+")


def paragraphs(content: str | None) -> list[str]:
    """The body's paragraphs (blank-line separated, as staging stores them), stripped."""
    return [p.strip() for p in _PARAGRAPHS.split(content or "") if p.strip()]


def strip_boilerplate(paragraph: str) -> str:
    """A paragraph without an agency dateline at its start or a credit line at its end."""
    text = _DATELINE.sub("", paragraph, count=1)
    text = _SIGN_OFF.sub("", text)
    return text.strip()


def clean_paragraphs(content: str | None) -> list[str]:
    out = []
    for paragraph in paragraphs(content):
        cleaned = strip_boilerplate(paragraph)
        if cleaned:
            out.append(cleaned)
    return out


def lead(content: str | None, min_words: int = 30, max_words: int = 120) -> str:
    """The opening of the body: whole paragraphs until ``min_words`` (at most ``max_words``)."""
    picked: list[str] = []
    count = 0
    for paragraph in clean_paragraphs(content):
        words = paragraph.split()
        if count + len(words) > max_words:
            room = max_words - count
            if room > 0 and not picked:
                picked.append(" ".join(words[:room]))
            break
        picked.append(paragraph)
        count += len(words)
        if count >= min_words:
            break
    return "\n\n".join(picked)


def chunks(content: str | None, words_per_chunk: int = 120) -> list[str]:
    """The body as consecutive pieces of about ``words_per_chunk`` words, on paragraph breaks.

    A paragraph longer than a chunk is cut on sentence ends (or words, failing those).
    """
    pieces: list[str] = []
    current: list[str] = []
    count = 0
    for paragraph in clean_paragraphs(content):
        for part in _split_long(paragraph, words_per_chunk):
            n = len(part.split())
            if current and count + n > words_per_chunk:
                pieces.append("\n\n".join(current))
                current, count = [], 0
            current.append(part)
            count += n
    if current:
        pieces.append("\n\n".join(current))
    return pieces


def _split_long(paragraph: str, limit: int) -> list[str]:
    words = paragraph.split()
    if len(words) <= limit:
        return [paragraph]
    out: list[str] = []
    current: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        sentence_words = sentence.split()
        if len(sentence_words) > limit:
            if current:
                out.append(" ".join(current))
                current = []
            for i in range(0, len(sentence_words), limit):
                out.append(" ".join(sentence_words[i : i + limit]))
            continue
        if current and len(current) + len(sentence_words) > limit:
            out.append(" ".join(current))
            current = []
        current.extend(sentence_words)
    if current:
        out.append(" ".join(current))
    return out


def normalize_for_hash(text: str | None) -> str:
    """Case-folded words without accents, punctuation or boilerplate: for exact-copy keys."""
    body = " ".join(clean_paragraphs(text))
    decomposed = unicodedata.normalize("NFKD", body.casefold())
    # Combining marks are looked up once per distinct character, not once per character:
    # a body has ~100 distinct characters among thousands (this was half the dedup's time).
    marks = {ord(c): None for c in set(decomposed) if unicodedata.combining(c)}
    return " ".join(_WORD.findall(decomposed.translate(marks)))


def shingles(text: str | None, size: int = 5) -> set[str]:
    """Word ``size``-grams of the normalized body (a short body gives its whole text)."""
    return normalized_shingles(normalize_for_hash(text), size)


def normalized_shingles(normalized: str, size: int = 5) -> set[str]:
    """Word ``size``-grams of a text already through ``normalize_for_hash``."""
    words = normalized.split()
    if len(words) < size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def url_key(url: str | None) -> str:
    """Host without ``www.`` and path without trailing slash, lower-cased; no query."""
    if not url:
        return ""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    path = parts.path.rstrip("/") or "/"
    return f"{host}{path}".lower()


# Capitalised words that are not names: articles, prepositions, month and day names (some
# outlets capitalise them in dates), outlet names.
_NOT_ENTITIES = frozenset(
    """il lo la i gli le un uno una e ed o ma se che di a da in con su per tra fra del dello della
    dei degli delle al allo alla ai agli alle nel nello nella nei negli nelle sul sullo sulla sui
    sugli sulle dal dallo dalla dai dagli dalle dopo secondo sono e era anche non piu ci c cosa come
    gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre
    lunedi martedi mercoledi giovedi venerdi sabato domenica ansa agi adnkronos post open foto
    fotogallery video""".split()
)
_NAME = re.compile(r"[^\W\d_][\w\-]*", re.UNICODE)
_NUMBER = re.compile(r"[+\-]?\d[\d.,:%]*\d%?|\d%?")
_CLAUSE = re.compile(r"(?<=[.!?:;])\s+|\n+|[«\"“(]")
_PER_CENTO = re.compile(r"(\d)\s+per\s?cento\b", re.IGNORECASE)  # "40 per cento" is "40%"


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def entity_candidates(*texts: str | None) -> tuple[set[str], set[str]]:
    """Named-entity candidates of an article: (names and figures, sentence-initial words).

    Names are capitalised words inside a sentence or title (Italian capitalises names, not
    common nouns, months or days), case-folded, without accents. Figures are numbers that
    tell a story apart (a magnitude ``4.2``, a time ``3:12``, a score, a share ``+0,6%``),
    not days of the month or years; ``40 per cento`` is the figure ``40%``. A capitalised
    word that opens a sentence may be a name or not: it is returned apart, and counts when
    the same word is a name elsewhere.
    """
    names: set[str] = set()
    initial: set[str] = set()
    for text in texts:
        for clause in _CLAUSE.split(text or ""):
            first = True
            for match in _NAME.finditer(clause):
                word = match.group(0)
                if word[0].isupper():
                    folded = _fold(word)
                    if folded not in _NOT_ENTITIES and len(folded) > 1:
                        (initial if first else names).add(folded)
                first = False
            for match in _NUMBER.finditer(_PER_CENTO.sub(r"\1%", clause)):
                number = match.group(0).strip(".,:")
                plain = number.lstrip("+-")
                if plain.isdigit() and (
                    int(plain) <= 31 or len(plain) == 4 and plain[:2] in ("19", "20")
                ):
                    continue  # a day of the month or a year
                names.add("#" + number.replace(",", "."))
    return names, initial


def words(text: str | None) -> list[str]:
    return _WORD.findall((text or "").casefold())


__all__ = [
    "chunks",
    "clean_paragraphs",
    "entity_candidates",
    "lead",
    "normalize_for_hash",
    "paragraphs",
    "shingles",
    "strip_boilerplate",
    "url_key",
    "words",
]

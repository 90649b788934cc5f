"""Language of articles and summaries (lingua, offline), for prompts and validation.

lingua is restricted to the languages news summaries are written in here, which makes it
both faster and more accurate on short texts than a detector over 75 languages. The
detector is built once per process; its models load lazily on first use.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from synthlake.errors import DependencyMissing

LANGUAGES = ("it", "en", "fr", "de", "es", "pt")
NAMES = {
    "it": ("italiano", "Italian"),
    "en": ("inglese", "English"),
    "fr": ("francese", "French"),
    "de": ("tedesco", "German"),
    "es": ("spagnolo", "Spanish"),
    "pt": ("portoghese", "Portuguese"),
}
MIN_LETTERS = 20  # below this lingua guesses
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Detected:
    language: str | None  # ISO 639-1, None when the text is too short to tell
    confidence: float


@functools.lru_cache(maxsize=1)
def _detector():  # noqa: ANN202 - lingua's type, imported lazily
    try:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
    except ImportError as exc:
        raise DependencyMissing("lingua-language-detector", "language detection") from exc
    languages = [
        Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in LANGUAGES
    ]
    return LanguageDetectorBuilder.from_languages(*languages).build()


def detect(text: str | None) -> Detected:
    """The most likely language of ``text`` among ``LANGUAGES`` and lingua's confidence."""
    text = text or ""
    if len(_LETTER.findall(text)) < MIN_LETTERS:
        return Detected(None, 0.0)
    values = _detector().compute_language_confidence_values(text)
    if not values:
        return Detected(None, 0.0)
    top = values[0]
    return Detected(top.language.iso_code_639_1.name.lower(), float(top.value))


def confidence_of(text: str, language: str) -> float:
    """lingua's confidence that ``text`` is in ``language`` (0 for an unknown language)."""
    if language not in LANGUAGES:
        return 0.0
    for value in _detector().compute_language_confidence_values(text or ""):
        if value.language.iso_code_639_1.name.lower() == language:
            return float(value.value)
    return 0.0


def majority_language(texts: Iterable[str], default: str = "it") -> str:
    """The language most texts are in (ties: ``default`` if among them, else alphabetical)."""
    votes = Counter(d.language for d in map(detect, texts) if d.language)
    if not votes:
        return default
    best = max(votes.values())
    winners = sorted(lang for lang, n in votes.items() if n == best)
    return default if default in winners else winners[0]


__all__ = ["LANGUAGES", "NAMES", "Detected", "confidence_of", "detect", "majority_language"]

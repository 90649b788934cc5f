"""Keep what must survive translation verbatim: code, URLs, numbers, placeholders, layout.

Two mechanisms, because the two kinds of structure fail differently in an LLM's hands:

- **Spans** (fenced and inline code, URLs, e-mail addresses, numbers, template
  placeholders such as ``{name}``, ``%s``, ``${VAR}``, HTML tags) are replaced by numbered
  tokens ``⟦0⟧``, ``⟦1⟧``... before the model sees the text and put back after; a token
  the model lost, duplicated or invented is a verification failure, never a guess.
- **Layout** (line breaks, blank lines, Markdown list markers, headings, quotes, table
  pipes, indentation) never reaches the model at all: the text is cut into *units* (the
  prose of one line, or of a run of soft-wrapped prose lines) and only units are
  translated, then re-assembled into the untouched skeleton.

Hand-written rather than a Markdown parser (markdown-it, mistune): those build an AST and
render it back *normalized* (list markers, emphasis, spacing change), while the promise
here is byte-identical structure; the regexes below only ever cut the text, never rewrite it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TOKEN = re.compile(r"⟦(\d+)⟧")

# Order matters: earlier kinds win where matches overlap (code before URLs before numbers).
_SPAN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "code_block",
        re.compile(
            r"^[ \t]*(?P<fence>```+|~~~+)[^\n]*\n(?:.*?\n)??[ \t]*(?P=fence)[ \t]*$"
            r"|^[ \t]*(?:```+|~~~+)[^\n]*\n.*\Z",  # an unclosed fence runs to the end
            re.MULTILINE | re.DOTALL,
        ),
    ),
    ("inline_code", re.compile(r"(`+)[^`\n](?:.*?[^`\n])??\1(?!`)")),
    ("token", TOKEN),  # a source that already holds our token shape is protected too
    ("url", re.compile(r"\b(?:https?://|ftp://|www\.)[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]}]")),
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    (
        "placeholder",
        re.compile(
            r"\{\{[^{}\n]{1,60}\}\}"  # {{ name }}
            r"|\{[A-Za-z_0-9][^{}\n]{0,40}\}"  # {name}, {0}
            r"|\$\{[^{}\n]{1,40}\}"  # ${VAR}
            r"|%\([A-Za-z_]\w*\)[sdfr]"  # %(name)s
            r"|%[-+ #0]*\d*(?:\.\d+)?[sdifgeExXo](?![A-Za-z])"  # %s, %5.2f
            r"|</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>\n]{0,80})?/?>"  # <br>, <b>, </div>
        ),
    ),
    ("number", re.compile(r"(?<![\w.])[-+]?\d+(?:[.,:/]\d+)*(?:[eE][-+]?\d+)?(?![\w])")),
)
CODE_KINDS = ("code_block", "inline_code")
# Text that every match of a kind contains (one of): a text with none of them is not
# searched for that kind, which cannot change the spans found. Most turns have no "@" or
# "://", and the e-mail and URL patterns were the slowest to fail (the language check
# runs ``prose`` on every turn of 760k rows).
_NEEDS: dict[str, tuple[str, ...]] = {
    "code_block": ("```", "~~~"),
    "inline_code": ("`",),
    "token": ("⟦",),
    "url": ("://", "www."),
    "email": ("@",),
    "placeholder": ("{", "%", "<"),
}

_LIST_PREFIX = re.compile(
    r"^(?P<prefix>[ \t]*(?:(?:[-*+]|\d+[.)]|[A-Za-z][.)])[ \t]+(?:\[[ xX]\][ \t]+)?"
    r"|#{1,6}[ \t]+|>[ \t]*(?:>[ \t]*)*)?)(?P<body>.*?)(?P<suffix>[ \t]*)$",
    re.DOTALL,
)
_SENTENCE_END = re.compile(r"[.!?…。][\"')\]]*(\s+)(?=[^\sa-z])")
_LETTER = re.compile(r"[^\W\d_]")
_NOT_LETTERS = re.compile(r"[\W\d_]+")  # the complement of _LETTER, in runs


@dataclass(slots=True)
class Protected:
    """A text with its spans replaced by tokens; ``spans[i]`` is what ``⟦i⟧`` stands for."""

    masked: str
    spans: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    @property
    def code_chars(self) -> int:
        return sum(len(s) for s, k in zip(self.spans, self.kinds, strict=True) if k in CODE_KINDS)


# Numbers that are layout, not content: "1." / "2)" list markers stay visible to the
# layout pass (they are skeleton there, so they survive verbatim all the same).
_LIST_NUMBER = re.compile(r"^[ \t]*(?:>[ \t]*)*\d+[.)](?=[ \t])", re.MULTILINE)


def protect(text: str) -> Protected:
    """Replace every protected span by a numbered token."""
    taken: list[tuple[int, int, str]] = [
        (m.start(), m.end(), "") for m in _LIST_NUMBER.finditer(text)
    ]
    for kind, pattern in _SPAN_PATTERNS:
        needs = _NEEDS.get(kind)
        if needs and not any(literal in text for literal in needs):
            continue
        for match in pattern.finditer(text):
            start, end = match.span()
            if end > start and not any(s < end and start < e for s, e, _ in taken):
                taken.append((start, end, kind))
    taken = sorted(span for span in taken if span[2])  # list markers: left as they are
    out, spans, kinds, last = [], [], [], 0
    for start, end, kind in taken:
        out.append(text[last:start])
        out.append(f"⟦{len(spans)}⟧")
        spans.append(text[start:end])
        kinds.append(kind)
        last = end
    out.append(text[last:])
    return Protected("".join(out), spans, kinds)


@dataclass(slots=True)
class Restored:
    text: str
    missing: list[int]
    repeated: list[int]
    unknown: list[str]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.repeated or self.unknown)


def restore(translated: str, spans: list[str], expected: list[int] | None = None) -> Restored:
    """Put the spans back; report tokens that were lost, repeated or invented.

    ``expected`` lists the token numbers the translated piece should hold (default: all).
    """
    wanted = set(range(len(spans)) if expected is None else expected)
    found = [int(m.group(1)) for m in TOKEN.finditer(translated)]
    missing = sorted(wanted - set(found))
    repeated = sorted({n for n in found if found.count(n) > 1})
    unknown = sorted({f"⟦{n}⟧" for n in found if n not in wanted})

    def put_back(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return spans[n] if n in wanted and n < len(spans) else match.group(0)

    return Restored(TOKEN.sub(put_back, translated), missing, repeated, unknown)


def prose(text: str) -> str:
    """The text with protected spans removed: what language ID and length checks look at."""
    return TOKEN.sub(" ", protect(text).masked)


def letters(text: str) -> int:
    r"""How many letters (``[^\W\d_]``): what is left once the runs of non-letters are
    removed (half the time of a list of every letter)."""
    return len(_NOT_LETTERS.sub("", text))


# --- layout --------------------------------------------------------------------------------
@dataclass(slots=True)
class Unit:
    """A piece of masked prose to translate; ``tokens`` are the span numbers inside it."""

    text: str
    tokens: list[int]


@dataclass(slots=True)
class Layout:
    """A masked text cut into fixed skeleton strings and translatable units, in order.

    ``parts`` alternate freely: a ``str`` is kept verbatim, an ``int`` is the index of a
    unit in ``units`` whose translation goes there.
    """

    parts: list[str | int]
    units: list[Unit]

    def assemble(self, translations: list[str]) -> str:
        if len(translations) != len(self.units):
            raise ValueError(f"need {len(self.units)} translations, got {len(translations)}")
        return "".join(p if isinstance(p, str) else translations[p] for p in self.parts)


def _tokens_in(text: str) -> list[int]:
    return [int(m.group(1)) for m in TOKEN.finditer(text)]


def split_layout(masked: str) -> Layout:
    """Cut a masked text into skeleton and units (one unit per line of prose).

    Consecutive plain prose lines (no list marker, heading, quote or table) form one
    unit, newlines included, so a hard-wrapped sentence is never translated in halves. A
    line without letters (a code token, a rule, a number) is skeleton.
    """
    parts: list[str | int] = []
    units: list[Unit] = []

    def add_unit(prefix: str, body: str, suffix: str) -> None:
        if prefix:
            parts.append(prefix)
        parts.append(len(units))
        units.append(Unit(body, _tokens_in(body)))
        if suffix:
            parts.append(suffix)

    lines = masked.split("\n")
    i = 0
    while i < len(lines):
        if i:
            parts.append("\n")
        line = lines[i]
        if not _LETTER.search(TOKEN.sub("", line)):
            parts.append(line)
            i += 1
            continue
        if _is_table_row(line):
            _table_row(line, parts, units)
            i += 1
            continue
        match = _LIST_PREFIX.match(line)
        prefix = match["prefix"] or ""
        if prefix.strip():  # a list item, heading or quote: a unit of its own
            add_unit(prefix, match["body"], match["suffix"])
            i += 1
            continue
        run = [line]
        while i + len(run) < len(lines) and _continues(run[-1], lines[i + len(run)]):
            run.append(lines[i + len(run)])
        text = "\n".join(run)
        lead = text[: len(text) - len(text.lstrip(" \t"))]
        body = text[len(lead) :].rstrip(" \t")
        add_unit(lead, body, text[len(lead) + len(body) :])
        i += len(run)
    return Layout(parts, units)


def _is_table_row(line: str) -> bool:
    return line.lstrip().startswith("|") or line.count(" | ") >= 1


def _continues(previous: str, line: str) -> bool:
    """Is ``line`` the soft-wrapped rest of the sentence on ``previous``?

    Only a line that starts in lower case after a line that does not end a sentence or a
    clause: separate lines ("Revenue: 5" / "Costs: 3") stay separate units, so their line
    breaks never depend on the model.
    """
    if not _LETTER.search(TOKEN.sub("", line)) or _is_table_row(line):
        return False
    if (_LIST_PREFIX.match(line)["prefix"] or "").strip():
        return False
    head = line.lstrip()[:1]
    return head.islower() and not previous.rstrip().endswith((".", "!", "?", ":", ";", "…"))


def _table_row(line: str, parts: list[str | int], units: list[Unit]) -> None:
    for cell in re.split(r"(\|)", line):
        if cell == "|" or not _LETTER.search(TOKEN.sub("", cell)):
            parts.append(cell)
            continue
        stripped = cell.strip()
        parts.append(cell[: len(cell) - len(cell.lstrip())])
        parts.append(len(units))
        units.append(Unit(stripped, _tokens_in(stripped)))
        parts.append(cell[len(cell.rstrip()) :])


def split_sentences(text: str, max_chars: int) -> list[str] | None:
    """Cut a too-long unit at sentence ends into pieces of at most ``max_chars``.

    Returns the pieces *and* the whitespace between them, alternating (piece, space,
    piece...), so that joining them gives back the text exactly; None when a single
    sentence is longer than ``max_chars`` (it cannot be cut without cutting a sentence).
    """
    if len(text) <= max_chars:
        return [text]
    sentences: list[str] = []
    gaps: list[str] = []
    last = 0
    for match in _SENTENCE_END.finditer(text):
        sentences.append(text[last : match.start(1)])
        gaps.append(match.group(1))
        last = match.end(1)
    sentences.append(text[last:])
    if any(len(s) > max_chars for s in sentences):
        return None
    out: list[str] = []
    current = sentences[0]
    for gap, sentence in zip(gaps, sentences[1:], strict=True):
        if len(current) + len(gap) + len(sentence) <= max_chars:
            current += gap + sentence
        else:
            out += [current, gap]
            current = sentence
    out.append(current)
    return out


def fit_layout(layout: Layout, max_chars: int) -> Layout | None:
    """The layout with every unit longer than ``max_chars`` cut at sentence ends.

    None when some sentence is longer than ``max_chars`` on its own.
    """
    parts: list[str | int] = []
    units: list[Unit] = []
    for part in layout.parts:
        if isinstance(part, str):
            parts.append(part)
            continue
        pieces = split_sentences(layout.units[part].text, max_chars)
        if pieces is None:
            return None
        for k, piece in enumerate(pieces):
            if k % 2:
                parts.append(piece)  # the whitespace between two pieces
            else:
                parts.append(len(units))
                units.append(Unit(piece, _tokens_in(piece)))
    return Layout(parts, units)

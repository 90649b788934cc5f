"""The text blocks of an HTML page or fragment: what the scrapers and normalization share.

``extract.py`` (pages) and ``normalize.py`` (fields that arrive with markup in them) both need
these; they live here so that neither imports the other's helpers at call time.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

BLOCK_TAGS = ("p", "h2", "h3", "h4", "h5", "li", "blockquote", "pre")
SKIP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "iframe",
        "form",
        "button",
        "aside",
        "figure",
        "figcaption",
        "nav",
        "footer",
        "header",
        "svg",
        "template",
        "video",
        "audio",
        "object",
        "select",
        "input",
        "label",
    }
)
# Class/id words of things inside an article body that are not its text.
SKIP_WORDS = re.compile(
    r"(?:^|[-_ ])(?:adv?|ads|advert\w*|banner|related|correlat\w*|share|sharing|social|"
    r"newsletter|player|promo|paywall|subscribe|abbonati|gallery|embed|cookie)(?:[-_ ]|$)",
    re.IGNORECASE,
)
_BR = "\x00"


def parse_html(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "lxml")


def squash(text: str | None) -> str:
    return " ".join((text or "").split())


def _skipped(tag: Tag) -> bool:
    if tag.name in SKIP_TAGS:
        return True
    words = " ".join([*(tag.get("class") or []), tag.get("id") or ""])
    return bool(words.strip()) and bool(SKIP_WORDS.search(words))


def inline_text(tag: Tag) -> str:
    """The text of one block: inline parts joined as written, ``<br>`` as a space."""
    parts: list[str] = []

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                parts.append(str(child))
            elif isinstance(child, Tag):
                if child.name == "br":
                    parts.append(" ")
                elif not _skipped(child):
                    walk(child)

    walk(tag)
    return squash("".join(parts))


def body_blocks(container: Tag) -> list[str]:
    """One string per leaf text block of ``container``, skipping ads, players, asides."""
    blocks: list[str] = []

    def walk(node: Tag) -> None:
        for child in node.children:
            if not isinstance(child, Tag) or _skipped(child):
                continue
            if child.name in BLOCK_TAGS and not child.find(BLOCK_TAGS):
                text = inline_text(child)
                if text:
                    blocks.append(text)
            else:
                walk(child)

    walk(container)
    if not blocks:
        # Old templates put the text straight into the container, split by <br><br>.
        # Source newlines are only layout; each run of <br> (marked \x00) ends a paragraph.
        blocks = [squash(part) for part in _loose_text(container).split(_BR) if part.strip()]
    return blocks


def _loose_text(node: Tag) -> str:
    parts: list[str] = []
    for child in node.children:
        if isinstance(child, Comment):
            continue
        if isinstance(child, NavigableString):
            parts.append(str(child))
        elif isinstance(child, Tag) and child.name == "br":
            parts.append(_BR)
        elif isinstance(child, Tag) and not _skipped(child):
            parts.append(_loose_text(child))
    return "".join(parts)

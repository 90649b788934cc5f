"""The one place that turns an extracted article (from a file or a scraper) into a lake row.

Whatever produced the record (a user's crawl in JSONL/CSV/Parquet, or synthlake's own
scrapers), it passes through :func:`normalize_article`: canonical URL, outlet, a
timezone-aware ``published_at``, tags as a list, clean paragraphs, a content hash. A record
that cannot become an article comes back as a :class:`~synthlake.rejects.Reject` with the
reason, never as an exception.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from ingest.news.dates import DateSource, parse_published
from synthlake.lake import content_hash, short_id
from synthlake.rejects import Reject
from synthlake.settings import PROJECT_DIR

OUTLETS_SEED = PROJECT_DIR / "seeds" / "news_outlets.csv"

# Field names seen in crawls, first match wins.
URL_KEYS = ("url", "link", "canonical_url")
TITLE_KEYS = ("title", "headline")
SUBTITLE_KEYS = ("subtitle", "description", "summary", "lead")
AUTHOR_KEYS = ("author", "authors", "byline")
DATE_KEYS = ("published_at", "date", "datePublished", "published", "pubDate")
TAG_KEYS = ("tags", "keywords", "section", "sections", "categories", "category")
BODY_KEYS = ("content", "body", "text", "articleBody", "paragraphs")
OUTLET_KEYS = ("outlet", "source_site", "site")

# Placeholders that page scripts leave in the text (players, galleries, footers).
BOILERPLATE = re.compile(
    r"^(caricamento (player|video|in corso)\.*|riproduzione riservata.*|"
    r"©\s*riproduzione riservata.*|leggi anche:?.*|guarda il video.*|"
    r"iscriviti alla newsletter.*|pubblicità)$",
    re.IGNORECASE,
)
TRACKING_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|ref|refresh_ce)$", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_TAG_SPLIT = re.compile(r"\s*[,;|]\s*")


@dataclass(slots=True)
class Article:
    """A normalized article, ready to be written to lake/raw/news."""

    article_id: str
    url: str
    outlet: str
    title: str
    subtitle: str | None
    author: str | None
    published_at: datetime | None
    published_at_text: str | None
    published_at_source: DateSource
    tags: list[str] = field(default_factory=list)
    content: str = ""
    source: str = ""
    locator: str = ""
    content_hash: str = ""


@lru_cache(maxsize=4)
def outlet_domains(seed: Path = OUTLETS_SEED) -> dict[str, str]:
    """Registered domain -> outlet slug, from seeds/news_outlets.csv."""
    if not seed.is_file():
        return {}
    with seed.open(newline="", encoding="utf-8") as handle:
        return {row["domain"].lower(): row["outlet"] for row in csv.DictReader(handle)}


def clean_text(text: str) -> str:
    """NFC, no invisible characters, single spaces; keeps newlines."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(lines).strip()


def clean_paragraphs(body: str | Sequence[str]) -> list[str]:
    """Paragraphs with whitespace fixed and boilerplate dropped.

    A string body is split on blank lines when it has any, else on single newlines (crawls
    write one paragraph per line); a list body is taken as the paragraphs.
    """
    if isinstance(body, str):
        text = clean_text(body)
        parts = _PARAGRAPH_BREAK.split(text) if _PARAGRAPH_BREAK.search(text) else text.split("\n")
    else:
        parts = [clean_text(str(p)) for p in body if p is not None]
    paragraphs = []
    for part in parts:
        paragraph = " ".join(part.split())
        if paragraph and not BOILERPLATE.match(paragraph):
            paragraphs.append(paragraph)
    return paragraphs


def canonical_url(url: str) -> str | None:
    """Lower-case scheme/host, no fragment, no tracking parameters; None if not http(s)."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if not TRACKING_PARAMS.match(k)])
    host = parts.hostname.lower() + (f":{parts.port}" if parts.port else "")
    return urlunsplit(
        ("https" if parts.scheme.lower() == "https" else "http", host, parts.path or "/", query, "")
    )


def outlet_for(url: str, given: str | None) -> str:
    if given and given.strip():
        return re.sub(r"[^a-z0-9]+", "", given.strip().lower()) or given.strip().lower()
    host = (urlsplit(url).hostname or "").lower()
    domains = outlet_domains()
    for domain, outlet in domains.items():
        if host == domain or host.endswith("." + domain):
            return outlet
    return host.removeprefix("www.")


def parse_tags(value: Any) -> list[str]:
    """Tags as a list of strings; a string is split on , ; | (never into characters)."""
    if value is None:
        return []
    if isinstance(value, str):
        items = _TAG_SPLIT.split(value)
    elif isinstance(value, Mapping):
        items = [str(v) for v in value.values()]
    else:
        items = [str(v) for v in value if v is not None]
    seen: dict[str, None] = {}
    for item in items:
        tag = " ".join(clean_text(item).split())
        if tag and tag.lower() not in {t.lower() for t in seen}:
            seen[tag] = None
    return list(seen)


def _first(record: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        value = record.get(key)
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value
    return None


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value if v)
    if isinstance(value, Mapping):
        value = value.get("name") or ""
    text = " ".join(clean_text(str(value)).split())
    return text or None


def normalize_article(
    record: Mapping[str, Any], *, source: str, locator: str, tz: ZoneInfo
) -> Article | Reject:
    """Normalize one extracted article, or say why it cannot be one."""

    def reject(reason: str, detail: str) -> Reject:
        return Reject("news", source, locator, reason, detail, dict(record))

    raw_url = _first(record, URL_KEYS)
    if raw_url is None:
        return reject("missing_url", "no url/link field")
    url = canonical_url(str(raw_url))
    if url is None:
        return reject("invalid_url", f"not an http(s) URL: {str(raw_url)[:200]}")
    title = _text_or_none(_first(record, TITLE_KEYS))
    if title is None:
        return reject("missing_title", f"{url} has no title")
    body = _first(record, BODY_KEYS)
    paragraphs = clean_paragraphs(body) if body is not None else []
    if not paragraphs:
        return reject("empty_content", f"{url} has no body text")
    content = "\n\n".join(paragraphs)

    date_value = _first(record, DATE_KEYS)
    parsed = parse_published(date_value, tz)
    subtitle = _text_or_none(_first(record, SUBTITLE_KEYS))
    return Article(
        article_id=short_id(url),
        url=url,
        outlet=outlet_for(url, _text_or_none(_first(record, OUTLET_KEYS))),
        title=title,
        subtitle=subtitle,
        author=_text_or_none(_first(record, AUTHOR_KEYS)),
        published_at=parsed.value,
        published_at_text=None if date_value is None else str(date_value),
        published_at_source=parsed.source,
        tags=parse_tags(_first(record, TAG_KEYS)),
        content=content,
        source=source,
        locator=locator,
        content_hash=content_hash(title, subtitle, content),
    )

"""The one place that turns an extracted article (from a file or a scraper) into a lake row.

Whatever produced the record (a user's crawl in JSONL/CSV/Parquet, or synthlake's own
scrapers), it passes through :func:`normalize_article`: canonical URL, outlet, a
timezone-aware ``published_at``, tags as a list, clean paragraphs, a content hash. A record
that cannot become an article comes back as a :class:`~synthlake.rejects.Reject` with the
reason, never as an exception:

- a field of the wrong type (``"content": 42``, ``"tags": 5``, ``"content": {"a": 1}``) is
  ``invalid_field``, naming the field;
- an article longer than ``max_chars`` (title, subtitle and body) is ``too_large``.

A web archive snapshot URL (``synthlake.ingest.news.archive``) is stored as its original URL (the
article's identity and outlet), with ``snapshot_url`` and ``captured_at`` beside it. Text that
looks like HTML (``<p>``, ``<script>``, ``&amp;``) is reduced to its text with the scrapers'
extraction code; entities are unescaped; control characters (NUL...) and lone surrogates are
dropped. The event time comes from :func:`synthlake.ingest.news.dates.event_time`; what was
odd about
the date but did not stop the row (``unparsed_date``, ``future_date``) goes into ``flags``.
"""

from __future__ import annotations

import csv
import html
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

from synthlake.ingest.news.archive import ARCHIVE_HOSTS, split_snapshot
from synthlake.ingest.news.dates import DateSource, event_time
from synthlake.ingest.news.html_blocks import body_blocks, parse_html

from synthlake.errors import ParseError
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
SNAPSHOT_KEYS = ("snapshot_url", "archive_url", "wayback_url")

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
# C0/C1 control characters other than tab, newline and carriage return (NUL, ESC, ...).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Markup worth extracting text from: a known HTML tag, or an entity.
_HTML_TAG = re.compile(
    r"</?(?:p|div|span|br|hr|a|b|i|u|em|strong|small|sup|sub|h[1-6]|ul|ol|li|blockquote|"
    r"script|style|noscript|iframe|img|figure|figcaption|table|tr|td|th|section|article|"
    r"header|footer|aside|nav|html|head|body|main|font|center|pre|code)\b[^>]*>",
    re.IGNORECASE,
)
_ENTITY = re.compile(r"&(?:#\d{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});", re.IGNORECASE)


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
    snapshot_url: str | None = None  # the archive copy the text was read from
    captured_at: datetime | None = None  # when the archive captured it (UTC)
    flags: list[str] = field(default_factory=list)  # kept-but-odd: unparsed_date, future_date


@lru_cache(maxsize=4)
def outlet_domains(seed: Path = OUTLETS_SEED) -> dict[str, str]:
    """Registered domain -> outlet slug, from seeds/news_outlets.csv."""
    if not seed.is_file():
        return {}
    with seed.open(newline="", encoding="utf-8") as handle:
        return {row["domain"].lower(): row["outlet"] for row in csv.DictReader(handle)}


def clean_text(text: str) -> str:
    """NFC, no invisible or control characters, single spaces; keeps newlines."""
    text = _SURROGATE.sub("", _CONTROL.sub("", text.replace("\r\n", "\n")))
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(lines).strip()


def clean_paragraphs(body: str | Sequence[str]) -> list[str]:
    """Paragraphs with whitespace fixed, markup reduced to text and boilerplate dropped.

    A string body is split on blank lines when it has any, else on single newlines (crawls
    write one paragraph per line); a list body is taken as the paragraphs.
    """
    if isinstance(body, str):
        text = clean_text(plain_text(body))
        parts = _PARAGRAPH_BREAK.split(text) if _PARAGRAPH_BREAK.search(text) else text.split("\n")
    else:
        parts = [clean_text(plain_text(str(p))) for p in body if p is not None]
    paragraphs = []
    for part in parts:
        paragraph = " ".join(part.split())
        if paragraph and not BOILERPLATE.match(paragraph):
            paragraphs.append(paragraph)
    return paragraphs


def looks_like_html(text: str) -> bool:
    return bool(_HTML_TAG.search(text) or _ENTITY.search(text))


def html_paragraphs(text: str) -> list[str]:
    """The text blocks of an HTML fragment (scripts, styles, players left out)."""
    soup = parse_html(f"<div>{_CONTROL.sub('', text)}</div>")
    root = soup.find("div")
    if root is None:
        return []
    for heading in root.find_all("h1"):
        heading.name = "h2"  # inside a field, a top heading is text too (extract skips h1)
    return body_blocks(root)


def plain_text(text: str) -> str:
    """``text`` without markup: HTML reduced to its text, entities unescaped."""
    if _HTML_TAG.search(text):
        return "\n".join(html_paragraphs(text))
    return html.unescape(text) if _ENTITY.search(text) else text


def canonical_url(url: str) -> str | None:
    """Lower-case scheme/host, no fragment, no tracking parameters; None if not http(s)."""
    parts = urlsplit(_SURROGATE.sub("", _CONTROL.sub("", url)).strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if not TRACKING_PARAMS.match(k)])
    host = parts.hostname.lower() + (f":{parts.port}" if parts.port else "")
    scheme = parts.scheme.lower()
    if scheme == "http" and not parts.port and _outlet_domain(parts.hostname.lower()):
        # The outlets serve https only; archived links often keep the old http form.
        scheme = "https"
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


def _outlet_domain(host: str) -> str | None:
    for domain in outlet_domains():
        if host == domain or host.endswith("." + domain):
            return domain
    return None


def outlet_for(url: str, given: str | None) -> str:
    """The record's outlet, else the one the seed gives the URL's domain, else the host.

    A given outlet that is a host name ("www.ilpost.it") is looked up like the URL's; an
    archive's host ("web.archive.org") is never an outlet.
    """
    given = (given or "").strip().lower()
    if given and "." in given and " " not in given:
        host = given.removeprefix("https://").removeprefix("http://").split("/")[0]
        if host not in ARCHIVE_HOSTS:
            return _outlet_of_host(host)
    elif given:
        return re.sub(r"[^a-z0-9]+", "", given) or given
    return _outlet_of_host((urlsplit(url).hostname or "").lower())


def _outlet_of_host(host: str) -> str:
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
        tag = " ".join(clean_text(plain_text(item)).split())
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
    text = " ".join(clean_text(plain_text(str(value))).split())
    return text or None


class _InvalidField(ParseError):
    """A field whose type no article field can take; becomes an ``invalid_field`` reject."""


def _is_text_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(v is None or isinstance(v, str) for v in value)


def _check_types(record: Mapping[str, Any]) -> None:
    """Raise ``_InvalidField`` naming the first field whose type no article field can take.

    The date is not checked here: a date of any other type is an ``unparsed_date`` flag.
    """

    def bad(key: str, expected: str) -> _InvalidField:
        value = record[key]
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return _InvalidField(
            f"field {key!r} is {type(value).__name__} {shown}, expected {expected}"
        )

    def chosen(keys: Sequence[str]) -> str | None:
        for key in keys:
            value = record.get(key)
            if value is not None and not (isinstance(value, str) and not value.strip()):
                return key
        return None

    checks: list[tuple[Sequence[str], Any, str]] = [
        (URL_KEYS, lambda v: isinstance(v, str), "a URL string"),
        (SNAPSHOT_KEYS, lambda v: isinstance(v, str), "a URL string"),
        (TITLE_KEYS, lambda v: isinstance(v, str), "text"),
        (SUBTITLE_KEYS, lambda v: isinstance(v, str) or _is_text_list(v), "text"),
        (OUTLET_KEYS, lambda v: isinstance(v, str), "text"),
        (
            AUTHOR_KEYS,
            lambda v: isinstance(v, str) or _is_text_list(v) or isinstance(v, Mapping),
            "text, a list of names or {name: ...}",
        ),
        (
            BODY_KEYS,
            lambda v: isinstance(v, str) or _is_text_list(v),
            "text or a list of paragraphs",
        ),
        (
            TAG_KEYS,
            lambda v: (
                isinstance(v, str)
                or _is_text_list(v)
                or (isinstance(v, Mapping) and all(isinstance(x, str) for x in v.values()))
            ),
            "text or a list of strings",
        ),
    ]
    for keys, ok, expected in checks:
        key = chosen(keys)
        if key is not None and not ok(record[key]):
            raise bad(key, expected)


def normalize_article(
    record: Mapping[str, Any],
    *,
    source: str,
    locator: str,
    tz: ZoneInfo,
    max_chars: int | None = None,
    now: datetime | None = None,
) -> Article | Reject:
    """Normalize one extracted article, or say why it cannot be one.

    ``max_chars`` caps the text of one article (title, subtitle and body, after cleaning);
    ``now`` is the clock the ``future_date`` flag is measured against.
    """

    def reject(reason: str, detail: str) -> Reject:
        return Reject("news", source, locator, reason, detail, dict(record))

    try:
        _check_types(record)
    except _InvalidField as exc:
        return reject("invalid_field", f"{locator}: {exc}")
    raw_url = _first(record, URL_KEYS)
    if raw_url is None:
        return reject("missing_url", "no url/link field")
    snapshot = split_snapshot(raw_url)
    given_snapshot = _first(record, SNAPSHOT_KEYS)
    if snapshot is None and given_snapshot is not None:
        wrapped = split_snapshot(given_snapshot)
        # A separate snapshot column counts only when it wraps this very URL.
        if wrapped is not None and canonical_url(wrapped.original) == canonical_url(raw_url):
            snapshot = wrapped
    url = canonical_url(snapshot.original if snapshot is not None else raw_url)
    if url is None:
        return reject("invalid_url", f"not an http(s) URL: {raw_url[:200]}")
    title = _text_or_none(_first(record, TITLE_KEYS))
    if title is None:
        return reject("missing_title", f"{url} has no title")
    body = _first(record, BODY_KEYS)
    paragraphs = clean_paragraphs(body) if body is not None else []
    if not paragraphs:
        return reject("empty_content", f"{url} has no body text")
    content = "\n\n".join(paragraphs)
    subtitle = _text_or_none(_first(record, SUBTITLE_KEYS))
    size = len(title) + len(subtitle or "") + len(content)
    if max_chars is not None and size > max_chars:
        return reject(
            "too_large",
            f"{locator}: {url} has {size:,} characters of text, over the cap of {max_chars:,} "
            "(SYNTHLAKE_NEWS_MAX_ARTICLE_CHARS)",
        )

    date_value = _first(record, DATE_KEYS)
    when = event_time(
        date_value,
        url=url,
        captured_at=snapshot.captured_at if snapshot is not None else None,
        tz=tz,
        now=now,
    )
    return Article(
        article_id=short_id(url),
        url=url,
        outlet=outlet_for(url, _text_or_none(_first(record, OUTLET_KEYS))),
        title=title,
        subtitle=subtitle,
        author=_text_or_none(_first(record, AUTHOR_KEYS)),
        published_at=when.published_at,
        published_at_text=None if date_value is None else clean_text(str(date_value)),
        published_at_source=when.source,
        tags=parse_tags(_first(record, TAG_KEYS)),
        content=content,
        source=source,
        locator=locator,
        content_hash=content_hash(title, subtitle, content),
        snapshot_url=clean_text(snapshot.snapshot_url) if snapshot is not None else None,
        captured_at=when.captured_at,
        flags=list(when.flags),
    )

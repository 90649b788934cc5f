"""Article extraction shared by the outlet scrapers (``ansa.py``, ``ilpost.py``, ``open.py``).

A :class:`Scraper` reads a page in this order, stable metadata first:

1. JSON-LD (``NewsArticle``/``Article``, also inside ``@graph``): headline, datePublished,
   author (a Person), keywords, articleSection, description;
2. Open Graph / article meta: ``article:published_time``, ``article:tag``, ``og:title``,
   ``<link rel="canonical">``; ``<time datetime>``;
3. the outlet's own selectors (semantic tags, ``itemprop``, the outlet's long-lived class
   names; never the hashed CSS-module names that change on every deploy), including the
   date as Italian text ("ROMA, 06 gennaio 2024, 18:54"), parsed by ``dates.parse_published``.

The body comes from the outlet's container, one paragraph per leaf block (``<p>``, list
items, subheadings), text joined *inside* a block only (so words are never glued across
blocks) with ``<br>`` read as a space, and with ads, players, related links, figures and
scripts left out. Hand-written because trafilatura, tried on the saved pages, keeps the title
and the copyright line on ANSA and splits Open's paragraphs at ``<br>``; it is the fallback
when the container is missing (the site changed its HTML), and it does keep Il Post's
"Caricamento player" out. JSON-LD ``articleBody`` is the last resort.

What comes out is a plain record (:meth:`ExtractedArticle.as_record`) that goes through
``normalize.normalize_article``, the one place that turns any extracted article into a row.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar, Literal
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

from bs4 import BeautifulSoup
from synthlake.ingest.news.archive import original_url, split_snapshot
from synthlake.ingest.news.dates import parse_published
from synthlake.ingest.news.html_blocks import body_blocks, inline_text, parse_html, squash
from synthlake.ingest.news.normalize import canonical_url, clean_paragraphs, parse_tags

from synthlake.errors import ParseError

logger = logging.getLogger(__name__)

ROME = ZoneInfo("Europe/Rome")
ARTICLE_TYPES = {
    "NewsArticle",
    "Article",
    "ReportageNewsArticle",
    "AnalysisNewsArticle",
    "BlogPosting",
    "OpinionNewsArticle",
    "LiveBlogPosting",
    "ReviewNewsArticle",
}
_BYLINE = re.compile(r"^(?:di|by|a cura di|testo di)\s+", re.IGNORECASE)
_COPYRIGHT = re.compile(r"^(?:©|\(c\)|copyright\b)", re.IGNORECASE)

DateFrom = Literal["jsonld", "meta", "time", "text"]
BodyFrom = Literal["selectors", "trafilatura", "jsonld"]


class ExtractionFailed(ParseError):
    """A fetched page is not an article we can use; ``reason`` goes to the rejects table."""

    def __init__(self, url: str, reason: str, detail: str) -> None:
        super().__init__(f"{url}: {reason} ({detail})")
        self.url = url
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class ExtractedArticle:
    url: str
    outlet: str
    title: str
    subtitle: str | None
    author: str | None
    published: str | None
    published_from: DateFrom | None
    tags: list[str]
    section: str | None
    paragraphs: list[str]
    body_from: BodyFrom

    def as_record(self) -> dict[str, Any]:
        """The record ``normalize_article`` takes (the same keys a crawl file would have)."""
        return {
            "url": self.url,
            "outlet": self.outlet,
            "title": self.title,
            "subtitle": self.subtitle,
            "author": self.author,
            "published_at": self.published,
            "tags": self.tags,
            "body": self.paragraphs,
        }


# --- page-level metadata --------------------------------------------------------------------------


def jsonld_objects(soup: BeautifulSoup) -> Iterator[dict[str, Any]]:
    """Every JSON-LD object on the page, ``@graph`` members included; broken blocks skipped."""
    for script in soup.find_all("script", type=re.compile(r"application/ld\+json", re.I)):
        raw = script.string or script.get_text() or ""
        try:
            data = json.loads(raw.strip().removeprefix("<!--").removesuffix("-->"))
        except json.JSONDecodeError:
            logger.debug("skipping a JSON-LD block that is not valid JSON")
            continue
        stack = data if isinstance(data, list) else [data]
        while stack:
            item = stack.pop(0)
            if not isinstance(item, dict):
                continue
            yield item
            graph = item.get("@graph")
            if isinstance(graph, list):
                stack.extend(graph)


def _types(obj: dict[str, Any]) -> set[str]:
    value = obj.get("@type")
    return set(value) if isinstance(value, list) else {value} if isinstance(value, str) else set()


@dataclass(slots=True)
class JsonLd:
    article: dict[str, Any] | None
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_soup(cls, soup: BeautifulSoup) -> JsonLd:
        objects = list(jsonld_objects(soup))
        by_id = {o["@id"]: o for o in objects if isinstance(o.get("@id"), str)}
        article = next((o for o in objects if _types(o) & ARTICLE_TYPES), None)
        return cls(article, by_id)

    def get(self, key: str) -> Any:
        return None if self.article is None else self.article.get(key)

    def text(self, key: str) -> str | None:
        value = self.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        return squash(value) if isinstance(value, str) else None

    def person(self) -> str | None:
        """The author when it is a person (an Organization byline is the publisher)."""
        value = self.get("author")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                return squash(item) or None
            if isinstance(item, dict):
                if set(item) <= {"@id"} and item.get("@id") in self.by_id:
                    item = self.by_id[item["@id"]]
                if "Person" in _types(item) or not _types(item):
                    name = item.get("name")
                    if isinstance(name, str) and name.strip():
                        return squash(name)
        return None

    def keywords(self) -> list[str]:
        value = self.get("keywords")
        return parse_tags(value) if isinstance(value, (str, list)) else []


def meta_content(soup: BeautifulSoup, *names: str) -> list[str]:
    """Values of ``<meta property|name=...>`` in page order, for any of ``names``."""
    wanted = {n.lower() for n in names}
    values = []
    for tag in soup.find_all("meta"):
        key = (tag.get("property") or tag.get("name") or "").lower()
        if key in wanted and tag.get("content"):
            values.append(squash(tag["content"]))
    return [v for v in values if v]


def canonical_link(soup: BeautifulSoup, base: str) -> str | None:
    for tag in soup.find_all("link", href=True):
        if "canonical" in (tag.get("rel") or []):
            return canonical_url(urljoin(base, tag["href"]))
    og = meta_content(soup, "og:url")
    return canonical_url(urljoin(base, og[0])) if og else None


def trafilatura_paragraphs(html: str, url: str, drop: Iterable[str | None] = ()) -> list[str]:
    """The body as trafilatura sees it, one paragraph per ``<p>``/heading/list item."""
    import trafilatura
    from lxml import etree

    xml = trafilatura.extract(
        html,
        url=url,
        output_format="xml",
        include_comments=False,
        include_tables=False,
        include_images=False,
        favor_precision=True,
        deduplicate=False,
    )
    if not xml:
        return []
    root = etree.fromstring(xml.encode("utf-8"))
    for lb in root.iter("lb"):
        lb.tail = " " + (lb.tail or "")
    skip = {squash(t).lower() for t in drop if t}
    paragraphs = []
    main = root.find("main")
    for element in (main if main is not None else root).iter("p", "head", "item", "quote"):
        if element.tag == "head" and element.get("rend") == "h1":
            continue
        if element.tag != "item" and element.find("p") is not None:
            continue
        text = squash("".join(element.itertext()))
        if text and text.lower() not in skip and not _COPYRIGHT.match(text):
            paragraphs.append(text)
    return paragraphs


# --- the scraper base class -----------------------------------------------------------------------


class Scraper:
    """What an outlet module fills in: its domain, article URL shape and selectors."""

    outlet: ClassVar[str] = ""
    name: ClassVar[str] = ""
    domain: ClassVar[str] = ""
    # Path of an article URL; named groups y, m, d give its date when the path has one.
    article_path: ClassVar[re.Pattern[str]] = re.compile(r"$^")
    not_article_paths: ClassVar[tuple[str, ...]] = ()
    title_selectors: ClassVar[tuple[str, ...]] = ("article h1", "h1")
    subtitle_selectors: ClassVar[tuple[str, ...]] = ()
    author_selectors: ClassVar[tuple[str, ...]] = (
        "[itemprop=author] [itemprop=name]",
        "[itemprop=author]",
        "[rel=author]",
    )
    date_text_selectors: ClassVar[tuple[str, ...]] = ()
    tag_selectors: ClassVar[tuple[str, ...]] = ("article a[rel~=tag]",)
    section_selectors: ClassVar[tuple[str, ...]] = ()
    body_selectors: ClassVar[tuple[str, ...]] = ("[itemprop=articleBody]",)
    title_suffix: ClassVar[re.Pattern[str]] = re.compile(r"\s+[-|–]\s+[^-|–]+$")

    # --- URLs ----------------------------------------------------------------------------------

    # A web archive snapshot of an outlet's page (``synthlake.ingest.news.archive``) is that page:
    # the scrapers take snapshot URLs wherever they take the outlet's own.

    def owns(self, url: str) -> bool:
        host = (urlsplit(original_url(url)).hostname or "").lower()
        return host == self.domain or host.endswith("." + self.domain)

    def is_article_url(self, url: str) -> bool:
        parts = urlsplit(original_url(url))
        if parts.scheme not in ("http", "https") or not self.owns(url):
            return False
        if any(marker in parts.path for marker in self.not_article_paths):
            return False
        return self.article_path.match(parts.path) is not None

    def url_date(self, url: str) -> date | None:
        match = self.article_path.match(urlsplit(original_url(url)).path)
        if match is None or "y" not in match.groupdict():
            return None
        try:
            return date(int(match["y"]), int(match["m"]), int(match["d"]))
        except ValueError:
            return None

    # --- listings ------------------------------------------------------------------------------

    def listing_links(self, soup: BeautifulSoup, page_url: str) -> list[str]:
        """Article URLs a listing page links to, canonical, in page order, once each."""
        found: dict[str, None] = {}
        for anchor in soup.find_all("a", href=True):
            url = canonical_url(urljoin(page_url, anchor["href"].strip()))
            if url and self.is_article_url(url):
                found.setdefault(url, None)
        return list(found)

    def next_page(self, soup: BeautifulSoup, page_url: str) -> str | None:
        """The listing's next page: ``rel=next``, then a pagination link that says so."""
        for tag in soup.find_all(["link", "a"], href=True):
            if "next" in (tag.get("rel") or []):
                return canonical_url(urljoin(page_url, tag["href"]))
        for anchor in soup.select(
            ".pagination a, .pager a, nav a, a.next, a[class*=next], a[class*=pagination]"
        ):
            text = squash(anchor.get_text()).lower()
            classes = " ".join(anchor.get("class") or [])
            if (
                "next" in classes
                or text.startswith(("successiv", "avanti", "pagina successiva"))
                or text in {"»", "›", ">"}
            ):
                if anchor.get("href"):
                    return canonical_url(urljoin(page_url, anchor["href"]))
        return None

    # --- articles ------------------------------------------------------------------------------

    def extract(self, html: str, url: str) -> ExtractedArticle:
        """The article on ``html`` (fetched from ``url``), or :class:`ExtractionFailed`."""
        soup = parse_html(html)
        ld = JsonLd.from_soup(soup)
        canonical = canonical_link(soup, url)
        page_url = canonical if canonical and self.owns(canonical) else canonical_url(url) or url
        if split_snapshot(url) is not None and split_snapshot(page_url) is None:
            # Read from an archive: keep the snapshot URL (normalize unwraps it and keeps the
            # capture time); the page's own canonical link names the original only.
            page_url = canonical_url(url) or url

        title = (
            ld.text("headline")
            or self.select_text(soup, self.title_selectors)
            or (meta_content(soup, "og:title") or [None])[0]
            or self.title_suffix.sub("", squash(soup.title.get_text()) if soup.title else "")
        )
        if not title:
            raise ExtractionFailed(page_url, "parse_no_title", "no headline, h1, og:title or title")
        subtitle = self.subtitle(soup) or ld.text("description")
        author = self.author(soup) or ld.person()
        published, published_from = self.published(soup, ld)
        section = (
            self.select_text(soup, self.section_selectors)
            or ld.text("articleSection")
            or (meta_content(soup, "article:section") or [None])[0]
        )
        tags = (
            ld.keywords()
            or parse_tags(meta_content(soup, "article:tag"))
            or self.tags(soup)
            or ([section] if section else [])
        )
        paragraphs, body_from = self.body(soup, html, page_url, title, subtitle, ld)
        if not paragraphs:
            raise ExtractionFailed(page_url, "parse_no_body", "no body paragraphs found")
        return ExtractedArticle(
            url=page_url,
            outlet=self.outlet,
            title=title,
            subtitle=subtitle or None,
            author=author or None,
            published=published,
            published_from=published_from,
            tags=tags,
            section=section or None,
            paragraphs=paragraphs,
            body_from=body_from,
        )

    # The pieces, each overridable by an outlet.

    def select_text(self, soup: BeautifulSoup, selectors: Iterable[str]) -> str | None:
        for selector in selectors:
            for element in soup.select(selector):
                text = inline_text(element)
                if text:
                    return text
        return None

    def subtitle(self, soup: BeautifulSoup) -> str | None:
        return self.select_text(soup, self.subtitle_selectors)

    def author(self, soup: BeautifulSoup) -> str | None:
        text = self.select_text(soup, self.author_selectors)
        if not text:
            return None
        return _BYLINE.sub("", text).strip() or None

    def tags(self, soup: BeautifulSoup) -> list[str]:
        for selector in self.tag_selectors:
            found = parse_tags([inline_text(a) for a in soup.select(selector)])
            if found:
                return found
        return []

    def published(self, soup: BeautifulSoup, ld: JsonLd) -> tuple[str | None, DateFrom | None]:
        candidates: list[tuple[str | None, DateFrom]] = [
            (ld.text("datePublished"), "jsonld"),
            *((v, "meta") for v in meta_content(soup, "article:published_time")),
            *(
                (t.get("datetime"), "time")
                for t in soup.select("article time[datetime], time[datetime]")
            ),
            *((self.select_text(soup, [s]), "text") for s in self.date_text_selectors),
        ]
        for value, source in candidates:
            # The zone only matters for naive values; here we only ask "is it a date?".
            if value and parse_published(value, ROME).value is not None:
                return value, source
        return None, None

    def body(
        self,
        soup: BeautifulSoup,
        html: str,
        url: str,
        title: str,
        subtitle: str | None,
        ld: JsonLd,
    ) -> tuple[list[str], BodyFrom]:
        containers = [c for c in (soup.select_one(s) for s in self.body_selectors) if c]
        for container in containers:
            paragraphs = clean_paragraphs(body_blocks(container))
            if paragraphs:
                return paragraphs, "selectors"
        if not containers:
            # The outlet's body container is gone (a redesign): let trafilatura find the text.
            # A container that is there but empty is a page without text (a video), not this.
            paragraphs = clean_paragraphs(trafilatura_paragraphs(html, url, drop=(title, subtitle)))
            if paragraphs:
                logger.info("%s: body container not found, used trafilatura", url)
                return paragraphs, "trafilatura"
        article_body = ld.get("articleBody")
        if isinstance(article_body, str) and article_body.strip():
            return clean_paragraphs(article_body), "jsonld"
        return [], "selectors"

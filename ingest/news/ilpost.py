"""Il Post (www.ilpost.it): article URLs and where its 2024 pages keep each field.

Il Post's pages are built with CSS modules: class names such as ``_article-title_1aaqi_4``
change their hash on every deploy, so nothing here depends on one. The title is the first
``<h1>`` (inside ``<article>``), the subtitle the ``<h2>`` right after it in the same header
(never "the first h2 on the page", which on a page without a subtitle is a related-articles
heading), the body ``div#singleBody``, the tags the ``/tag/<slug>/`` links inside the
article, the date ``article:published_time``. The audio/video player leaves a
"Caricamento player" placeholder in the body; it sits outside the paragraphs and is skipped,
and ``normalize`` drops it again should it ever become a paragraph.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup
from synthlake.ingest.news.extract import Scraper, inline_text


class IlPostScraper(Scraper):
    outlet = "ilpost"
    name = "Il Post"
    domain = "ilpost.it"
    article_path = re.compile(r"^/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/[a-z0-9][a-z0-9-]*/?$")
    title_selectors = ("article h1", "h1")
    author_selectors = (
        "article [rel=author]",
        "[itemprop=author] [itemprop=name]",
        "article [class*=author]",
    )
    tag_selectors = ('article a[href*="/tag/"]', "article a[rel~=tag]")
    section_selectors = ("article [class*=breadcrumb] a",)
    body_selectors = ("#singleBody", "[itemprop=articleBody]")

    def subtitle(self, soup: BeautifulSoup) -> str | None:
        h1 = soup.select_one("article h1") or soup.find("h1")
        if h1 is None:
            return None
        h2 = h1.find_next_sibling("h2")
        return (inline_text(h2) or None) if h2 is not None else None


SCRAPER = IlPostScraper()

"""Open (www.open.online): article URLs and where its 2024 pages keep each field.

Open runs WordPress: articles at ``/<yyyy>/<mm>/<dd>/<slug>/``, the title in
``h1.news__title``, the author in ``.news__author``, the date as "1 Gennaio 2024" in
``.news__date-day`` (no time; month capitalized), the body in ``.news__content`` (with
WordPress' ``<br>`` line breaks inside paragraphs), the tags as ``a[rel="category tag"]``.
JSON-LD (Yoast, inside ``@graph``, keywords as one comma-separated string) is on some pages.
Listing and "Leggi anche" blocks reuse ``.news__title``, so selectors are scoped to the
article first.
"""

from __future__ import annotations

import re

from synthlake.ingest.news.extract import Scraper


class OpenScraper(Scraper):
    outlet = "open"
    name = "Open"
    domain = "open.online"
    article_path = re.compile(r"^/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/[a-z0-9][a-z0-9-]*/?$")
    title_selectors = ("article h1.news__title", "h1.news__title", "article h1", "h1")
    subtitle_selectors = ("article .news__subtitle", "article .news__header h2")
    author_selectors = ("article .news__author a", "article .news__author", "[rel=author]")
    date_text_selectors = ("article .news__date-day", "article .news__date")
    tag_selectors = ('article a[rel~="tag"]', ".news__tags a")
    section_selectors = ("article .news__label",)
    body_selectors = ("article .news__content", ".news__content", "[itemprop=articleBody]")


SCRAPER = OpenScraper()

"""ANSA (www.ansa.it): article URLs and where its 2024 pages keep each field.

Articles live at ``/<section-or-region>/notizie/[<sub>/]<yyyy>/<mm>/<dd>/<slug>_<uuid>.html``;
video and photo galleries are not articles, and sister sites (ansabrasil, ansalatina) are
other domains. Pages carry JSON-LD on some templates only, so the DOM selectors below are the
path that always works: ``.post-single-title``, the body in ``.post-single-text.news-txt``,
the section in ``.is-section`` and the date line in ``.details`` ("ROMA, 06 gennaio 2024,
18:54", read by ``dates.parse_published``). The body opens with a dateline ("ROMA, 06 GEN -")
and ends with "(ANSA)."; both belong to the text and are kept.
"""

from __future__ import annotations

import re

from synthlake.ingest.news.extract import Scraper

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


class AnsaScraper(Scraper):
    outlet = "ansa"
    name = "ANSA"
    domain = "ansa.it"
    article_path = re.compile(
        r"^/(?:[a-z0-9_-]+/)+?notizie/(?:[a-z0-9_-]+/)*"
        rf"(?P<y>\d{{4}})/(?P<m>\d{{2}})/(?P<d>\d{{2}})/[A-Za-z0-9_.-]+_{_UUID}\.html$"
    )
    not_article_paths = ("/videogallery/", "/photogallery/", "/fotogallery/")
    title_selectors = (".post-single-title", "article h1", "h1")
    subtitle_selectors = (".post-single-summary", ".post-single-subtitle", ".post-single-head h2")
    author_selectors = (
        ".post-single-head .author",
        ".post-single .author",
        "[itemprop=author] [itemprop=name]",
    )
    date_text_selectors = (".post-single-head .details", ".details")
    tag_selectors = (".news-tags a", "article a[rel~=tag]")
    section_selectors = (".post-single-head .is-section", ".is-section")
    body_selectors = (
        "[itemprop=articleBody]",
        ".post-single-text.news-txt",
        ".news-txt",
        ".post-single-text",
    )


SCRAPER = AnsaScraper()

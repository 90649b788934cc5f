"""Build the saved sample news site from ``data/sample/news/articles.jsonl``.

Every valid article of the bundled sample becomes an HTML page shaped like the outlet's real
pages in 2024 (see shared/NEWS_SITES.md): ANSA's ``.post-single-*`` classes and ``.details``
date line, Il Post's hashed CSS-module classes, ``div#singleBody`` and player placeholder,
Open's ``.news__*`` blocks and ``rel="category tag"`` links. JSON-LD is on some pages and not
on others, so both extraction paths run. Each outlet also gets a homepage, a paginated section
listing (two pages), an RSS feed and a robots.txt.

Files are written under ``<host>/<path>`` so that ``synthlake.ingest.news.sample_site`` can serve them
as ``https://<host>/<path>``; a URL ending in ``/`` is stored as ``index.html`` (``index.xml``
for feeds). The output is deterministic: running this twice gives the same bytes.

    python data/sample/site/build_site.py            # rebuild next to this script
    python data/sample/site/build_site.py --check    # exit 1 if the saved pages are stale

The texts are the sample's own fictional articles; only the page shapes follow the real sites.
The ``render_*`` functions are also used by bench/news_crawl_rate.py to build bigger sites.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ARTICLES = HERE.parent / "news" / "articles.jsonl"
ROME = ZoneInfo("Europe/Rome")
MONTHS = (
    "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre"
).split()
PER_LISTING_PAGE = 7
IN_FEED = 8
ON_HOMEPAGE = 5


@dataclass(slots=True)
class Item:
    """One sample article, with what the templates need derived once."""

    outlet: str
    url: str
    title: str
    subtitle: str
    author: str | None
    date_text: str
    published: datetime
    iso: str  # what the page's metadata says (date only for Open, which prints no time)
    tags: list[str]
    body: list[str]
    index: int  # position in the outlet's list, newest first

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def slug(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".html")

    @property
    def has_jsonld(self) -> bool:
        return self.index % 2 == 0


# --- reading the sample -----------------------------------------------------------------------


def load_items(path: Path = ARTICLES) -> dict[str, list[Item]]:
    """Valid articles per outlet, newest first (bad lines and repeated URLs are skipped)."""
    seen: set[str] = set()
    by_outlet: dict[str, list[Item]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        body = [p for p in record.get("body") or [] if p.strip()]
        if not body or record["url"] in seen:
            continue
        seen.add(record["url"])
        by_outlet.setdefault(record["outlet"], []).append(make_item(record, body))
    for items in by_outlet.values():
        items.sort(key=lambda item: item.published, reverse=True)
        for index, item in enumerate(items):
            item.index = index
    return by_outlet


def make_item(record: dict, body: list[str]) -> Item:
    outlet, text = record["outlet"], record["date"]
    if outlet == "ilpost":
        published = datetime.fromisoformat(text)
        iso = text
    else:
        day, month, year, *rest = text.replace(",", " ").split()
        hour, minute = (int(x) for x in rest[0].split(":")) if rest else (0, 0)
        published = datetime(
            int(year), MONTHS.index(month.lower()) + 1, int(day), hour, minute, tzinfo=ROME
        )
        iso = published.isoformat() if rest else published.date().isoformat()
    tags = record["tags"]
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    return Item(
        outlet=outlet,
        url=record["url"],
        title=record["title"],
        subtitle=record.get("subtitle") or "",
        author=record.get("author"),
        date_text=text,
        published=published,
        iso=iso,
        tags=list(tags),
        body=body,
        index=0,
    )


# --- shared bits --------------------------------------------------------------------------------


def wrap(text: str, indent: int) -> str:
    """Pretty-printed paragraph text, as CMS templates emit it (newlines inside the tag)."""
    pad = " " * indent
    lines = textwrap.wrap(
        escape(text, quote=False), 96, break_on_hyphens=False, break_long_words=False
    )
    return "\n".join(pad + line for line in lines)


def jsonld(item: Item, publisher: str, *, graph: bool = False) -> str:
    author: dict[str, str] = (
        {"@type": "Person", "name": item.author}
        if item.author
        else {"@type": "Organization", "name": publisher}
    )
    article: dict[str, object] = {
        "@type": "NewsArticle",
        "mainEntityOfPage": {"@type": "WebPage", "@id": item.url},
        "headline": item.title,
        "datePublished": item.iso,
        "dateModified": item.iso,
        "author": author,
        "publisher": {
            "@type": "Organization",
            "name": publisher,
            "logo": {"@type": "ImageObject", "url": f"https://{host(item)}/static/logo.png"},
        },
        "image": [f"https://{host(item)}/static/img/{item.slug[:40]}.jpg"],
        "articleSection": item.tags[0],
        "inLanguage": "it-IT",
    }
    if item.subtitle:
        article["description"] = item.subtitle
    # Open (WordPress + Yoast) writes keywords as one string; the others as a list.
    article["keywords"] = ", ".join(item.tags) if item.outlet == "open" else item.tags
    if graph:
        data: dict[str, object] = {
            "@context": "https://schema.org",
            "@graph": [
                {"@type": "WebSite", "@id": f"https://{host(item)}/#website", "name": publisher},
                {"@type": "WebPage", "@id": item.url, "url": item.url, "name": item.title},
                article,
            ],
        }
    else:
        data = {"@context": "https://schema.org", **article}
    text = json.dumps(data, ensure_ascii=False, indent=2)
    return f'<script type="application/ld+json">\n{text}\n</script>'


def host(item: Item) -> str:
    return urlsplit(item.url).hostname or ""


def italian_date(value: datetime, *, capital: bool = False) -> str:
    month = MONTHS[value.month - 1]
    return f"{value.day} {month.capitalize() if capital else month} {value.year}"


def rfc2822(item: Item) -> str:
    return format_datetime(item.published)


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


# --- ANSA -----------------------------------------------------------------------------------------

ANSA_NAV = [
    ("Cronaca", "https://www.ansa.it/sito/notizie/cronaca/cronaca.shtml"),
    ("Politica", "https://www.ansa.it/sito/notizie/politica/politica.shtml"),
    ("Economia", "https://www.ansa.it/sito/notizie/economia/economia.shtml"),
    ("Mondo", "https://www.ansa.it/sito/notizie/mondo/mondo.shtml"),
    ("Cultura", "https://www.ansa.it/sito/notizie/cultura/cultura.shtml"),
    ("Sport", "https://www.ansa.it/sito/notizie/sport/sport.shtml"),
    ("Regioni", "https://www.ansa.it/regioni/"),
    ("Video", "https://www.ansa.it/sito/videogallery/videogallery.shtml"),
    ("ANSA Brasil", "https://ansabrasil.com.br/"),
]


def ansa_head(title: str, canonical: str, extra: str = "") -> str:
    return f"""<!DOCTYPE html>
<html lang="it">
<head>
  <meta charset="utf-8">
  <meta http-equiv="X-UA-Compatible" content="IE=edge">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{escape(title)}</title>
  <link rel="canonical" href="{canonical}">
  <link rel="alternate" type="application/rss+xml" title="ANSA.it"
        href="https://www.ansa.it/sito/ansait_rss.xml">
  <link rel="stylesheet" href="/sito/static/css/ansa-2024.min.css">
  <script async src="/sito/static/js/adv-loader.js"></script>
{extra}</head>"""


def ansa_header() -> str:
    links = "\n".join(
        f'          <li class="menu-item"><a href="{href}">{escape(name)}</a></li>'
        for name, href in ANSA_NAV
    )
    return f"""  <div id="cookie-bar" class="cookie-bar">Questo sito utilizza cookie tecnici e,
    previo consenso, cookie di profilazione. <button type="button">Accetta</button></div>
  <header class="header">
    <div class="header-top container">
      <a class="brand" href="https://www.ansa.it/"><img src="/sito/static/img/logo-ansa.svg"
         alt="ANSA.it"></a>
      <form class="search" action="/sito/ricerca.shtml"><input name="any" type="search"
         placeholder="Cerca"></form>
    </div>
    <nav class="main-nav">
      <div class="container">
        <ul class="menu">
{links}
        </ul>
      </div>
    </nav>
  </header>
  <div class="adv adv-masthead" id="adv-masthead" data-slot="Masthead"></div>"""


def ansa_footer() -> str:
    return """  <footer class="footer">
    <div class="container">
      <ul class="footer-links">
        <li><a href="https://www.ansa.it/sito/static/chi_siamo.shtml">Chi siamo</a></li>
        <li><a href="https://www.ansa.it/sito/static/privacy.shtml">Privacy</a></li>
        <li><a href="https://www.ansa.it/sito/static/contatti.shtml">Contatti</a></li>
      </ul>
      <p class="copy">Copyright &copy; ANSA (sample site built for synthlake: fictional
        articles, real page shape)</p>
    </div>
  </footer>"""


def ansa_section_url(item: Item) -> str:
    parts = item.path.strip("/").split("/")
    if parts[0] == "sito":
        return f"https://www.ansa.it/sito/notizie/{parts[2]}/{parts[2]}.shtml"
    return f"https://www.ansa.it/{parts[0]}/"


def render_ansa_article(item: Item, related: list[Item]) -> str:
    extra = f'  <meta name="description" content="{escape(item.subtitle or item.body[0][:150])}">\n'
    extra += f"""  <meta property="og:type" content="article">
  <meta property="og:site_name" content="Agenzia ANSA">
  <meta property="og:title" content="{escape(item.title)}">
  <meta property="og:url" content="{item.url}">
  <meta property="og:image" content="https://www.ansa.it/webimages/img_700/{item.slug[:30]}.jpg">
"""
    if item.has_jsonld:
        extra += "  " + jsonld(item, "ANSA") + "\n"
    city = item.body[0].split(",", 1)[0].strip()
    day, month_year_time = item.date_text.split(" ", 1)
    dateline, rest = item.body[0].split(" - ", 1)
    paragraphs = [
        f"        <p><strong>{escape(dateline)}</strong> - \n{wrap(rest, 10)}\n        </p>"
    ]
    for number, text in enumerate(item.body[1:], start=1):
        paragraphs.append(f"        <p>\n{wrap(text, 10)}\n        </p>")
        if number == 1:
            paragraphs.append(
                '        <div class="adv adv-inread" id="adv-inread" data-slot="Inread"></div>'
            )
    subtitle = (
        f'          <h2 class="post-single-summary">{escape(item.subtitle)}</h2>\n'
        if item.subtitle
        else ""
    )
    tags = "\n".join(
        f'          <a class="tag" rel="tag" href="https://www.ansa.it/sito/tag/'
        f'{escape(t.lower().replace(" ", "_"))}.shtml">{escape(t)}</a>'
        for t in item.tags
    )
    related_items = "\n".join(
        f'          <li><h3 class="title"><a href="{r.url}">{escape(r.title)}</a></h3></li>'
        for r in related
    )
    section = item.tags[0]
    return f"""{ansa_head(f"{item.title} - {section} - Ansa.it", item.url, extra)}
<body class="page-article">
{ansa_header()}
  <main class="main" id="main">
    <div class="container">
      <article class="post-single news">
        <div class="post-single-head">
          <div class="is-section"><a href="{ansa_section_url(item)}">{escape(section)}</a></div>
          <h1 class="post-single-title">{escape(item.title)}</h1>
{subtitle}          <div class="details">
            <span class="dateline">
              {escape(city)},
            </span>
            <span class="date">
              {day} {month_year_time.split(",")[0]},
              {month_year_time.split(",")[1].strip()}
            </span>
          </div>
          <div class="share"><a href="https://www.facebook.com/sharer.php?u={item.url}">Facebook</a>
            <a href="https://twitter.com/intent/tweet?url={item.url}">X</a>
            <a href="whatsapp://send?text={item.url}">WhatsApp</a></div>
        </div>
        <figure class="post-single-image">
          <img src="https://www.ansa.it/webimages/img_700/{item.slug[:30]}.jpg" alt="">
          <figcaption>- RIPRODUZIONE RISERVATA</figcaption>
        </figure>
        <div class="post-single-text rich-text news-txt">
{chr(10).join(paragraphs)}
        </div>
        <div class="news-tags">
          <span class="label">Argomenti</span>
{tags}
        </div>
        <p class="news-copyright">&copy; Copyright ANSA - Tutti i diritti riservati</p>
      </article>
      <aside class="sidebar">
        <div class="adv adv-box" id="adv-box-1" data-slot="Box1"></div>
        <section class="related">
          <h2 class="related-title">Leggi anche</h2>
          <ul>
{related_items}
          </ul>
        </section>
        <section class="video-box"><h2>Video ANSA</h2>
          <a href="https://www.ansa.it/sito/videogallery/italia/2024/01/10/video_1b2c.html">
            Le immagini della giornata</a></section>
      </aside>
    </div>
  </main>
{ansa_footer()}
</body>
</html>
"""


def ansa_teaser(item: Item) -> str:
    return f"""        <article class="article-teaser">
          <h3 class="title"><a href="{item.url}">{escape(item.title)}</a></h3>
          <p class="summary">{escape(item.subtitle)}</p>
          <span class="date">{escape(item.date_text)}</span>
        </article>"""


def render_ansa_listing(
    items: list[Item], page: int, next_url: str | None, canonical: str, heading: str
) -> str:
    extra = f'  <link rel="next" href="{next_url}">\n' if next_url else ""
    teasers = "\n".join(ansa_teaser(i) for i in items)
    pager = (
        f'        <nav class="pagination"><span class="current">{page}</span>\n'
        f'          <a class="next" rel="next" href="{next_url}">Successiva &raquo;</a></nav>'
        if next_url
        else f'        <nav class="pagination"><span class="current">{page}</span></nav>'
    )
    return f"""{ansa_head(f"{heading} - Ansa.it", canonical, extra)}
<body class="page-listing">
{ansa_header()}
  <main class="main" id="main">
    <div class="container">
      <h1 class="page-title">{escape(heading)}</h1>
      <section class="news-list">
{teasers}
      </section>
{pager}
      <div class="adv adv-box" id="adv-box-2" data-slot="Box2"></div>
      <section class="video-box"><h2>Video</h2>
        <h3 class="title"><a
          href="https://www.ansa.it/sito/videogallery/italia/2024/01/10/video_1b2c.html"
          >Le immagini della giornata</a></h3>
        <h3 class="title"><a
          href="https://ansabrasil.com.br/brasil/noticias/2024/01/10/noticia_3b4c.html"
          >ANSA Brasil</a></h3>
      </section>
    </div>
  </main>
{ansa_footer()}
</body>
</html>
"""


# --- Il Post --------------------------------------------------------------------------------------

ILPOST_NAV = [
    ("Italia", "https://www.ilpost.it/italia/"),
    ("Mondo", "https://www.ilpost.it/mondo/"),
    ("Politica", "https://www.ilpost.it/politica/"),
    ("Economia", "https://www.ilpost.it/economia/"),
    ("Scienza", "https://www.ilpost.it/scienza/"),
    ("Cultura", "https://www.ilpost.it/cultura/"),
    ("Podcast", "https://www.ilpost.it/podcasts/"),
]
TRENDING = [("Sciopero", "sciopero"), ("Meteo", "meteo"), ("Calcio", "calcio")]


def ilpost_head(title: str, canonical: str, extra: str = "") -> str:
    return f"""<!DOCTYPE html>
<html lang="it">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width">
  <title>{escape(title)}</title>
  <link rel="canonical" href="{canonical}">
  <link rel="preload" href="/_next/static/css/9f2c1d0e7b.css" as="style">
  <link rel="stylesheet" href="/_next/static/css/9f2c1d0e7b.css">
{extra}</head>"""


def ilpost_header() -> str:
    nav = "\n".join(
        f'          <li class="_nav-item_1x9ab_31"><a href="{href}">{name}</a></li>'
        for name, href in ILPOST_NAV
    )
    trending = "\n".join(
        f'          <a class="_trend_1x9ab_52" href="https://www.ilpost.it/tag/{slug}/">{name}</a>'
        for name, slug in TRENDING
    )
    return f"""  <div id="__next">
    <header class="_header_1x9ab_1">
      <a class="_logo_1x9ab_8" href="https://www.ilpost.it/">Il Post</a>
      <nav class="_nav_1x9ab_20">
        <ul>
{nav}
        </ul>
        <div class="_trending_1x9ab_47">
{trending}
        </div>
      </nav>
    </header>
    <div class="_adv_3kd9s_1" data-adv="leaderboard"></div>"""


def ilpost_footer() -> str:
    return """    <footer class="_footer_7hq2n_1">
      <a href="https://www.ilpost.it/chi-siamo/">Chi siamo</a>
      <a href="https://www.ilpost.it/privacy/">Privacy</a>
      <a href="https://www.ilpost.it/abbonati/">Abbonati</a>
      <p>Il Post (sample site built for synthlake: fictional articles, real page shape)</p>
    </footer>
  </div>
  <script id="__NEXT_DATA__" type="application/json">{"props":{},"page":"/[...slug]"}</script>"""


def render_ilpost_article(item: Item, related: list[Item]) -> str:
    extra = f"""  <meta name="description" content="{escape(item.subtitle)}">
  <meta property="og:type" content="article">
  <meta property="og:site_name" content="Il Post">
  <meta property="og:title" content="{escape(item.title)}">
  <meta property="og:url" content="{item.url}">
  <meta property="article:published_time" content="{item.iso}">
  <meta property="article:section" content="{escape(item.tags[0])}">
"""
    if item.has_jsonld:
        extra += "  " + jsonld(item, "Il Post") + "\n"
    paragraphs = []
    for number, text in enumerate(item.body):
        paragraphs.append(f"          <p>\n{wrap(text, 12)}\n          </p>")
        if number == 0:
            paragraphs.append(
                '          <div class="_player-wrapper_q2w8e_1"><div class="_player_q2w8e_7" '
                'data-media="audio">Caricamento player</div></div>'
            )
        if number == 1 and related:
            paragraphs.append(
                '          <aside class="_related-inline_q2w8e_20"><p><strong>Leggi anche:'
                f'</strong> <a href="{related[0].url}">{escape(related[0].title)}</a></p></aside>'
            )
    author = (
        f'            <span class="_article-author_1aaqi_25">di {escape(item.author)}</span>\n'
        if item.author
        else ""
    )
    time_el = (
        f'            <time class="_article-date_1aaqi_30" datetime="{item.iso}">'
        f"{italian_date(item.published)}</time>\n"
        if item.index % 3 != 1
        else f'            <span class="_article-date_1aaqi_30">{italian_date(item.published)}'
        "</span>\n"
    )
    tags = "\n".join(
        f'            <a class="index_art_tag__pP6B_" href="https://www.ilpost.it/tag/'
        f'{escape(t.lower().replace(" ", "-"))}/">{escape(t)}</a>'
        for t in item.tags
    )
    more = "\n".join(
        f'          <article class="_card_9d8f7_1"><h2 class="_card-title_9d8f7_4">'
        f'<a href="{r.url}">{escape(r.title)}</a></h2></article>'
        for r in related
    )
    return f"""{ilpost_head(f"{item.title} - Il Post", item.url, extra)}
<body>
{ilpost_header()}
    <main class="_main_1aaqi_1">
      <article class="_article_1aaqi_2">
        <div class="_article-header_1aaqi_3">
          <div class="_breadcrumbs_1aaqi_60"><a href="https://www.ilpost.it/italia/">Italia</a></div>
          <h1 class="_article-title_1aaqi_4">{escape(item.title)}</h1>
          <h2 class="_article-subtitle_1aaqi_12">{escape(item.subtitle)}</h2>
          <div class="_article-meta_1aaqi_20">
{author}{time_el}          </div>
        </div>
        <div id="singleBody" class="_article-body_1aaqi_40">
{chr(10).join(paragraphs)}
        </div>
        <div class="index_art_tags__Xr5Q1">
{tags}
        </div>
        <div class="_share_1aaqi_80"><button>Condividi</button></div>
      </article>
      <div class="_adv_3kd9s_1" data-adv="box"></div>
      <section class="_more_9d8f7_10">
        <h2 class="_more-title_9d8f7_12">Potrebbe interessarti</h2>
{more}
      </section>
    </main>
{ilpost_footer()}
</body>
</html>
"""


def render_ilpost_listing(
    items: list[Item], page: int, next_url: str | None, canonical: str, heading: str
) -> str:
    extra = f'  <link rel="next" href="{next_url}">\n' if next_url else ""
    cards = "\n".join(
        f"""        <article class="_card_9d8f7_1">
          <a href="{i.url}"><h2 class="_card-title_9d8f7_4">{escape(i.title)}</h2></a>
          <p class="_card-excerpt_9d8f7_9">{escape(i.subtitle)}</p>
        </article>"""
        for i in items
    )
    pager = (
        f'      <div class="_pagination_5ty6u_1"><a href="{next_url}">Pagina {page + 1}</a></div>'
        if next_url
        else ""
    )
    return f"""{ilpost_head(f"{heading} - Il Post", canonical, extra)}
<body>
{ilpost_header()}
    <main class="_main_5ty6u_1">
      <h1 class="_page-title_5ty6u_3">{escape(heading)}</h1>
      <section class="_list_5ty6u_8">
{cards}
      </section>
{pager}
    </main>
{ilpost_footer()}
</body>
</html>
"""


# --- Open -----------------------------------------------------------------------------------------

OPEN_NAV = [
    ("Attualità", "https://www.open.online/c/attualita/"),
    ("Politica", "https://www.open.online/c/politica/"),
    ("Economia", "https://www.open.online/c/economia-e-lavoro/"),
    ("Cultura", "https://www.open.online/c/cultura-e-spettacolo/"),
    ("Fact-checking", "https://www.open.online/c/fact-checking/"),
]


def open_head(title: str, canonical: str, extra: str = "") -> str:
    return f"""<!DOCTYPE html>
<html lang="it-IT">
<head>
  <meta charset="UTF-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{escape(title)}</title>
  <link rel="canonical" href="{canonical}">
  <link rel="alternate" type="application/rss+xml" title="Open &raquo; Feed"
        href="https://www.open.online/feed/">
  <link rel="stylesheet" id="open-style-css" href="/wp-content/themes/open/style.css?ver=4.2">
{extra}</head>"""


def open_header() -> str:
    nav = "\n".join(
        f'        <li class="menu-item"><a href="{href}">{escape(name)}</a></li>'
        for name, href in OPEN_NAV
    )
    return f"""  <header class="header">
    <a class="header__logo" href="https://www.open.online/">Open</a>
    <nav class="header__menu">
      <ul class="menu">
{nav}
      </ul>
    </nav>
  </header>
  <div class="adv-container adv-top"><div id="gpt-ad-top" class="adv-slot"></div></div>"""


def open_footer() -> str:
    return """  <footer class="footer">
    <div class="footer__links">
      <a href="https://www.open.online/chi-siamo/">Chi siamo</a>
      <a href="https://www.open.online/privacy-policy/">Privacy policy</a>
    </div>
    <p class="footer__copy">Open (sample site built for synthlake: fictional articles, real
      page shape)</p>
  </footer>"""


def render_open_article(item: Item, related: list[Item]) -> str:
    extra = f"""  <meta property="og:locale" content="it_IT">
  <meta property="og:type" content="article">
  <meta property="og:title" content="{escape(item.title)}">
  <meta property="og:url" content="{item.url}">
  <meta property="og:site_name" content="Open">
"""
    if item.has_jsonld:
        extra += "  " + jsonld(item, "Open", graph=True) + "\n"
    paragraphs = []
    for number, text in enumerate(item.body):
        if number == 2 and " " in text:
            # WordPress autop: a soft line break inside a paragraph.
            first, rest = text.split(" ", 1)
            para = f"          <p>{escape(first, quote=False)}<br>\n{wrap(rest, 10)}</p>"
        else:
            para = f"          <p>{escape(text, quote=False)}</p>"
        paragraphs.append(para)
        if number == 1:
            paragraphs.append(
                '          <div class="adv-container adv-inarticle"><div class="adv-slot" '
                'id="gpt-ad-inarticle"></div><span class="adv-label">Pubblicità</span></div>'
            )
        if number == 2 and related:
            paragraphs.append(
                f'          <div class="news__related"><p>Leggi anche:</p><ul><li><a href="'
                f'{related[0].url}">{escape(related[0].title)}</a></li></ul></div>'
            )
    subtitle = (
        f'        <h2 class="news__subtitle">{escape(item.subtitle)}</h2>\n'
        if item.subtitle
        else ""
    )
    author = (
        f'          <div class="news__author">di <a href="https://www.open.online/author/'
        f'{escape(item.author.lower().replace(" ", "-"))}/">{escape(item.author)}</a></div>\n'
        if item.author
        else ""
    )
    tags = "\n".join(
        f'          <a href="https://www.open.online/temi/{escape(t.lower().replace(" ", "-"))}/" '
        f'rel="category tag">{escape(t)}</a>'
        for t in item.tags
    )
    day = italian_date(item.published, capital=True)
    more = "\n".join(
        f'        <div class="news__inner"><a href="{r.url}" class="news__link">'
        f'<h3 class="news__title news__title--small">{escape(r.title)}</h3></a></div>'
        for r in related
    )
    return f"""{open_head(f"{item.title} - Open", item.url, extra)}
<body class="post-template-default single single-post single-format-standard">
{open_header()}
  <main id="main" class="site-main">
    <article class="news">
      <div class="news__header">
        <div class="news__label">{escape(item.tags[0])}</div>
        <h1 class="news__title">{escape(item.title)}</h1>
{subtitle}        <div class="news__meta">
{author}          <div class="news__date"><span class="news__date-day">{day}</span></div>
        </div>
      </div>
      <figure class="news__image"><img src="/wp-content/uploads/2024/01/{item.slug[:30]}.jpg"
        alt="{escape(item.title)}"></figure>
      <div class="news__content">
{chr(10).join(paragraphs)}
      </div>
      <div class="news__tags">
{tags}
      </div>
    </article>
    <aside class="sidebar">
      <h2 class="sidebar__title">Leggi anche</h2>
{more}
    </aside>
  </main>
{open_footer()}
</body>
</html>
"""


def render_open_listing(
    items: list[Item], page: int, next_url: str | None, canonical: str, heading: str
) -> str:
    blocks = "\n".join(
        f"""      <div class="news__inner">
        <a href="{i.url}" class="news__link"><h3 class="news__title">{escape(i.title)}</h3></a>
        <span class="news__date-day">{italian_date(i.published, capital=True)}</span>
      </div>"""
        for i in items
    )
    pager = (
        f'      <nav class="pagination"><span class="page-numbers current">{page}</span>\n'
        f'        <a class="next page-numbers" href="{next_url}">Successivo</a></nav>'
        if next_url
        else f'      <nav class="pagination"><span class="page-numbers current">{page}</span></nav>'
    )
    return f"""{open_head(f"{heading} - Open", canonical)}
<body class="archive category">
{open_header()}
  <main id="main" class="site-main">
    <h1 class="archive__title">{escape(heading)}</h1>
    <section class="news-list">
{blocks}
    </section>
{pager}
  </main>
{open_footer()}
</body>
</html>
"""


# --- feeds and robots ---------------------------------------------------------------------------


def render_feed(title: str, site: str, self_url: str, items: Iterable[Item], tracking: str) -> str:
    entries = []
    for item in items:
        link = item.url + tracking
        categories = "".join(f"<category><![CDATA[{t}]]></category>" for t in item.tags)
        creator = f"<dc:creator><![CDATA[{item.author}]]></dc:creator>" if item.author else ""
        entries.append(
            f"""    <item>
      <title>{escape(item.title, quote=False)}</title>
      <link>{escape(link, quote=False)}</link>
      <guid isPermaLink="true">{item.url}</guid>
      <pubDate>{rfc2822(item)}</pubDate>
      {creator}{categories}
      <description><![CDATA[{item.subtitle or item.body[0][:200]}]]></description>
    </item>"""
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>{escape(title)}</title>
    <link>{site}</link>
    <description>{escape(title)} - ultime notizie</description>
    <language>it</language>
    <atom:link href="{self_url}" rel="self" type="application/rss+xml"/>
{chr(10).join(entries)}
  </channel>
</rss>
"""


ROBOTS = {
    "www.ansa.it": """User-agent: *
Disallow: /sito/ricerca
Disallow: /sito/static/adv/
Disallow: /*?refresh_ce

User-agent: GPTBot
Disallow: /

Sitemap: https://www.ansa.it/sito/sitemap.xml
""",
    "www.ilpost.it": """User-agent: *
Disallow: /wp-admin/
Disallow: /?s=
Allow: /wp-admin/admin-ajax.php

Sitemap: https://www.ilpost.it/sitemap_index.xml
""",
    "www.open.online": """User-agent: *
Disallow: /wp-admin/
Disallow: /search/
Allow: /wp-admin/admin-ajax.php

Sitemap: https://www.open.online/sitemap_index.xml
""",
}

ARTICLE_RENDERERS = {
    "ansa": render_ansa_article,
    "ilpost": render_ilpost_article,
    "open": render_open_article,
}
LISTING_RENDERERS = {
    "ansa": render_ansa_listing,
    "ilpost": render_ilpost_listing,
    "open": render_open_listing,
}
# outlet -> (homepage, section listing page 1, page URL pattern for n >= 2, feed URL, heading)
LAYOUT = {
    "ansa": (
        "https://www.ansa.it/",
        "https://www.ansa.it/sito/notizie/topnews/index.shtml",
        "https://www.ansa.it/sito/notizie/topnews/index_{n}.shtml",
        "https://www.ansa.it/sito/ansait_rss.xml",
        "Ultima ora",
    ),
    "ilpost": (
        "https://www.ilpost.it/",
        "https://www.ilpost.it/italia/",
        "https://www.ilpost.it/italia/page/{n}/",
        "https://www.ilpost.it/feed/",
        "Italia",
    ),
    "open": (
        "https://www.open.online/",
        "https://www.open.online/c/attualita/",
        "https://www.open.online/c/attualita/page/{n}/",
        "https://www.open.online/feed/",
        "Attualità",
    ),
}
FEED_TITLES = {"ansa": "ANSA.it - Top News", "ilpost": "Il Post", "open": "Open"}
FEED_TRACKING = {"ansa": "", "ilpost": "", "open": "?utm_source=rss&utm_medium=feed"}


def file_for(url: str, root: Path) -> Path:
    """Where the page for ``url`` lives under ``root`` (``/x/`` -> ``x/index.html``)."""
    parts = urlsplit(url)
    path = parts.path
    if path.endswith("/"):
        path += "index.xml" if "/feed/" in path else "index.html"
    return root / (parts.hostname or "") / path.lstrip("/")


def build_pages(by_outlet: dict[str, list[Item]], per_page: int = PER_LISTING_PAGE) -> dict:
    """``{url: text}`` for every page of the site (articles, listings, feeds, robots)."""
    pages: dict[str, str] = {}
    for outlet, items in sorted(by_outlet.items()):
        homepage, first, pattern, feed_url, heading = LAYOUT[outlet]
        for item in items:
            neighbours = [i for i in items if i.url != item.url]
            start = item.index % max(1, len(neighbours))
            related = (neighbours[start:] + neighbours[:start])[:3]
            pages[item.url] = ARTICLE_RENDERERS[outlet](item, related)
        chunks = [items[i : i + per_page] for i in range(0, len(items), per_page)]
        urls = [first] + [pattern.format(n=n) for n in range(2, len(chunks) + 1)]
        for page, (chunk, url) in enumerate(zip(chunks, urls, strict=True), start=1):
            next_url = urls[page] if page < len(urls) else None
            pages[url] = LISTING_RENDERERS[outlet](chunk, page, next_url, url, heading)
        pages[homepage] = LISTING_RENDERERS[outlet](
            items[:ON_HOMEPAGE], 1, None, homepage, FEED_TITLES[outlet]
        )
        pages[feed_url] = render_feed(
            FEED_TITLES[outlet], homepage, feed_url, items[:IN_FEED], FEED_TRACKING[outlet]
        )
        robots_host = urlsplit(homepage).hostname or ""
        pages[f"https://{robots_host}/robots.txt"] = ROBOTS.get(
            robots_host, "User-agent: *\nDisallow:\n"
        )
    return pages


def write_site(pages: dict[str, str], root: Path) -> list[Path]:
    written = []
    for url, text in sorted(pages.items()):
        path = file_for(url, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=HERE)
    parser.add_argument("--check", action="store_true", help="only compare with saved pages")
    args = parser.parse_args(argv)
    pages = build_pages(load_items())
    if args.check:
        stale = [
            url
            for url, text in pages.items()
            if not file_for(url, args.root).is_file()
            or file_for(url, args.root).read_text(encoding="utf-8") != text
        ]
        for url in stale:
            print(f"stale: {url}", file=sys.stderr)
        return 1 if stale else 0
    written = write_site(pages, args.root)
    print(f"wrote {len(written)} files under {args.root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Extraction of the saved sample pages and of pages built to break the selectors."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from synthlake.ingest.news import ansa, ilpost
from synthlake.ingest.news import open as open_online
from synthlake.ingest.news.dates import parse_published
from synthlake.ingest.news.extract import ExtractionFailed, Scraper, body_blocks, parse_html
from synthlake.ingest.news.normalize import normalize_article

from tests.unit.ingest.news.samples import expected_tags, page_file, sample_records

ROME = ZoneInfo("Europe/Rome")
SCRAPERS: dict[str, Scraper] = {
    "ansa": ansa.SCRAPER,
    "ilpost": ilpost.SCRAPER,
    "open": open_online.SCRAPER,
}
# Where the date comes from on pages without JSON-LD.
DATE_FROM_WITHOUT_JSONLD = {"ansa": "text", "ilpost": "meta", "open": "text"}
RECORDS = sample_records()


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    "record",
    RECORDS,
    ids=[f"{r['outlet']}-{r['url'].rstrip('/').rsplit('/', 1)[-1][:40]}" for r in RECORDS],
)
def test_sample_page_gives_the_sample_article(record: dict) -> None:
    html = page_file(record["url"]).read_text(encoding="utf-8")
    got = SCRAPERS[record["outlet"]].extract(html, record["url"])

    assert got.url == record["url"]
    assert got.outlet == record["outlet"]
    assert got.title == squash(record["title"])
    assert got.subtitle == (squash(record["subtitle"]) or None)
    assert got.author == record["author"]
    assert got.tags == expected_tags(record)
    assert got.paragraphs == [squash(p) for p in record["body"]]
    assert got.body_from == "selectors"
    has_jsonld = "application/ld+json" in html
    assert got.published_from == (
        "jsonld" if has_jsonld else DATE_FROM_WITHOUT_JSONLD[record["outlet"]]
    )
    published = parse_published(got.published, ROME).value
    assert published is not None and published.tzinfo is not None
    assert published == parse_published(record["date"], ROME).value
    assert not any("Caricamento" in p or "Pubblicità" in p for p in got.paragraphs)


@pytest.mark.parametrize("outlet", ["ansa", "ilpost", "open"])
def test_the_sample_has_pages_with_and_without_jsonld(outlet: str) -> None:
    kinds = {
        "application/ld+json" in page_file(r["url"]).read_text(encoding="utf-8")
        for r in RECORDS
        if r["outlet"] == outlet
    }
    assert kinds == {True, False}


@pytest.mark.parametrize("record", RECORDS[:6], ids=lambda r: r["outlet"])
def test_extracted_record_normalizes_like_the_file_import(record: dict) -> None:
    """A crawled page and the same article imported from a file become the same row."""
    html = page_file(record["url"]).read_text(encoding="utf-8")
    crawled = normalize_article(
        SCRAPERS[record["outlet"]].extract(html, record["url"]).as_record(),
        source="crawl",
        locator=record["url"],
        tz=ROME,
    )
    imported = normalize_article(record, source="file", locator="line", tz=ROME)
    for name in (
        "article_id",
        "url",
        "outlet",
        "title",
        "subtitle",
        "author",
        "published_at",
        "tags",
        "content",
        "content_hash",
    ):
        assert getattr(crawled, name) == getattr(imported, name), name


# --- pages built to break things -------------------------------------------------------------


def first(outlet: str) -> tuple[dict, str]:
    record = next(r for r in RECORDS if r["outlet"] == outlet)
    return record, page_file(record["url"]).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("outlet", "container"),
    [
        ("ansa", 'class="post-single-text rich-text news-txt"'),
        ("ilpost", 'id="singleBody"'),
        ("open", 'class="news__content"'),
    ],
)
def test_a_renamed_body_container_falls_back_to_trafilatura(outlet: str, container: str) -> None:
    record, html = first(outlet)
    assert container in html
    changed = html.replace(container, 'class="x9f_body_2024"')
    got = SCRAPERS[outlet].extract(changed, record["url"])
    assert got.body_from == "trafilatura"
    assert got.paragraphs == [squash(p) for p in record["body"]]
    assert got.title == squash(record["title"])


@pytest.mark.parametrize("outlet", ["ansa", "ilpost", "open"])
def test_a_page_without_body_is_parse_no_body(outlet: str) -> None:
    record, _ = first(outlet)
    html = (
        "<html><head><title>Video</title></head><body><article><h1>Solo un video</h1>"
        '<div class="video-player">Caricamento player</div></article></body></html>'
    )
    with pytest.raises(ExtractionFailed) as info:
        SCRAPERS[outlet].extract(html, record["url"])
    assert info.value.reason == "parse_no_body"
    assert record["url"] in str(info.value)


@pytest.mark.parametrize(
    ("outlet", "container"),
    [
        ("ansa", '<div class="post-single-text rich-text news-txt">'),
        ("ilpost", '<div id="singleBody">'),
        ("open", '<div class="news__content">'),
    ],
)
def test_an_empty_body_container_is_parse_no_body_not_a_guess(outlet: str, container: str) -> None:
    """A video page has the container but no text; trafilatura must not make up a body."""
    record, _ = first(outlet)
    html = (
        "<html><body><article><h1>Il video della giornata</h1>"
        "<p class='details'>ROMA, 13 gennaio 2024, 10:00 - Le immagini dell'evento in diretta</p>"
        f"{container}<div class='video-player'>Caricamento player</div></div>"
        "</article></body></html>"
    )
    with pytest.raises(ExtractionFailed) as info:
        SCRAPERS[outlet].extract(html, record["url"])
    assert info.value.reason == "parse_no_body"


def test_a_page_without_any_title_is_parse_no_title() -> None:
    with pytest.raises(ExtractionFailed) as info:
        ansa.SCRAPER.extract("<html><body><p>testo</p></body></html>", "https://www.ansa.it/x")
    assert info.value.reason == "parse_no_title"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<div><p>Primo</p><p>secondo</p></div>", ["Primo", "secondo"]),  # never "Primosecondo"
        ("<div><p>uno<br>due</p></div>", ["uno due"]),
        (
            "<div><p>a <a href='#'>link</a>, poi <strong>grassetto</strong>.</p></div>",
            ["a link, poi grassetto."],
        ),
        ("<div><p>\n   molto\n   spazio\n</p></div>", ["molto spazio"]),
        (
            "<div><p>testo</p><div class='_player-wrapper_x1'>Caricamento player</div>"
            "<aside><p>Leggi anche: altro</p></aside><figure><figcaption>foto</figcaption></figure>"
            "<div class='adv-slot'><p>Pubblicità</p></div><script>var a = 1;</script></div>",
            ["testo"],
        ),
        (
            "<div><ul><li><p>punto uno</p></li><li>punto due</li></ul></div>",
            ["punto uno", "punto due"],
        ),
        (
            "<div>vecchio stile<br><br>secondo\n paragrafo</div>",
            ["vecchio stile", "secondo paragrafo"],
        ),
    ],
)
def test_body_blocks(html: str, expected: list[str]) -> None:
    assert body_blocks(parse_html(html).div) == expected


def test_jsonld_graph_author_by_reference_and_keywords_string() -> None:
    html = """<html><head>
    <script type="application/ld+json">{"@context": "https://schema.org", "@graph": [
      {"@type": "Person", "@id": "#p1", "name": "Anna Neri"},
      {"@type": "NewsArticle", "headline": "Titolo dal JSON-LD", "author": {"@id": "#p1"},
       "datePublished": "2024-01-05T08:30:00+01:00", "keywords": "Uno, Due; Tre"}]}</script>
    <script type="application/ld+json">{ not json</script>
    </head><body><article><h1>Titolo della pagina</h1>
    <div class="news__content"><p>Testo.</p></div></article></body></html>"""
    got = open_online.SCRAPER.extract(html, "https://www.open.online/2024/01/05/x/")
    assert got.title == "Titolo dal JSON-LD"
    assert got.author == "Anna Neri"
    assert got.tags == ["Uno", "Due", "Tre"]
    assert got.published == "2024-01-05T08:30:00+01:00"
    assert got.published_from == "jsonld"


def test_an_organization_byline_is_not_an_author() -> None:
    record, html = first("ansa")
    assert '"@type": "Organization",\n    "name": "ANSA"' in html
    assert ansa.SCRAPER.extract(html, record["url"]).author is None


def test_ilpost_subtitle_is_never_a_later_h2() -> None:
    """Without a subtitle, the first h2 of the page is a related-articles heading."""
    record = next(
        r
        for r in RECORDS
        if r["outlet"] == "ilpost"
        and "ld+json" not in page_file(r["url"]).read_text(encoding="utf-8")
    )
    html = page_file(record["url"]).read_text(encoding="utf-8")
    start = html.index('<h2 class="_article-subtitle')
    end = html.index("</h2>", start) + len("</h2>")
    got = ilpost.SCRAPER.extract(html[:start] + html[end:], record["url"])
    assert got.subtitle is None
    assert "<h2" in html[end:]  # there were later h2s to be fooled by


def test_a_canonical_link_to_another_domain_is_ignored() -> None:
    record, html = first("open")
    changed = html.replace(
        f'<link rel="canonical" href="{record["url"]}">',
        '<link rel="canonical" href="https://aggregatore.example/copia/">',
    )
    assert changed != html
    got = open_online.SCRAPER.extract(changed, record["url"] + "?utm_source=rss")
    assert got.url == record["url"]


def test_date_falls_back_to_the_italian_text() -> None:
    record, html = first("ansa")
    without = html.replace("application/ld+json", "application/x-disabled")
    got = ansa.SCRAPER.extract(without, record["url"])
    assert got.published_from == "text"
    assert "gennaio 2024" in got.published
    assert parse_published(got.published, ROME).value == parse_published(record["date"], ROME).value


# --- web archive snapshots of the outlets' pages ------------------------------------------------

WAYBACK = "https://web.archive.org/web/20240109082917"


@pytest.mark.parametrize("outlet", ["ansa", "ilpost", "open"])
def test_a_snapshot_of_an_article_is_an_article_url(outlet: str) -> None:
    record = next(r for r in RECORDS if r["outlet"] == outlet)
    scraper = SCRAPERS[outlet]
    snapshot = f"{WAYBACK}/{record['url']}"
    assert scraper.owns(snapshot) and scraper.is_article_url(snapshot)
    assert scraper.url_date(snapshot) == scraper.url_date(record["url"])
    assert not scraper.is_article_url(f"{WAYBACK}/https://www.example.org/2024/01/08/x/")


def test_a_snapshot_listing_gives_snapshot_article_links() -> None:
    article = "https://www.ilpost.it/2024/01/08/stato-invitalia-azionista-maggioranza-ex-ilva/"
    html = (
        f'<html><body><a href="/web/20240109082917/{article}">Ex Ilva</a>'
        '<a href="/web/20240109082917/https://www.ilpost.it/tag/ilva/">tag</a></body></html>'
    )
    links = ilpost.SCRAPER.listing_links(parse_html(html), f"{WAYBACK}/https://www.ilpost.it/")
    assert links == [f"{WAYBACK}/{article}"]


@pytest.mark.parametrize("outlet", ["ansa", "ilpost", "open"])
def test_an_article_read_from_a_snapshot_is_stored_as_the_original(outlet: str) -> None:
    record = next(r for r in RECORDS if r["outlet"] == outlet)
    html = page_file(record["url"]).read_text(encoding="utf-8")
    snapshot = f"{WAYBACK}id_/{record['url']}"
    got = SCRAPERS[outlet].extract(html, snapshot)
    article = normalize_article(got.as_record(), source="crawl", locator=snapshot, tz=ROME)
    assert article.url == record["url"]
    assert article.outlet == outlet
    assert article.snapshot_url == snapshot
    assert article.captured_at.isoformat() == "2024-01-09T08:29:17+00:00"
    assert article.published_at == parse_published(record["date"], ROME).value

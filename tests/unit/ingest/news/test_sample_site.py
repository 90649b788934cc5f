"""The saved sample site is what its generator makes from articles.jsonl, and looks real."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.unit.ingest.news.samples import SITE, page_file, sample_records


def test_saved_pages_are_up_to_date_with_articles_jsonl(capsys: pytest.CaptureFixture) -> None:
    spec = importlib.util.spec_from_file_location("build_site", SITE / "build_site.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_site"] = module
    try:
        spec.loader.exec_module(module)
        status = module.main(["--check"])
    finally:
        del sys.modules["build_site"]
    stale = capsys.readouterr().err
    assert status == 0, f"run `python data/sample/site/build_site.py`; stale pages:\n{stale}"


@pytest.mark.parametrize("host", ["www.ansa.it", "www.ilpost.it", "www.open.online"])
def test_every_host_has_robots_feed_and_two_listing_pages(host: str) -> None:
    files = {p.relative_to(SITE / host).as_posix() for p in (SITE / host).rglob("*") if p.is_file()}
    assert "robots.txt" in files and "index.html" in files
    assert any(f.endswith(".xml") for f in files)
    listing_pages = [f for f in files if "page/2/" in f or f.endswith("index_2.shtml")]
    assert listing_pages


def test_article_pages_look_like_real_pages() -> None:
    for record in sample_records():
        html = page_file(record["url"]).read_text(encoding="utf-8")
        assert f'<link rel="canonical" href="{record["url"]}">' in html
        for part in ("<head>", "<nav", "<footer", "adv", "<title>"):
            assert part in html, (record["url"], part)
        assert len(html) > 5000

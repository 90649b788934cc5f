"""export/mongo.py against a real MongoDB wire server: documents, idempotence, removal, errors."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database
from synthlake.export.mongo import SKIPPED, VALIDATOR, MongoExportError, export_mongo
from synthlake.export.mongo_queries import every_source_similarity_above

from synthlake.errors import ExportError
from synthlake.lake import Lake
from synthlake.settings import Settings, load_settings
from tests.fixtures.mongo import MongoServer, free_port
from tests.integration.export.marts import NEWS_SQL, instructions_sql, write_marts

MakeSettings = Callable[..., Settings]


def documents(db: Database[dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    return {d["_id"]: d for d in db[name].find()}


def test_without_uri_it_skips_and_says_so(tmp_path: Path) -> None:
    settings = load_settings(lake_root=tmp_path / "no-lake")
    stats = export_mongo(settings, Lake.from_settings(settings))
    assert stats.status == "skipped"
    assert stats.message == SKIPPED == "MONGODB_URI not set, skipping"
    assert stats.as_dict()["writes"] == 0 and stats.collections == {}


def test_one_document_per_row_with_nested_fields_indexes_and_validator(
    mongo_settings: MakeSettings, mongo_db: Database[dict[str, Any]]
) -> None:
    settings = mongo_settings()
    lake = Lake.from_settings(settings)
    extra = f"select *, 4.5 as judge_fluency_score from ({instructions_sql(4)})"
    write_marts(lake, news=NEWS_SQL, instructions=extra)

    stats = export_mongo(settings, lake, run_id="run-1")

    assert stats.status == "ok"
    news, inst = stats.collections["news_qa"], stats.collections["instructions_qa"]
    assert (news.rows, news.inserted, news.updated, news.unchanged) == (2, 2, 0, 0)
    assert (inst.rows, inst.inserted, inst.writes) == (4, 4, 4)
    docs = documents(mongo_db, "news_qa")
    assert set(docs) == {"n1", "n2"}
    n1 = docs["n1"]
    assert n1["lineage_ids"] == ["a1", "a2"] and n1["tags"] == ["arte", "roma"]
    assert n1["date"] == dt.datetime(2023, 12, 14, 14, 50, tzinfo=dt.UTC)
    assert [s["source_site"] for s in n1["sources"]] == ["ansa", "ilpost"]
    assert n1["sources"][0] == {
        "id": "a1",
        "title": "Al Maxxi",
        "link": "https://www.ansa.it/x",
        "date": dt.datetime(2023, 12, 14, 14, 50, tzinfo=dt.UTC),
        "content": "Testo uno",
        "tags": ["arte"],
        "source_site": "ansa",
    }
    assert n1["similarity"] == [0.81, 0.93] and n1["toxicity"] == 0.0004
    assert "doc_id" not in n1
    assert len(n1["_export"]["hash"]) == 64 and n1["_export"]["run_id"] == "run-1"
    # a column the code has never heard of is a field like any other
    assert documents(mongo_db, "instructions_qa")["doc000001"]["judge_fluency_score"] == 4.5

    news_indexes = set(mongo_db["news_qa"].index_information())
    assert {"synthlake_language", "synthlake_tags", "synthlake_date"} <= news_indexes
    assert {"synthlake_source_site", "synthlake_toxicity", "synthlake_judge"} <= news_indexes
    assert "synthlake_source_dataset" in mongo_db["instructions_qa"].index_information()
    options = mongo_db.command("listCollections", filter={"name": "news_qa"})["cursor"]
    assert options["firstBatch"][0]["options"]["validator"] == VALIDATOR
    # the documented query works on what the export wrote
    assert [d["_id"] for d in every_source_similarity_above(mongo_db["news_qa"], 0.7)] == ["n1"]


def test_rerun_without_change_writes_nothing(
    mongo_settings: MakeSettings, mongo_db: Database[dict[str, Any]]
) -> None:
    settings = mongo_settings(mongodb_batch_size=3)
    lake = Lake.from_settings(settings)
    write_marts(lake, news=NEWS_SQL, instructions=instructions_sql(10))
    export_mongo(settings, lake)
    before = {d["_id"]: d["_export"]["exported_at"] for d in mongo_db["instructions_qa"].find()}

    again = export_mongo(settings, lake)

    assert again.writes == 0
    inst = again.collections["instructions_qa"]
    assert (inst.inserted, inst.updated, inst.unchanged, inst.removed) == (0, 0, 10, 0)
    assert inst.batches == 4  # 3 + 3 + 3 + 1 rows
    after = {d["_id"]: d["_export"]["exported_at"] for d in mongo_db["instructions_qa"].find()}
    assert after == before


@pytest.mark.parametrize("removal", ["delete", "flag"])
def test_changed_added_and_removed_rows(
    mongo_settings: MakeSettings, mongo_db: Database[dict[str, Any]], removal: str
) -> None:
    settings = mongo_settings(mongodb_removal=removal, mongodb_batch_size=4)
    lake = Lake.from_settings(settings)
    write_marts(lake, instructions=instructions_sql(6))
    export_mongo(settings, lake)
    # rows 0 and 3 leave the mart, row 7 arrives (6 is skipped too), every answer changes
    write_marts(lake, instructions=instructions_sql(8, version="v2", skip_every=3))

    stats = export_mongo(settings, lake).collections["instructions_qa"]

    assert (stats.inserted, stats.updated, stats.unchanged, stats.removed) == (1, 4, 0, 2)
    docs = documents(mongo_db, "instructions_qa")
    live = {k for k, d in docs.items() if "removed_at" not in d}
    assert live == {"doc000001", "doc000002", "doc000004", "doc000005", "doc000007"}
    assert all(docs[k]["answer"].endswith("(v2)") for k in live)
    if removal == "delete":
        assert set(docs) == live
    else:
        assert set(docs) - live == {"doc000000", "doc000003"}
        assert isinstance(docs["doc000003"]["removed_at"], dt.datetime)
        # a flagged row that comes back is live again
        write_marts(lake, instructions=instructions_sql(8, version="v2"))
        back = export_mongo(settings, lake).collections["instructions_qa"]
        assert (back.inserted, back.updated, back.unchanged) == (1, 2, 5)  # 6 new, 0/3 back
        assert all("removed_at" not in d for d in mongo_db["instructions_qa"].find())


def test_dropped_column_is_unset_and_fields_added_by_others_survive(
    mongo_settings: MakeSettings, mongo_db: Database[dict[str, Any]]
) -> None:
    settings = mongo_settings()
    lake = Lake.from_settings(settings)
    write_marts(lake, instructions=f"select *, 0.1 as old_score from ({instructions_sql(2)})")
    export_mongo(settings, lake)
    mongo_db["instructions_qa"].update_one({"_id": "doc000001"}, {"$set": {"reviewed": True}})
    write_marts(lake, instructions=instructions_sql(2))

    stats = export_mongo(settings, lake).collections["instructions_qa"]

    assert stats.updated == 2
    doc = mongo_db["instructions_qa"].find_one({"_id": "doc000001"})
    assert "old_score" not in doc and doc["reviewed"] is True
    assert "old_score" not in doc["_export"]["fields"]


def test_a_row_the_validator_refuses_is_counted_and_the_others_are_written(
    mongo_settings: MakeSettings, mongo_db: Database[dict[str, Any]]
) -> None:
    settings = mongo_settings()
    lake = Lake.from_settings(settings)
    bad = f"""
        select doc_id, case when doc_id = 'doc000002' then '' else question end as question,
               answer, language, lineage_ids, source_dataset
        from ({instructions_sql(4)})
    """
    write_marts(lake, instructions=bad)

    stats = export_mongo(settings, lake)

    inst = stats.collections["instructions_qa"]
    assert stats.status == "rejected_rows" and "1 row(s) failed the collection validator" in (
        stats.message
    )
    assert (inst.inserted, inst.rejected) == (3, 1)
    assert inst.rejected_examples[0].startswith("doc000002: ")
    assert mongo_db["instructions_qa"].count_documents({}) == 3


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "select doc_id, question, answer, language from ({})",
            "exp_mongo__instructions_qa lacks the column(s) lineage_ids",
        ),
        (
            "select *, 1 as removed_at from ({})",
            "column(s) the export cannot use as field names: removed_at",
        ),
        (
            "select * from ({0}) union all select * from ({0}) where doc_id = 'doc000001'",
            "doc_id 'doc000001' is not unique",
        ),
    ],
)
def test_a_mart_that_breaks_the_contract_is_named(
    mongo_settings: MakeSettings, sql: str, message: str
) -> None:
    settings = mongo_settings()
    lake = Lake.from_settings(settings)
    write_marts(lake, instructions=sql.format(instructions_sql(3)))
    with pytest.raises(ExportError, match=re.escape(message)):
        export_mongo(settings, lake)


def test_missing_mart_says_to_build(mongo_settings: MakeSettings) -> None:
    settings = mongo_settings()
    lake = Lake.from_settings(settings)
    lake.root.mkdir(parents=True)
    import duckdb

    duckdb.connect(str(lake.warehouse)).close()
    with pytest.raises(ExportError, match="has no exp_mongo__news_qa, exp_mongo__instructions"):
        export_mongo(settings, lake)


def test_unreachable_server_fails_clearly_without_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens there
    settings = load_settings(
        lake_root=tmp_path / "lake",
        mongodb_uri=f"mongodb://exporter:pa55w0rd-x@127.0.0.1:{port}/?authSource=admin",
        mongodb_timeout_s=0.5,
    )
    lake = Lake.from_settings(settings)
    write_marts(lake, instructions=instructions_sql(1))
    caplog.set_level(logging.DEBUG)

    with pytest.raises(MongoExportError) as info:
        export_mongo(settings, lake)

    message = str(info.value)
    assert message.startswith(f"MongoDB export to mongodb://***@127.0.0.1:{port}/")
    assert "failed connecting" in message and info.value.transient
    assert "pa55w0rd" not in message and "pa55w0rd" not in caplog.text


def test_credentials_are_never_logged_nor_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cret-Pa55"
    with MongoServer.create(tmp_path / "auth", user="exporter", password=secret) as server:
        settings = load_settings(
            lake_root=tmp_path / "lake", mongodb_uri=server.uri, mongodb_database="authdb"
        )
        lake = Lake.from_settings(settings)
        write_marts(lake, news=NEWS_SQL, instructions=instructions_sql(2))
        caplog.set_level(logging.DEBUG)

        stats = export_mongo(settings, lake)

        from pymongo import MongoClient

        with MongoClient(server.uri) as client:
            stored = json.dumps(list(client.authdb.news_qa.find()), default=str)
    assert stats.collections["news_qa"].inserted == 2
    assert stats.server == f"mongodb://***@127.0.0.1:{server.port}/?authSource=admin&" + (
        "authMechanism=SCRAM-SHA-256"
    )
    for text in (caplog.text, json.dumps(stats.as_dict()), stored, repr(settings)):
        assert secret not in text
    assert "mongodb://***@" in caplog.text

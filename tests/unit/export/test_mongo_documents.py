"""Rows -> documents (export/mongo.py) without a server: value mapping, hashing, the contract."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from zoneinfo import ZoneInfo

import pytest
from bson.decimal128 import Decimal128
from synthlake.export.mongo import _scrub, check_columns, document_hash, row_document, to_bson

from synthlake.errors import ExportError

ROME = ZoneInfo("Europe/Rome")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (3, 3),
        (2**70, Decimal128(str(2**70))),
        (0.5, 0.5),
        (decimal.Decimal("0.81"), 0.81),
        ("testo", "testo"),
        (dt.date(2024, 1, 6), dt.datetime(2024, 1, 6, tzinfo=dt.UTC)),
        (  # to UTC, microseconds cut to the milliseconds BSON keeps
            dt.datetime(2024, 1, 6, 18, 54, 0, 123456, tzinfo=ROME),
            dt.datetime(2024, 1, 6, 17, 54, 0, 123000, tzinfo=dt.UTC),
        ),
        (dt.datetime(2024, 1, 6, 18, 54), dt.datetime(2024, 1, 6, 18, 54, tzinfo=dt.UTC)),
        (dt.time(10, 30), "10:30:00"),
        (dt.timedelta(minutes=2), 120.0),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        ({1: ["a", dt.date(2024, 1, 1)]}, {"1": ["a", dt.datetime(2024, 1, 1, tzinfo=dt.UTC)]}),
        (("x", 1), ["x", 1]),
    ],
)
def test_to_bson(value: object, expected: object) -> None:
    assert to_bson(value) == expected


def test_unknown_type_is_named() -> None:
    with pytest.raises(TypeError, match="no BSON mapping for object"):
        to_bson(object())


def test_row_document_takes_doc_id_out() -> None:
    doc_id, fields = row_document(
        ["doc_id", "question", "sources"], ["d1", "q", [{"title": "t", "tags": []}]]
    )
    assert doc_id == "d1"
    assert fields == {"question": "q", "sources": [{"title": "t", "tags": []}]}


def test_hash_ignores_key_order_but_not_values_or_list_order() -> None:
    base = document_hash({"a": 1, "b": [0.8, 0.9], "c": {"x": "y"}})
    assert document_hash({"c": {"x": "y"}, "b": [0.8, 0.9], "a": 1}) == base
    assert document_hash({"a": 1, "b": [0.9, 0.8], "c": {"x": "y"}}) != base
    assert document_hash({"a": 1, "b": [0.8, 0.9], "c": {"x": "z"}}) != base
    assert document_hash({"a": 1, "b": [0.8, 0.9]}) != base
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert document_hash({"d": when}) != document_hash({"d": when + dt.timedelta(seconds=1)})


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (["doc_id", "question", "answer", "language"], "lacks the column(s) lineage_ids"),
        (["question", "answer", "language", "lineage_ids"], "lacks the column(s) doc_id"),
        (
            ["doc_id", "question", "answer", "language", "lineage_ids", "_export", "a.b"],
            "cannot use as field names: _export, a.b",
        ),
    ],
)
def test_check_columns(columns: list[str], message: str) -> None:
    with pytest.raises(ExportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_columns("exp_mongo__x", columns)


def test_scrub_removes_credentials_from_driver_messages() -> None:
    uri = "mongodb://exporter:pa55@db.example:27017/?authSource=admin"
    text = f"cannot reach {uri}; auth exporter:pa55@db.example failed"
    scrubbed = _scrub(text, uri)
    assert "pa55" not in scrubbed
    assert "mongodb://***@db.example:27017/?authSource=admin" in scrubbed

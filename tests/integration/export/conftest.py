"""Fixtures of the export tests: a real MongoDB wire server (tests/fixtures/mongo.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from synthlake.settings import Settings, load_settings
from tests.fixtures import mongo

mongo_server = mongo.mongo_server
mongo_uri = mongo.mongo_uri


@pytest.fixture
def database_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def mongo_db(mongo_uri: str, database_name: str) -> Iterator[Database[dict[str, Any]]]:
    """A database of its own on the session's server, dropped afterwards."""
    with MongoClient(mongo_uri, tz_aware=True, serverSelectionTimeoutMS=5000) as client:
        yield client[database_name]
        client.drop_database(database_name)


@pytest.fixture
def mongo_settings(
    tmp_path: Any, mongo_uri: str, database_name: str, mongo_db: Database[dict[str, Any]]
) -> Callable[..., Settings]:
    """Settings pointing at the test database; keyword arguments override fields."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "lake_root": tmp_path / "lake",
            "mongodb_uri": mongo_uri,
            "mongodb_database": database_name,
            "mongodb_timeout_s": 2,
        }
        return load_settings(**(values | overrides))

    return make

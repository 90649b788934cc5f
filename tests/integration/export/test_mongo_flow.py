"""The Prefect flow ``export_mongo`` end to end, and its retry rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database
from synthlake.export.mongo import MongoExportError

from synthlake.errors import ExportError, retry_if_transient
from tests.integration.export.marts import NEWS_SQL, instructions_sql, write_marts


class _State:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def result(self, raise_on_failure: bool = True) -> BaseException:
        return self.exc


@pytest.mark.parametrize(
    ("exc", "retried"),
    [
        (MongoExportError("lost", server="mongodb://h/", transient=True), True),
        (MongoExportError("refused write", server="mongodb://h/", transient=False), False),
        (ExportError("exp_mongo__news_qa lacks the column(s) question"), False),
    ],
)
def test_only_connection_failures_are_retried(exc: BaseException, retried: bool) -> None:
    assert retry_if_transient(None, None, _State(exc)) is retried


@pytest.mark.slow
def test_flow_exports_the_marts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mongo_uri: str,
    database_name: str,
    mongo_db: Database[dict[str, Any]],
) -> None:
    from prefect.testing.utilities import prefect_test_harness
    from synthlake.export.flows import export_mongo

    from synthlake.lake import Lake

    lake = Lake(tmp_path / "lake").ensure()
    write_marts(lake, news=NEWS_SQL, instructions=instructions_sql(3))
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    monkeypatch.setenv("SYNTHLAKE_MONGODB_DATABASE", database_name)

    with prefect_test_harness(server_startup_timeout=120):  # slow on a loaded machine
        result = export_mongo(lake_root=str(lake.root))

    assert result["status"] == "ok" and result["writes"] == 5
    assert result["collections"]["news_qa"]["inserted"] == 2
    assert mongo_db["instructions_qa"].count_documents({}) == 3

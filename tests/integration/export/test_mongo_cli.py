"""`synthlake export mongo`: build once, push later (or to a second server), from the CLI.

Against the real MongoDB wire server of the export tests; the marts are written to the
warehouse with SQL (tests/integration/export/marts.py), as a build would leave them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database
from typer.testing import CliRunner

from synthlake.lake import Lake
from tests.fixtures.mongo import free_port
from tests.integration.export.marts import NEWS_SQL, instructions_sql, write_marts

runner = CliRunner()


@pytest.fixture
def built_lake(tmp_path: Path, database_name: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A lake whose warehouse has both Mongo marts (2 news pairs, 3 instruction pairs)."""
    lake = Lake(tmp_path / "lake").ensure()
    write_marts(lake, news=NEWS_SQL, instructions=instructions_sql(3))
    monkeypatch.setenv("SYNTHLAKE_MONGODB_DATABASE", database_name)
    monkeypatch.setenv("SYNTHLAKE_MONGODB_TIMEOUT_S", "2")
    return lake.root


def export(*args: str) -> Any:
    from synthlake.pipeline.cli import app

    return runner.invoke(app, ["export", *args])


def test_export_mongo_writes_the_marts_and_a_second_export_writes_nothing(
    built_lake: Path, mongo_uri: str, mongo_db: Database[dict[str, Any]]
) -> None:
    first = export("mongo", "--uri", mongo_uri, "--lake", str(built_lake))
    assert first.exit_code == 0, first.output
    assert "mongodb news_qa: rows 2, inserted 2, updated 0, unchanged 0" in first.stdout
    assert "mongodb instructions_qa: rows 3, inserted 3" in first.stdout
    assert "5 document write(s)" in first.stdout
    assert mongo_db["news_qa"].count_documents({}) == 2
    assert mongo_db["instructions_qa"].count_documents({}) == 3
    # only MongoDB: neither the files nor the training export ran
    assert not any((built_lake / "exports").iterdir())

    again = export("mongo", "--uri", mongo_uri, "--lake", str(built_lake))
    assert again.exit_code == 0, again.output
    assert "mongodb news_qa: rows 2, inserted 0, updated 0, unchanged 2" in again.stdout
    assert "0 document write(s)" in again.stdout


@pytest.mark.parametrize("variable", ["SYNTHLAKE_MONGODB_URI", "MONGODB_URI"])
def test_without_uri_the_settings_name_the_server(
    built_lake: Path,
    mongo_uri: str,
    mongo_db: Database[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    monkeypatch.setenv(variable, mongo_uri)
    result = export("mongo", "--lake", str(built_lake))
    assert result.exit_code == 0, result.output
    assert mongo_db["news_qa"].count_documents({}) == 2


def test_uri_wins_over_the_setting_so_a_second_server_can_be_fed(
    built_lake: Path,
    mongo_uri: str,
    mongo_db: Database[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the configured server is down; the one named on the command line gets the documents
    monkeypatch.setenv("SYNTHLAKE_MONGODB_URI", f"mongodb://127.0.0.1:{free_port()}/")
    result = export("mongo", "--uri", mongo_uri, "--lake", str(built_lake))
    assert result.exit_code == 0, result.output
    assert mongo_db["instructions_qa"].count_documents({}) == 3


def test_export_all_includes_mongodb_and_one_failed_target_stops_no_other(
    built_lake: Path,
    mongo_uri: str,
    mongo_db: Database[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = export("files", "--lake", str(built_lake))
    assert files.exit_code == 0, files.output
    assert "mongodb" not in files.output

    # no exp_train__sft in this warehouse: the training export fails, MongoDB still gets
    # its documents, and the command exits 1 naming what failed
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    result = export("--lake", str(built_lake))
    assert result.exit_code == 1, result.output
    assert "error: training:" in result.output
    assert "export failed for: training" in " ".join(result.output.split())
    assert "mongodb news_qa: rows 2, inserted 2" in result.stdout
    assert mongo_db["news_qa"].count_documents({}) == 2


def test_no_uri_anywhere_is_a_clear_error(built_lake: Path) -> None:
    result = export("mongo", "--lake", str(built_lake))
    assert result.exit_code == 2
    assert "--uri" in result.output and "SYNTHLAKE_MONGODB_URI" in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_server_is_one_line_without_the_password(built_lake: Path) -> None:
    uri = f"mongodb://alice:s3cret-pw@127.0.0.1:{free_port()}/"
    result = export("mongo", "--uri", uri, "--lake", str(built_lake))
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "127.0.0.1" in result.output
    assert "s3cret-pw" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["files", "--uri", "mongodb://127.0.0.1:9/"], "--uri names a MongoDB server"),
        (["mongo", "--push", "me/data"], "--push uploads the training dataset"),
        (["everything"], "use all, files, training, mongo"),
    ],
)
def test_options_that_do_not_fit_the_target_are_refused(
    built_lake: Path, args: list[str], message: str
) -> None:
    result = export(*args, "--lake", str(built_lake))
    assert result.exit_code == 2
    assert message in " ".join(result.output.split()), result.output

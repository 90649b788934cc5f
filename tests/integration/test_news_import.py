"""The news file import against a real lake on disk, in every supported file format."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.news.importer import import_news_file
from synthlake.errors import InputFileError
from synthlake.lake import Lake
from synthlake.settings import Settings

ARTICLES = [
    {
        "url": "https://www.ansa.it/sito/notizie/2024/01/06/a_1.html",
        "outlet": "ansa",
        "title": "Neve sulle Alpi",
        "date": "06 gennaio 2024, 18:54",
        "tags": ["Meteo"],
        "content": "ROMA, 06 GEN - Nevica.\n\nStrade chiuse.",
    },
    {
        "url": "https://www.open.online/2024/01/07/b/",
        "title": "Treni in ritardo",
        "date": "7 Gennaio 2024",
        "tags": "Trasporti, Sciopero",
        "content": "Uno.\nDue.",
    },
    {
        "url": "https://www.ilpost.it/2024/01/08/c/",
        "title": "Un museo nuovo",
        "date": "2024-01-08T10:00:00+01:00",
        "content": "Apre oggi.",
    },
]


def write(path: Path, records: list[dict]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    elif path.suffix == ".csv":
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(
                handle, fieldnames=["url", "outlet", "title", "date", "tags", "content"]
            )
            writer.writeheader()
            for r in records:
                row = dict(r)
                if isinstance(row.get("tags"), list):
                    row["tags"] = ", ".join(row["tags"])
                writer.writerow(row)
    else:
        pq.write_table(
            pa.Table.from_pylist(
                [
                    r | {"tags": r.get("tags") if isinstance(r.get("tags"), list) else None}
                    for r in records
                ]
            ),
            path,
        )
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_import_each_format(tmp_path: Path, lake: Lake, settings: Settings, suffix: str) -> None:
    path = write(tmp_path / f"crawl{suffix}", ARTICLES)
    stats = import_news_file(path, lake, settings, run_id="r1")
    assert (stats.read, stats.new, stats.rejected) == (3, 3, {})
    table = lake.read_raw("news").to_pylist()
    by_title = {row["title"]: row for row in table}
    assert set(by_title) == {"Neve sulle Alpi", "Treni in ritardo", "Un museo nuovo"}
    assert by_title["Neve sulle Alpi"]["published_at"].isoformat() == "2024-01-06T17:54:00+00:00"
    assert by_title["Neve sulle Alpi"]["content"] == "ROMA, 06 GEN - Nevica.\n\nStrade chiuse."
    assert by_title["Un museo nuovo"]["outlet"] == "ilpost"
    if suffix != ".parquet":
        assert by_title["Treni in ritardo"]["tags"] == ["Trasporti", "Sciopero"]
    assert all(row["ingested_at"].tzinfo is not None for row in table)
    assert all(len(row["content_hash"]) == 64 for row in table)


def test_rerun_adds_nothing_and_an_update_adds_a_version(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    path = write(tmp_path / "a.jsonl", ARTICLES)
    import_news_file(path, lake, settings, run_id="r1")
    files_before = lake.raw_files("news")
    again = import_news_file(path, lake, settings, run_id="r2")
    assert (again.new, again.updated, again.unchanged) == (0, 0, 3)
    assert lake.raw_files("news") == files_before

    changed = [ARTICLES[0] | {"content": "ROMA, 06 GEN - Nevica ancora."}, *ARTICLES[1:]]
    update = import_news_file(write(tmp_path / "b.jsonl", changed), lake, settings, run_id="r3")
    assert (update.new, update.updated, update.unchanged) == (0, 1, 2)
    assert lake.read_raw("news").num_rows == 4  # the old version is kept, nothing is lost


def test_bad_rows_are_rejected_and_the_rest_stored(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    path = tmp_path / "messy.jsonl"
    lines = [
        json.dumps(ARTICLES[0]),
        "{not json",
        json.dumps(ARTICLES[0]),
        json.dumps({"url": "https://www.open.online/x/", "title": "Vuoto", "body": []}),
        json.dumps(["a", "list"]),
        json.dumps(ARTICLES[1]),
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"title": "\xff\xfe"}\n')
    stats = import_news_file(path, lake, settings, run_id="r1")
    assert stats.new == 2
    assert stats.rejected == {
        "invalid_json": 1,
        "duplicate_url": 1,
        "empty_content": 1,
        "not_an_object": 1,
        "invalid_utf8": 1,
    }
    rejects = {r["reason"]: r for r in lake.read_raw("rejects").to_pylist()}
    assert rejects["invalid_json"]["locator"] == "line 2"
    assert rejects["duplicate_url"]["locator"] == "line 3"
    assert "line 1" in rejects["duplicate_url"]["detail"]
    assert rejects["invalid_utf8"]["locator"] == "line 7"
    assert all(r["source"] == str(path) for r in rejects.values())


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.jsonl", None, "input file not found"),
        ("notes.txt", "hello", "unsupported file type '.txt'"),
        ("broken.parquet", b"PAR1garbage", "not a readable Parquet file"),
        ("broken.json", '[{"url": ', "not a valid JSON array"),
    ],
)
def test_unreadable_files_raise_a_clear_error(
    tmp_path: Path, lake: Lake, settings: Settings, name: str, content: object, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(InputFileError, match=message) as info:
        import_news_file(path, lake, settings, run_id="r1")
    assert name in str(info.value)
    assert lake.read_raw("news").num_rows == 0

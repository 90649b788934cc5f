"""The news file import against a real lake on disk, in every supported file format."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from synthlake.ingest.news.importer import import_news_file

from synthlake.errors import InputFileError
from synthlake.lake import Lake
from synthlake.settings import Settings, load_settings

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


# --- Real-shaped crawls: archive snapshots, datelines, capture stamps, URL-path dates ---------

WAYBACK = "https://web.archive.org/web"


def _paragraphs(topic: str, n: int) -> list[str]:
    return [f"Paragrafo {i} sul tema {topic}, con qualche dettaglio in più." for i in range(n)]


def real_shaped_rows() -> tuple[list[dict], dict[str, str]]:
    """Rows as real crawls write them, and each original URL's publication day (Rome)."""
    rows: list[dict] = []
    days: dict[str, str] = {}
    # Il Post read from the archive, each article from 3 snapshots: the dates are the
    # listing page's capture stamp, a day after publication; the URL path has the day.
    for n in range(8):
        day = f"2024-01-{n + 2:02d}"
        url = f"https://www.ilpost.it/2024/01/{n + 2:02d}/notizia-{n}/"
        days[url] = day
        for k, (stamp, extra) in enumerate(
            [("20240110082917", 2), ("20240111090000id_", 4), ("20240112101010", 3)]
        ):
            scheme_url = url if k != 1 else url.replace("https://", "http://")
            rows.append(
                {
                    "url": f"{WAYBACK}/{stamp}/{scheme_url}",
                    "title": f"Notizia {n} del Post",
                    "date": "20240110082917",
                    "content": _paragraphs(f"post {n}", extra),
                }
            )
    # Open from the archive: "1 Gennaio 2024", month capitalized, no time.
    for n in range(6):
        url = f"https://www.open.online/2024/01/{n + 1:02d}/pezzo-{n}/"
        days[url] = f"2024-01-{n + 1:02d}"
        rows.append(
            {
                "url": f"http://web.archive.org/web/2024010{n + 2}120000/{url}",
                "outlet": "web.archive.org",
                "title": f"Pezzo {n} di Open",
                "date": f"{n + 1} Gennaio 2024",
                "content": "\n".join(_paragraphs(f"open {n}", 2)),
            }
        )
    # ANSA: datelines with a newline and padding; URLs with a date in the path.
    for n in range(6):
        url = f"https://www.ansa.it/sito/notizie/cronaca/2024/01/0{n + 2}/ansa-{n}.html"
        days[url] = f"2024-01-0{n + 1}"  # the dateline says the day before the path
        rows.append(
            {
                "url": url,
                "title": f"Lancio {n}",
                "date": f"TARVISIO,\n                          0{n + 1} gennaio 2024, 18:54",
                "content": f"TARVISIO, 0{n + 1} GEN - Testo del lancio {n}.",
            }
        )
    return rows, days


def test_a_real_shaped_import_stores_one_row_per_article_with_its_day(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    rows, days = real_shaped_rows()
    stats = import_news_file(write(tmp_path / "crawl.jsonl", rows), lake, settings, run_id="r1")
    table = lake.read_raw("news").to_pylist()

    assert sorted(r["url"] for r in table) == sorted(days)  # one row per original URL
    assert {r["outlet"] for r in table} == {"ilpost", "open", "ansa"}
    assert stats.new == len(days) and stats.rejected == {"duplicate_url": 16}
    rome = ZoneInfo("Europe/Rome")
    right_day = [
        r
        for r in table
        if r["published_at"]
        and r["published_at"].astimezone(rome).date().isoformat() == days[r["url"]]
    ]
    assert len(right_day) >= 0.95 * len(days)
    assert len(right_day) == len(days)
    assert stats.published_at_sources == {"url_path": 8, "text": 12}
    assert "url_path=8" in stats.summary() and "none=0" in stats.summary()
    # The snapshot with the longest body won, with its own capture time.
    post = next(r for r in table if r["url"] == "https://www.ilpost.it/2024/01/02/notizia-0/")
    assert post["snapshot_url"].startswith(f"{WAYBACK}/20240111090000id_/")
    assert post["captured_at"].isoformat() == "2024-01-11T09:00:00+00:00"
    assert len(post["content"].split("\n\n")) == 4
    assert all(r["ingested_at"].date() != r["published_at"].date() for r in table)


def test_a_later_import_with_better_fields_updates_and_a_worse_one_changes_nothing(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    url = "https://www.ansa.it/sito/notizie/cronaca/neve.html"
    poor = {"url": f"{WAYBACK}/20240109082917/{url}", "title": "Neve", "content": "Nevica."}
    import_news_file(write(tmp_path / "a.jsonl", [poor]), lake, settings, run_id="r1")
    (stored,) = lake.read_raw("news").to_pylist()
    assert stored["published_at_source"] == "capture" and stored["url"] == url

    better = poor | {"date": "08 gennaio 2024, 07:10", "tags": ["Meteo"], "author": "Red."}
    second = import_news_file(write(tmp_path / "b.jsonl", [better]), lake, settings, run_id="r2")
    assert (second.new, second.updated, second.unchanged) == (0, 1, 0)

    # The first, poorer copy again: what is stored is better, nothing is written.
    third = import_news_file(write(tmp_path / "c.jsonl", [poor]), lake, settings, run_id="r3")
    assert (third.new, third.updated, third.unchanged) == (0, 0, 1)
    newest = max(lake.read_raw("news").to_pylist(), key=lambda r: r["ingested_at"])
    assert newest["published_at"].isoformat() == "2024-01-08T06:10:00+00:00"
    assert (newest["published_at_source"], newest["tags"], newest["author"]) == (
        "text",
        ["Meteo"],
        "Red.",
    )


# --- Bad rows never crash an import --------------------------------------------------------------


def test_rows_with_wrong_types_are_rejected_and_the_valid_ones_kept(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    base = {"url": "https://www.open.online/2024/01/0{}/x/", "title": "T", "content": "Testo."}
    bad = [{"content": 42}, {"tags": 5}, {"content": {"a": 1}}]
    rows = (
        [ARTICLES[0]]
        + [base | {"url": base["url"].format(i + 1)} | change for i, change in enumerate(bad)]
        + [ARTICLES[1]]
    )
    stats = import_news_file(write(tmp_path / "typed.jsonl", rows), lake, settings, run_id="r1")
    assert (stats.new, stats.rejected) == (2, {"invalid_field": 3})
    rejects = sorted(lake.read_raw("rejects").to_pylist(), key=lambda r: r["locator"])
    assert [r["locator"] for r in rejects] == ["line 2", "line 3", "line 4"]
    assert ["'content'" in rejects[0]["detail"], "'tags'" in rejects[1]["detail"]] == [True, True]


def test_a_csv_without_a_content_column_says_so_once(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    path = tmp_path / "no_body.csv"
    path.write_text("url,title,date\nhttps://www.ansa.it/a.html,T,2024-01-01\n")
    with pytest.raises(InputFileError, match="no content column") as info:
        import_news_file(path, lake, settings, run_id="r1")
    assert "its columns are: url, title, date" in str(info.value)
    assert lake.read_raw("news").num_rows == 0 and lake.read_raw("rejects").num_rows == 0


def test_one_latin1_byte_in_a_csv_rejects_that_line_only(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        "url,title,content\nhttps://www.ansa.it/a.html,Primo,Testo città.\n".encode()
        + b"https://www.ansa.it/b.html,Secondo,Citt\xe0 vecchia.\n"
        + b'https://www.ansa.it/c.html,Terzo,"Due\nrighe."\n'
    )
    stats = import_news_file(path, lake, settings, run_id="r1")
    assert (stats.new, stats.rejected) == (2, {"invalid_utf8": 1})
    (reject,) = lake.read_raw("rejects").to_pylist()
    assert reject["locator"] == "line 3" and f"{path}:3" in reject["detail"]
    assert {r["title"] for r in lake.read_raw("news").to_pylist()} == {"Primo", "Terzo"}


def test_html_is_stored_as_text(tmp_path: Path, lake: Lake, settings: Settings) -> None:
    row = {
        "url": "https://www.ilpost.it/2024/01/08/c/",
        "title": "Musei &amp; mostre",
        "content": "<h1>Musei</h1><script>track()</script><p>Apre\x00 oggi &amp; domani.</p>",
    }
    import_news_file(write(tmp_path / "html.jsonl", [row]), lake, settings, run_id="r1")
    (stored,) = lake.read_raw("news").to_pylist()
    assert (stored["title"], stored["content"]) == (
        "Musei & mostre",
        "Musei\n\nApre oggi & domani.",
    )


def test_unparsed_and_future_dates_are_flagged_and_counted(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    rows = [
        ARTICLES[0],
        ARTICLES[1] | {"date": "ieri pomeriggio"},
        ARTICLES[2] | {"date": "2099-01-01T10:00:00+01:00"},
        {"url": "https://www.ansa.it/x.html", "title": "Senza data", "content": "Testo."},
    ]
    stats = import_news_file(write(tmp_path / "dates.jsonl", rows), lake, settings, run_id="r1")
    assert stats.new == 4 and stats.rejected == {}
    assert stats.flagged == {"unparsed_date": 1, "future_date": 1}
    assert stats.published_at_sources == {"text": 1, "url_path": 2, "none": 1}
    by_title = {r["title"]: r for r in lake.read_raw("news").to_pylist()}
    assert by_title["Treni in ritardo"]["flags"] == ["unparsed_date"]
    assert by_title["Treni in ritardo"]["published_at_text"] == "ieri pomeriggio"
    assert by_title["Un museo nuovo"]["flags"] == ["future_date"]
    assert by_title["Un museo nuovo"]["published_at"].date().isoformat() == "2024-01-07"
    assert by_title["Senza data"]["published_at"] is None
    assert by_title["Senza data"]["published_at_source"] == "none"


def test_an_article_over_the_size_cap_is_rejected(tmp_path: Path, lake: Lake) -> None:
    settings = load_settings(lake_root=lake.root, news_max_article_chars=5_000)
    rows = [ARTICLES[0], ARTICLES[1] | {"content": "parola " * 2_000}]
    stats = import_news_file(write(tmp_path / "big.jsonl", rows), lake, settings, run_id="r1")
    assert (stats.new, stats.rejected) == (1, {"too_large": 1})
    assert load_settings().news_max_article_chars == 200_000


@pytest.mark.parametrize(
    ("name", "content"), [("empty.jsonl", ""), ("header.csv", "url,title,content\n")]
)
def test_a_file_with_no_rows_warns(
    tmp_path: Path,
    lake: Lake,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    name: str,
    content: str,
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with caplog.at_level(logging.WARNING):
        stats = import_news_file(path, lake, settings, run_id="r1")
    assert stats.read == 0
    assert any("0 rows read" in w for w in stats.warnings)
    assert "0 rows read" in caplog.text

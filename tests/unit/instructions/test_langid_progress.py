"""A language check killed mid-way resumes from its stored batches (CheckProgress)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from synthlake.instructions.langid import LANGID_SCHEMA, LanguageIdentifier, check_languages
from synthlake.instructions.langid_progress import CheckProgress

SENTENCES = {
    "en": "The library on the corner opens late on Thursdays, and entry is free for students.",
    "it": "La biblioteca all'angolo apre tardi il giovedì, l'ingresso è libero per gli studenti.",
}


def rows(n: int = 25) -> pa.Table:
    # every fifth row is Italian under an English label
    return pa.Table.from_pylist(
        [
            {
                "id": f"row{i:02d}",
                "language": "en",
                "turns": [{"role": "user", "content": SENTENCES["it" if i % 5 == 0 else "en"]}],
                "content_hash": f"h{i}",
            }
            for i in range(n)
        ]
    )


class Killed(Exception):
    pass


def check_until_killed(table: pa.Table, identifier, progress: CheckProgress, batches: int) -> None:  # noqa: ANN001
    saved = []

    def save_then_die(verdicts: pa.Table) -> None:
        progress.save(verdicts)
        saved.append(verdicts.num_rows)
        if len(saved) == batches:
            raise Killed

    with pytest.raises(Killed):
        check_languages(table, identifier, batch_rows=10, on_batch=save_then_die)


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier(["en", "it", "fr"])


def by_id(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: r["id"])


def test_a_killed_check_resumes_with_the_rows_it_had_not_checked(
    tmp_path: Path, identifier: LanguageIdentifier
) -> None:
    table = rows()
    progress = CheckProgress(tmp_path / "langid", identifier.config)
    check_until_killed(table, identifier, progress, batches=2)  # 20 of 25 rows stored
    con = duckdb.connect()
    taken, rest = progress.take(con, con.from_arrow(table))
    assert taken.num_rows == 20 and taken.schema == LANGID_SCHEMA
    assert sorted(r[0] for r in rest.project("id").fetchall()) == [f"row{i}" for i in range(20, 25)]
    resumed = pa.concat_tables([taken, check_languages(rest.to_arrow_table(), identifier)])
    assert by_id(resumed) == by_id(check_languages(table, identifier))
    assert sum(resumed.column("language_mismatch").to_pylist()) == 5
    # once the table has every row, the next build has nothing to take: the files go
    taken, rest = progress.take(con, con.from_arrow(table.slice(0, 0)))
    assert taken.num_rows == 0 and progress.files() == []


def test_verdicts_of_another_config_or_another_content_are_not_taken(
    tmp_path: Path, identifier: LanguageIdentifier
) -> None:
    table = rows()
    folder = tmp_path / "langid"
    check_until_killed(table, identifier, CheckProgress(folder, identifier.config), batches=1)
    con = duckdb.connect()
    # the check changed (another minimum): its rows are checked again, the old file goes
    other = LanguageIdentifier(["en", "it", "fr"], min_letters=30)
    taken, rest = CheckProgress(folder, other.config).take(con, con.from_arrow(table))
    assert taken.num_rows == 0 and len(rest.project("id").fetchall()) == 25
    assert list(folder.glob("batch-*")) == []
    # a row whose content changed since its verdict was stored is checked again
    progress = CheckProgress(folder, identifier.config)
    check_until_killed(table, identifier, progress, batches=1)
    changed = table.set_column(3, "content_hash", pa.array([f"new{i}" for i in range(25)]))
    edited = pa.concat_tables([changed.slice(0, 3), table.slice(3)])
    taken, rest = progress.take(con, con.from_arrow(edited))
    assert sorted(taken.column("id").to_pylist()) == [f"row{i:02d}" for i in range(3, 10)]
    assert len(rest.project("id").fetchall()) == 25 - 7

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest

from synthlake.errors import SettingsError, SynthlakeError
from synthlake.instructions import langid
from synthlake.instructions.langid import LanguageIdentifier, check_languages

LANGS = ["en", "it", "fr", "es", "de", "pt", "nl", "ro", "ca", "pl", "sv"]


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier(LANGS, min_letters=20)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The museum is closed on Mondays, but tickets can be bought online.", "en"),
        ("Il museo è chiuso il lunedì, ma puoi acquistare i biglietti online.", "it"),
        ("Le musée est fermé le lundi, mais on peut acheter les billets en ligne.", "fr"),
        ("Blue", None),  # too short to judge
        ("1. Peru\n2. Portugal\n3. Poland\n4. Pakistan", None),  # names: no confident winner
        (
            "Here is the code:\n\n```python\ndef ciao_mondo(): return 'ciao'\n```\n\n"
            "It prints a greeting when you call it.",
            "en",
        ),
    ],
)
def test_detection(identifier: LanguageIdentifier, text: str, language: str | None) -> None:
    assert identifier.detect(text).language == language


def turns(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in pairs]


def test_rows_whose_turns_contradict_the_label_are_flagged(identifier: LanguageIdentifier) -> None:
    rows = pa.Table.from_pylist(
        [
            {
                "id": "translation-task",
                "language": "en",
                "turns": turns(
                    ("user", 'Translate into Italian: "The museum is closed on Mondays."'),
                    ("assistant", '"Il museo è chiuso il lunedì, e riapre il martedì mattina."'),
                ),
            },
            {
                "id": "list-of-names",
                "language": "en",
                "turns": turns(
                    ("user", "Name four countries whose names begin with the letter P."),
                    ("assistant", "1. Peru\n2. Portugal\n3. Poland\n4. Pakistan"),
                ),
            },
            {
                "id": "mislabelled",
                "language": "en",
                "turns": turns(
                    ("user", "Scrivi una frase sul mare d'inverno e sul vento freddo."),
                    ("assistant", "Il mare d'inverno è grigio e il vento soffia forte sulla riva."),
                ),
            },
        ]
    )
    result = {r["id"]: r for r in check_languages(rows, identifier).to_pylist()}
    assert result["translation-task"]["language_mismatch"]
    assert result["translation-task"]["mismatched_roles"] == ["assistant"]
    assert result["translation-task"]["turn_languages"] == ["en", "it"]
    assert not result["list-of-names"]["language_mismatch"]
    assert result["mislabelled"]["language_mismatch"]
    assert result["mislabelled"]["detected_language"] == "it"
    assert result["mislabelled"]["mismatched_roles"] == ["user", "assistant"]


def test_unknown_language_code_is_a_settings_error() -> None:
    from synthlake.errors import SettingsError

    with pytest.raises(SettingsError, match="'xx'"):
        LanguageIdentifier(["en", "xx"]).detect("This is long enough to be judged by lingua.")


@pytest.mark.parametrize(
    ("value", "ok"),
    [('["en", "IT"]', ["en", "it"]), ('["english"]', None), ("[]", None)],
)
def test_langid_languages_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, ok: list[str] | None
) -> None:
    from synthlake.errors import SettingsError
    from synthlake.settings import load_settings

    monkeypatch.setenv("SYNTHLAKE_LANGID_LANGUAGES", value)
    if ok is not None:
        assert load_settings().langid_languages == ok
    else:
        with pytest.raises(SettingsError, match="SYNTHLAKE_LANGID_LANGUAGES"):
            load_settings()


def _rows(n: int, start: int = 0) -> pa.Table:
    """``n`` distinct rows of short English prose (long enough to be judged)."""
    return pa.Table.from_pylist(
        [
            {
                "id": f"row-{i}",
                "language": "en",
                "turns": turns(
                    ("user", f"Question number {i}: where does the river meet the sea?"),
                    ("assistant", f"Answer number {i}: the river meets the sea at the harbour."),
                ),
            }
            for i in range(start, start + n)
        ]
    )


def test_rows_streamed_as_record_batches_give_the_same_result(
    identifier: LanguageIdentifier,
) -> None:
    # the dbt model hands a relation's reader (a stream of batches), not one table
    rows = pa.concat_tables(
        [
            _rows(3),
            pa.Table.from_pylist(
                [
                    {
                        "id": "it",
                        "language": "en",
                        "turns": turns(
                            ("user", "Scrivi una frase sul mare d'inverno e sul vento freddo.")
                        ),
                    }
                ]
            ),
        ]
    )
    whole = check_languages(rows, identifier)
    streamed = check_languages(rows.to_batches(max_chunksize=2), identifier, batch_rows=3)
    assert streamed.to_pylist() == whole.to_pylist()
    assert streamed.column("language_mismatch").to_pylist() == [False, False, False, True]
    assert check_languages([], identifier).num_rows == 0


def _traced_peak(fn) -> int:  # noqa: ANN001
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_holds_one_batch_of_detections_not_the_whole_table(
    identifier: LanguageIdentifier,
) -> None:
    """At 760k rows the texts and lingua's scores of every turn, held at once, were gigabytes;
    now the Python objects of one batch are alive at a time."""
    small, large = _rows(200), _rows(2000, start=200)
    identifier.detect("Warm up the detector before measuring anything at all.")
    one_batch = _traced_peak(lambda: check_languages(small, identifier, batch_rows=200))
    ten_batches = _traced_peak(lambda: check_languages(large, identifier, batch_rows=200))
    assert ten_batches < 2.5 * one_batch, (one_batch, ten_batches)


def test_verdicts_keep_nothing_of_the_batches_duckdb_streamed(
    identifier: LanguageIdentifier,
) -> None:
    """An array of a batch DuckDB exported keeps that whole batch alive (its texts too): the
    760k-row check grew by ~1.4 KB a row when its verdicts held the input's ``content_hash``
    column. Every verdict buffer must be new memory, none inside a streamed batch."""
    import duckdb

    con = duckdb.connect()
    con.register(
        "source",
        pa.concat_tables([_rows(300)]).append_column(
            "content_hash", pa.array([f"hash-{i}" for i in range(300)])
        ),
    )
    reader = con.sql("select id, language, turns, content_hash from source").to_arrow_reader(100)
    streamed: list[tuple[int, int]] = []  # (address, size) of every input buffer

    def recorded(batches):  # noqa: ANN001, ANN202
        for batch in batches:
            for column in batch.columns:
                streamed.extend((b.address, b.size) for b in column.buffers() if b is not None)
            yield batch

    verdicts = check_languages(recorded(reader), identifier, batch_rows=100)
    assert verdicts.column("content_hash").to_pylist() == [f"hash-{i}" for i in range(300)]
    kept = [
        b.address
        for column in verdicts.columns
        for chunk in column.chunks
        for b in chunk.buffers()
        if b is not None and b.size
    ]
    inside = [a for a in kept if any(start <= a < start + size for start, size in streamed)]
    assert not inside, f"{len(inside)} verdict buffers point into the streamed batches"


MIXED = [
    "The council meeting was moved to Thursday because too few members came on Monday.",
    "La riunione del consiglio è stata spostata a giovedì perché lunedì mancava il numero legale.",
    "La réunion du conseil a été déplacée à jeudi faute de quorum lundi dernier.",
    "1. Peru\n2. Portugal\n3. Poland\n4. Pakistan",
    "Short one",
    "Die Sitzung des Rates wurde auf Donnerstag verschoben, weil am Montag zu wenige kamen.",
]


def test_the_child_process_gives_the_verdicts_of_the_process_itself(
    identifier: LanguageIdentifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [f"{text} ({word})" for text in MIXED for word in ("alpha", "beta", "gamma")]
    monkeypatch.setattr(langid, "WORKER_MIN_TEXTS", 10**9)
    in_process = identifier.detect_many(texts)
    monkeypatch.setattr(langid, "WORKER_MIN_TEXTS", 1)
    in_child = identifier.detect_many(texts)
    assert in_child == in_process
    assert {d.language for d in in_child} == {"en", "it", "fr", "de", None}
    child = langid._WORKER._proc
    assert child is not None and child.poll() is None and child.pid != os.getpid()


def test_the_child_and_its_models_end_with_the_check_that_started_it(
    identifier: LanguageIdentifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    # it held lingua's models (~430 MiB) through the rest of the build's models before
    monkeypatch.setattr(langid, "WORKER_MIN_TEXTS", 1)
    children: list[subprocess.Popen] = []

    def seen(part: pa.Table) -> None:
        children.append(langid._WORKER._proc)

    result = check_languages(_rows(30), identifier, batch_rows=10, on_batch=seen)
    assert result.num_rows == 30
    assert len(children) == 3 and children[0] is not None
    assert all(child is children[0] for child in children)  # one child for the pass
    assert children[0].poll() is not None  # ... which has exited
    assert langid._WORKER._proc is None
    # the next pass starts another one, with the same verdicts
    assert check_languages(_rows(30), identifier, batch_rows=10).equals(result)


def test_a_child_that_dies_mid_batch_is_named_and_replaced() -> None:
    worker = langid._Worker()
    # a real child that reads the start of the request, then exits without answering
    worker._proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.buffer.read(1); sys.exit(3)"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    codes = ("en", "it")
    texts = ["The council meeting was moved to Thursday because too few came on Monday."]
    with pytest.raises(SynthlakeError, match=r"detecting 1 texts died \(exit status 3"):
        worker.run(codes, texts)
    try:
        # the next batch starts a new child (the real one) and is detected
        [scores] = worker.run(codes, texts)
        assert max(scores, key=scores.__getitem__) == "en"
    finally:
        worker.close()
    assert worker._proc is None


def test_an_error_in_the_child_is_raised_in_the_parent() -> None:
    worker = langid._Worker()
    try:
        with pytest.raises(SettingsError, match="'xx'"):
            worker.run(("en", "xx"), ["The council meeting was moved to Thursday."])
        assert worker._proc.poll() is None  # the child lives on for the next batch
    finally:
        worker.close()


def test_an_interrupted_batch_does_not_leave_its_answer_for_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = langid._Worker()
    texts = ["The council meeting was moved to Thursday because too few came on Monday."]
    real_load = langid.pickle.load

    def interrupted(stream):  # noqa: ANN001, ANN202 - pickle.load's signature
        raise KeyboardInterrupt

    monkeypatch.setattr(langid.pickle, "load", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            worker.run(("en", "it"), texts)
        assert worker._proc is None  # the child, with its answer pending, is gone
        monkeypatch.setattr(langid.pickle, "load", real_load)
        [scores] = worker.run(("en", "it"), ["Il consiglio comunale è stato rinviato a giovedì."])
        assert max(scores, key=scores.__getitem__) == "it"
    finally:
        worker.close()


def _checked_alone(rows: pa.RecordBatch, identifier: LanguageIdentifier) -> pa.Table:
    """One batch's verdicts with nothing overlapped: prepared, detected, judged in turn."""
    prepared = langid._prepare_batch(rows, identifier)
    return prepared.verdicts(identifier.detect_distinct(prepared.distinct))


def _mixed_rows(n: int) -> pa.Table:
    """``n`` English-labelled rows whose answers are in the languages of ``MIXED``."""
    return pa.Table.from_pylist(
        [
            {
                "id": f"mixed-{i}",
                "language": "en",
                "turns": turns(
                    ("user", f"Please restate this ({i}): where did the council meet?"),
                    ("assistant", f"{MIXED[i % len(MIXED)]} ({i})"),
                ),
            }
            for i in range(n)
        ]
    )


def test_the_pipelined_check_gives_the_verdicts_of_each_batch_checked_alone(
    identifier: LanguageIdentifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(langid, "WORKER_MIN_TEXTS", 1)  # the child, as at scale
    rows = _mixed_rows(48)
    alone = [_checked_alone(b, identifier) for b in rows.to_batches(max_chunksize=10)]
    pipelined = check_languages(rows, identifier, batch_rows=10)
    assert pipelined.equals(pa.concat_tables(alone))
    assert 0 < sum(pipelined.column("language_mismatch").to_pylist()) < 48


def test_the_next_batch_is_prepared_while_lingua_detects_this_one(
    identifier: LanguageIdentifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(langid, "WORKER_MIN_TEXTS", 1)
    events: list[tuple[str, int]] = []
    real_prepare, real_detect = langid._prepare_batch, LanguageIdentifier.detect_distinct

    def prepare(rows, ident):  # noqa: ANN001, ANN202
        events.append(("prepare", int(rows.column("id")[0].as_py().split("-")[1])))
        return real_prepare(rows, ident)

    def detect(self, distinct):  # noqa: ANN001, ANN202
        batch = sum(1 for kind, _ in events if kind == "detect start")
        events.append(("detect start", batch))
        try:
            return real_detect(self, distinct)
        finally:
            events.append(("detect end", batch))

    monkeypatch.setattr(langid, "_prepare_batch", prepare)
    monkeypatch.setattr(LanguageIdentifier, "detect_distinct", detect)
    langid.end_child_process()  # a child left by another test would answer at once
    check_languages(_mixed_rows(30), identifier, batch_rows=10)
    # batch 2 (rows 10-19) is read and cleaned before lingua is done with batch 1, whose
    # detection starts the child and loads lingua's models (seconds). Later batches are
    # not asserted: a warm child may answer 10 rows before the verdicts of the last are made.
    assert events.index(("prepare", 10)) < events.index(("detect end", 0)), events
    assert [e for e in events if e[0] == "prepare"] == [("prepare", i) for i in (0, 10, 20)]


def test_a_stream_that_fails_keeps_the_batch_lingua_already_had(
    identifier: LanguageIdentifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(langid, "WORKER_MIN_TEXTS", 1)
    rows = _mixed_rows(20)
    first, _ = rows.to_batches(max_chunksize=10)

    def stream():  # noqa: ANN202
        yield first
        raise OSError("the warehouse went away while reading batch 2")

    kept: list[pa.Table] = []
    with pytest.raises(OSError, match="went away"):
        check_languages(stream(), identifier, batch_rows=10, on_batch=kept.append)
    assert langid._WORKER._proc is None  # the child ended with the failed check too
    assert len(kept) == 1 and kept[0].equals(_checked_alone(first, identifier))
    langid.end_child_process()

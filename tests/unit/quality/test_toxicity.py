"""Detoxify scoring: the real loading and batching path on a tiny checkpoint built here,
and the 'unavailable' path (no weights: null scores, never zeros, and a hint)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from synthlake.quality.toxicity import (
    LABELS,
    TOXICITY_SCHEMA,
    load_detoxify,
    resolve_source,
    score_pairs,
    text_hash,
    toxicity_status,
)
from synthlake.settings import load_settings
from tests.unit.quality.tiny_detoxify import build_tiny_detoxify

TEXTS = [
    "hello",
    "you idiot",
    "what is the capital of france ? paris , a nice day",
    "ciao mondo",
    "the world is a good nice day , hello hello hello world",
]


def pairs(answers: list[str], questions: list[str] | None = None) -> pa.Table:
    questions = questions or ["what"] * len(answers)
    return pa.table(
        {
            "qa_id": [f"q{i}" for i in range(len(answers))],
            "question": questions,
            "answer": answers,
        }
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_tiny_detoxify(tmp_path_factory.mktemp("detoxify"))


@pytest.fixture
def no_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))


def test_without_weights_rows_are_unavailable_with_null_scores(no_hub_cache, tmp_path) -> None:
    settings = load_settings(lake_root=tmp_path / "lake")
    table = score_pairs(pairs(TEXTS[:2]), settings)
    assert table.schema == TOXICITY_SCHEMA
    rows = table.to_pylist()
    assert [r["toxicity_status"] for r in rows] == ["unavailable", "unavailable"]
    assert all(r[label] is None for r in rows for label in LABELS)  # never zeros
    assert all(r["max_score"] is None for r in rows)
    assert "never download" in rows[0]["unavailable_reason"]


def test_status_says_how_to_enable_it(no_hub_cache, tmp_path) -> None:
    status = toxicity_status(load_settings(lake_root=tmp_path / "lake"))
    assert status["status"] == "unavailable"
    assert "SYNTHLAKE_DETOXIFY_CHECKPOINT" in status["hint"]
    assert "xlm-roberta-base" in status["hint"]  # the multilingual model's base


def test_a_checkpoint_setting_that_names_no_file_is_named(tmp_path) -> None:
    missing = tmp_path / "nope.ckpt"
    settings = load_settings(lake_root=tmp_path / "lake", detoxify_checkpoint=missing)
    [row] = score_pairs(pairs(["hello"]), settings).to_pylist()
    assert row["toxicity_status"] == "unavailable"
    assert (
        str(missing) in row["unavailable_reason"] and "does not exist" in row["unavailable_reason"]
    )


def test_real_loading_and_batching_match_one_by_one_predictions(tiny, tmp_path) -> None:
    checkpoint, config_dir = tiny
    settings = load_settings(
        lake_root=tmp_path / "lake",
        detoxify_checkpoint=checkpoint,
        detoxify_config_dir=config_dir,
        toxicity_batch_size=2,
        toxicity_on_questions=True,
    )
    table = score_pairs(pairs(TEXTS, questions=list(reversed(TEXTS))), settings)
    rows = {r["toxicity_id"]: r for r in table.to_pylist()}
    assert len(rows) == 2 * len(TEXTS)
    model = load_detoxify(resolve_source(settings))
    for i, text in enumerate(TEXTS):
        row = rows[f"q{i}|answer"]
        assert row["toxicity_status"] == "ok" and row["text_hash"] == text_hash(text)
        expected = model.predict([text])
        for label in LABELS:
            assert row[label] == pytest.approx(expected[label], abs=1e-5)
            assert 0.0 <= row[label] <= 1.0
        assert row["max_score"] == pytest.approx(max(expected.values()), abs=1e-5)
        assert rows[f"q{i}|question"]["toxicity"] == pytest.approx(
            model.predict([TEXTS[-1 - i]])["toxicity"], abs=1e-5
        )
    assert len({r["toxicity"] for r in rows.values()}) > 3  # not one constant
    assert {r["toxicity_model"] for r in rows.values()} == {resolve_source(settings).model_id}


def test_stored_scores_are_not_recomputed_but_changed_texts_are(tiny, tmp_path) -> None:
    checkpoint, config_dir = tiny
    settings = load_settings(
        lake_root=tmp_path / "lake", detoxify_checkpoint=checkpoint, detoxify_config_dir=config_dir
    )
    first = score_pairs(pairs(TEXTS[:3]), settings)
    done = first.select(["toxicity_id", "text_hash", "toxicity_model"])
    assert score_pairs(pairs(TEXTS[:3]), settings, done=done).num_rows == 0
    changed = score_pairs(pairs([TEXTS[0], "a new answer", TEXTS[2]]), settings, done=done)
    assert changed.column("toxicity_id").to_pylist() == ["q1|answer"]


def test_no_weights_never_overwrites_stored_scores(tiny, no_hub_cache, tmp_path) -> None:
    checkpoint, config_dir = tiny
    with_weights = load_settings(
        lake_root=tmp_path / "lake", detoxify_checkpoint=checkpoint, detoxify_config_dir=config_dir
    )
    done = score_pairs(pairs(TEXTS[:2]), with_weights).select(
        ["toxicity_id", "text_hash", "toxicity_model"]
    )
    without = load_settings(lake_root=tmp_path / "lake")
    rows = score_pairs(pairs([*TEXTS[:2], "new"]), without, done=done).to_pylist()
    assert [(r["toxicity_id"], r["toxicity_status"]) for r in rows] == [
        ("q2|answer", "unavailable")
    ]


def test_texts_waiting_for_the_weights_are_written_once_then_scored(
    tiny, no_hub_cache, tmp_path
) -> None:
    without = load_settings(lake_root=tmp_path / "lake")
    stored = score_pairs(pairs(TEXTS[:2]), without)
    done = stored.select(["toxicity_id", "text_hash", "toxicity_model", "toxicity_status"])
    # still no weights: only the new text gets a row
    again = score_pairs(pairs([*TEXTS[:2], "new"]), without, done=done).to_pylist()
    assert [(r["toxicity_id"], r["toxicity_status"]) for r in again] == [
        ("q2|answer", "unavailable")
    ]
    checkpoint, config_dir = tiny
    with_weights = load_settings(
        lake_root=tmp_path / "lake", detoxify_checkpoint=checkpoint, detoxify_config_dir=config_dir
    )
    scored = score_pairs(pairs(TEXTS[:2]), with_weights, done=done).to_pylist()
    assert [(r["toxicity_id"], r["toxicity_status"]) for r in scored] == [
        ("q0|answer", "ok"),
        ("q1|answer", "ok"),
    ]


def test_a_real_checkpoint_naming_a_hub_model_loads_from_the_config_dir(tmp_path) -> None:
    # Real Detoxify checkpoints name their base model ('xlm-roberta-base'); offline,
    # Detoxify itself cannot resolve it even with huggingface_config_path.
    checkpoint, config_dir = build_tiny_detoxify(tmp_path, model_type="bert-base-uncased")
    settings = load_settings(
        lake_root=tmp_path / "lake", detoxify_checkpoint=checkpoint, detoxify_config_dir=config_dir
    )
    [row] = score_pairs(pairs(["you idiot"]), settings).to_pylist()
    assert row["toxicity_status"] == "ok" and 0.0 <= row["toxicity"] <= 1.0


def test_a_label_the_checkpoint_lacks_is_null_not_zero(tmp_path) -> None:
    # Detoxify's 'original' model has 6 classes, named as in the Jigsaw data.
    classes = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    checkpoint, config_dir = build_tiny_detoxify(tmp_path, classes=classes)
    settings = load_settings(
        lake_root=tmp_path / "lake",
        detoxify_model="original",
        detoxify_checkpoint=checkpoint,
        detoxify_config_dir=config_dir,
    )
    [row] = score_pairs(pairs(["hello world"]), settings).to_pylist()
    assert row["sexual_explicit"] is None
    assert all(row[label] is not None for label in LABELS if label != "sexual_explicit")


def test_candidates_do_not_hold_every_question_when_only_answers_are_scored() -> None:
    """At 760k pairs the candidates were built from one dict per row holding every question
    and answer at once (gigabytes); the questions are only read when they are scored."""
    import tracemalloc

    from synthlake.quality.toxicity import candidate_items

    n = 20_000
    questions = [f"question {i}: " + "why is the sky blue at noon? " * 60 for i in range(n)]
    table = pairs([f"answer {i}" for i in range(n)], questions=questions)
    question_bytes = sum(len(q) for q in questions)
    del questions
    settings = load_settings()
    assert not settings.toxicity_on_questions
    tracemalloc.start()
    try:
        items = candidate_items(table, settings)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(i.qa_id, i.field, i.text) for i in items[:2]] == [
        ("q0", "answer", "answer 0"),
        ("q1", "answer", "answer 1"),
    ]
    assert len(items) == n
    assert peak < 0.5 * question_bytes, (peak, question_bytes)


def test_candidates_keep_the_row_order_answer_then_question(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from synthlake.quality.toxicity import candidate_items

    monkeypatch.setenv("SYNTHLAKE_TOXICITY_ON_QUESTIONS", "true")
    table = pairs(["a0", " ", "a2"], questions=["q0", "q1", None])
    got = [(i.qa_id, i.field, i.text) for i in candidate_items(table, load_settings())]
    assert got == [
        ("q0", "answer", "a0"),
        ("q0", "question", "q0"),
        ("q1", "question", "q1"),
        ("q2", "answer", "a2"),
    ]


# --- the incremental model's pre-filter: unchanged pairs never leave DuckDB -------------------
def _through_duckdb(
    table: pa.Table, stored: pa.Table | None, settings
) -> tuple[pa.Table, pa.Table | None, int]:
    """What int_qa_toxicity does: ``pending_pairs`` in DuckDB, then ``score_pairs`` on what
    ``pairs_to_read`` reads of what it keeps (the texts' hashes alone without the weights).
    Also returns how many pairs were kept."""
    import duckdb

    from synthlake.quality.toxicity import pairs_to_read, pending_pairs

    con = duckdb.connect()
    con.register("pairs_in", table)
    relation = con.sql("select qa_id, question, answer from pairs_in")
    if stored is None:
        read = pairs_to_read(relation, settings).to_arrow_table()
        return score_pairs(read, settings), None, table.num_rows
    con.register("stored_in", stored)
    stored_rel = con.sql(
        "select qa_id, toxicity_id, text_hash, toxicity_model, toxicity_status from stored_in "
        "where toxicity_status in ('ok', 'unavailable')"
    )
    kept, done = pending_pairs(relation, stored_rel, settings)
    kept_table = pairs_to_read(kept, settings).to_arrow_table()
    return score_pairs(kept_table, settings, done=done.to_arrow_table()), done, kept_table.num_rows


def _rows(table: pa.Table) -> list[tuple[str, str, str]]:
    return sorted(
        zip(
            table.column("toxicity_id").to_pylist(),
            table.column("text_hash").to_pylist(),
            table.column("toxicity_status").to_pylist(),
            strict=True,
        )
    )


def test_duckdb_digest_is_the_text_hash_of_any_text() -> None:
    import duckdb

    texts = ["hello", "perché è già così", "数据湖 🦆", "tab\tand\nnewline", "x" * 10_000]
    got = duckdb.execute(
        "select left(sha256(t), 16) from unnest($texts) as u(t)", {"texts": texts}
    ).fetchall()
    assert [g for (g,) in got] == [text_hash(t) for t in texts]


@pytest.mark.parametrize("on_questions", [False, True])
def test_the_prefilter_keeps_exactly_what_scoring_writes(
    tiny, no_hub_cache, tmp_path, monkeypatch: pytest.MonkeyPatch, on_questions: bool
) -> None:
    """Each stage of a lake's life: no weights (unavailable rows written once), still none,
    weights arrive (everything scored), texts change, weights go away again. At each step
    the pre-filtered build writes the same rows as scoring every pair, and reads only the
    pairs with something to write."""
    monkeypatch.setenv("SYNTHLAKE_TOXICITY_ON_QUESTIONS", str(on_questions).lower())
    checkpoint, config_dir = tiny
    without = load_settings(lake_root=tmp_path / "lake")
    with_weights = load_settings(
        lake_root=tmp_path / "lake", detoxify_checkpoint=checkpoint, detoxify_config_dir=config_dir
    )
    # blank to Python's strip, which DuckDB's trim (spaces only) is not: no row either way
    answers = [*TEXTS, "  ", "perché è già così", "\u00a0\u2003\t\n", ""]
    questions = [f"question {i}" for i in range(len(answers))]
    stored: pa.Table | None = None

    def build(table: pa.Table, settings) -> int:
        nonlocal stored
        full = score_pairs(table, settings, done=stored)
        filtered, _, kept = _through_duckdb(table, stored, settings)
        assert _rows(filtered) == _rows(full)
        if full.num_rows:
            ids = set(full.column("toxicity_id").to_pylist())
            stored = (
                full
                if stored is None
                else pa.concat_tables(
                    [
                        stored.filter(
                            pa.compute.invert(
                                pa.compute.is_in(
                                    stored.column("toxicity_id"), pa.array(sorted(ids))
                                )
                            )
                        ),
                        full,
                    ]
                )
            )
        return kept

    first = pairs(answers, questions)
    assert build(first, without) == len(answers)  # a first build reads everything
    assert build(first, without) == 0  # waiting rows are written once
    # the blank answers never had a row (their pairs are read for their questions when scored)
    assert build(first, with_weights) == len(answers) - (0 if on_questions else 3)
    assert set(stored.column("toxicity_status").to_pylist()) == {"ok"}
    assert build(first, with_weights) == 0
    changed = pairs([answers[0], "a changed answer", *answers[2:]], questions)
    assert build(changed, with_weights) == 1
    assert build(changed, without) == 0  # stored scores stand without the weights
    grown = pairs([*changed.column("answer").to_pylist(), "new"], [*questions, "q new"])
    assert build(grown, without) == 1


def test_without_weights_no_text_is_held_beside_the_rows(no_hub_cache, tmp_path) -> None:
    """A first build without Detoxify writes a row per text and never needs the texts: at
    730k answers holding them (and a dict per row) was gigabytes of the build's peak."""
    import tracemalloc

    n = 50_000  # five batches of candidate_items: one batch holds a fifth of the texts
    answers = [
        f"answer {i}: " + "the sky is blue at noon because of scattering. " * 40 for i in range(n)
    ]
    table = pairs(answers)
    answer_bytes = sum(len(a) for a in answers)
    del answers
    settings = load_settings(lake_root=tmp_path / "lake")
    score_pairs(table.slice(0, 10), settings)  # imports and caches are not the rows' cost
    tracemalloc.start()
    try:
        rows = score_pairs(table, settings)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows.num_rows == n
    assert set(rows.column("toxicity_status").to_pylist()) == {"unavailable"}
    assert rows.column("text_hash")[5].as_py() == text_hash(table.column("answer")[5].as_py())
    # one batch of texts at a time (a fifth, and its transient copies); it held them all
    assert peak < 0.6 * answer_bytes, (peak, answer_bytes)


def test_without_weights_the_model_reads_hashes_that_give_the_same_rows(
    no_hub_cache, tmp_path
) -> None:
    """``pairs_to_read`` hands score_pairs DuckDB's hashes instead of the texts (a first
    build read 822 MiB of answers for rows that need none): the rows are those of the texts."""
    import duckdb

    from synthlake.quality.toxicity import pairs_to_read

    settings = load_settings(lake_root=tmp_path / "lake")
    table = pairs([*TEXTS, "\u3000", "数据湖 🦆"])
    con = duckdb.connect()
    con.register("pairs_in", table)
    read = pairs_to_read(con.sql("select qa_id, question, answer from pairs_in"), settings)
    hashed = read.to_arrow_table()
    assert "answer" not in hashed.column_names and "answer_hash" in hashed.column_names
    assert _rows(score_pairs(hashed, settings)) == _rows(score_pairs(table, settings))


def test_weights_that_appear_after_the_hashes_were_read_leave_the_rows_waiting(
    tiny, tmp_path
) -> None:
    """Nothing to score with (the texts were not read): 'unavailable', scored next build."""
    checkpoint, config_dir = tiny
    settings = load_settings(
        lake_root=tmp_path / "lake", detoxify_checkpoint=checkpoint, detoxify_config_dir=config_dir
    )
    hashed = pa.table({"qa_id": ["q0"], "answer_hash": [text_hash("hello")]})
    rows = score_pairs(hashed, settings).to_pylist()
    assert [(r["toxicity_status"], r["text_hash"]) for r in rows] == [
        ("unavailable", text_hash("hello"))
    ]
    assert "appeared after" in rows[0]["unavailable_reason"]

"""The training export: the seeded split (the real dbt macro, run in DuckDB), the files and
their row contract, the dataset card, atomic replacement, and bad input.

Warehouses are small DuckDB files made here with the columns ``exp_train__sft`` has; the
filter itself is covered by the dbt unit tests in models/marts/exports/_exports__models.yml.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from synthlake.export.training import (
    MESSAGE,
    SOURCE,
    export_training,
    parquet_name,
    read_snapshot,
    write_export,
)
from typer.testing import CliRunner

from synthlake.errors import ExportError, LakeError, SettingsError
from synthlake.lake import Lake
from synthlake.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[3]
MACROS = REPO / "macros" / "training_split.sql"
CONTRACT_KEYS = [
    "id",
    "messages",
    "language",
    "domain",
    "source_dataset",
    "split",
    "judge_score",
    "sources",
    "reference_model",
]

# --- the split (macros/training_split.sql) ------------------------------------------------


def split_of(keys: list[str], seed: int = 42, eval_: float = 0.1, val: float = 0.1) -> dict:
    """Run the dbt macros on ``keys`` in DuckDB: key -> split."""
    template = jinja2.Environment().from_string(
        MACROS.read_text() + "{{ training_split(training_split_bucket('k', seed), eval_, val) }}"
    )
    expression = template.render(seed=str(seed), eval_=repr(eval_), val=repr(val))
    con = duckdb.connect()
    con.execute("create table t (k varchar)")
    con.executemany("insert into t values (?)", [[k] for k in keys])
    return dict(con.execute(f"select k, {expression} from t").fetchall())


def test_split_is_deterministic_and_seeded() -> None:
    keys = [f"ins:{i}" for i in range(500)]
    first = split_of(keys)
    assert split_of(list(reversed(keys))) == first
    other_seed = split_of(keys, seed=7)
    assert sum(first[k] != other_seed[k] for k in keys) > 50


def test_a_pair_keeps_its_split_when_rows_are_added() -> None:
    old = [f"ins:{i}" for i in range(1000)]
    before = split_of(old)
    after = split_of(
        old + [f"news:{i}" for i in range(3000)] + [f"ins:new{i}" for i in range(3000)]
    )
    assert {k: after[k] for k in old} == before


@pytest.mark.parametrize(("eval_", "val"), [(0.1, 0.1), (0.2, 0.05), (0.0, 0.3)])
def test_every_language_domain_stratum_gets_the_fractions(eval_: float, val: float) -> None:
    strata = [("it", "news"), ("it", "instructions"), ("en", "instructions")]
    keys = {s: [f"{s[0]}:{s[1]}:{i}" for i in range(4000)] for s in strata}
    splits = split_of([k for ks in keys.values() for k in ks], eval_=eval_, val=val)
    for stratum, ks in keys.items():
        counts = Counter(splits[k] for k in ks)
        assert set(counts) <= {"train", "validation", "eval"}
        # 4000 rows: the binomial standard deviation of a 0.1 share is 0.005
        assert counts["eval"] / len(ks) == pytest.approx(eval_, abs=0.025), stratum
        assert counts["validation"] / len(ks) == pytest.approx(val, abs=0.025), stratum
        if eval_ == 0:
            assert counts["eval"] == 0


# --- a small warehouse --------------------------------------------------------------------

MART_SCHEMA = pa.schema(
    [
        ("qa_id", pa.string()),
        ("messages", pa.list_(MESSAGE)),
        ("language", pa.string()),
        ("domain", pa.string()),
        ("source_dataset", pa.string()),
        ("split", pa.string()),
        ("judge_score", pa.float64()),
        ("sources", pa.list_(SOURCE)),
        ("reference_model", pa.string()),
        ("exclude_reason", pa.string()),
        ("judge_status", pa.string()),
        ("judge_llm", pa.string()),
        ("judge_prompt_versions", pa.string()),
        ("generator_llm", pa.string()),
        ("generator_prompt_version", pa.string()),
        ("toxicity_model", pa.string()),
        ("toxicity_status", pa.string()),
    ]
)

THRESHOLDS = {
    "thresholds_id": "current",
    "min_judge_score": 4.0,
    "max_toxicity": 0.5,
    "require_faithful": True,
    "require_language_match": True,
    "unscored": "exclude",
    "eval_fraction": 0.1,
    "validation_fraction": 0.1,
    "seed": 42,
}


def mart_row(qa_id: str, split: str | None = "train", **overrides: Any) -> dict[str, Any]:
    news = qa_id.startswith("news:")
    row = {
        "qa_id": qa_id,
        "messages": [
            {"role": "system", "content": "Sei un assistente."},
            {"role": "user", "content": f"Domanda {qa_id}?"},
            {"role": "assistant", "content": f"Risposta {qa_id}."},
        ],
        "language": "it",
        "domain": "news" if news else "instructions",
        "source_dataset": None if news else "Open-Orca/SlimOrca",
        "split": split,
        "judge_score": 4.5,
        "sources": [{"title": "Titolo", "content": "Testo della fonte."}] if news else [],
        "reference_model": "local:smollm2" if news else None,
        "exclude_reason": None,
        "judge_status": "scored",
        "judge_llm": "local:smollm2",
        "judge_prompt_versions": "judge@1",
        "generator_llm": "local:smollm2" if news else None,
        "generator_prompt_version": "news_integrate_it@2" if news else None,
        "toxicity_model": "multilingual",
        "toxicity_status": "ok",
    }
    return row | overrides


def default_rows() -> list[dict[str, Any]]:
    return [
        mart_row("ins:a"),
        mart_row("ins:b", "validation", source_dataset="teknium/openhermes", language="en"),
        mart_row("ins:c", "eval", judge_score=None, judge_status="quarantined"),
        mart_row("news:n1"),
        mart_row("news:n2", "eval", judge_score=3.5),
        mart_row("ins:low", None, exclude_reason="low_judge_score", judge_score=2.0),
        mart_row("ins:tox", None, exclude_reason="toxic"),
        mart_row("news:hal", None, exclude_reason="hallucination"),
    ]


def make_warehouse(
    path: Path,
    rows: list[dict[str, Any]] | None = None,
    *,
    thresholds: dict[str, Any] | None = THRESHOLDS,
    reports: bool = True,
    mart: bool = True,
    drop_columns: tuple[str, ...] = (),
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        if mart:
            table = pa.Table.from_pylist(
                default_rows() if rows is None else rows, schema=MART_SCHEMA
            )
            con.register("mart", table)
            exclude = f" exclude ({', '.join(drop_columns)})" if drop_columns else ""
            con.execute(f"create table exp_train__sft as select *{exclude} from mart")
        if thresholds is not None:
            con.execute(
                "create table int_training_thresholds (thresholds_id varchar, "
                "min_judge_score double, max_toxicity double, require_faithful boolean, "
                "require_language_match boolean, unscored varchar, eval_fraction double, "
                "validation_fraction double, seed bigint)"
            )
            if thresholds:
                con.execute(
                    "insert into int_training_thresholds values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    list(thresholds.values()),
                )
        if reports:
            con.execute(
                "create table rpt_funnel as select * from (values "
                "('instructions', 2, 'deduplicate', 'rows_dropped', 'exact_duplicate', 7), "
                "('instructions', 2, 'deduplicate', 'rows_dropped', 'near_duplicate', 3), "
                "('news', 2, 'deduplicate', 'rows_kept', null, 40)) "
                "as t(domain, stage_order, stage, measure, reason, n_rows)"
            )
            con.execute(
                "create table llm_failures as select * from (values "
                "('judge', 'invalid_output'), ('judge', 'invalid_output'), "
                "('summarize', 'timeout')) as t(stage, reason)"
            )
    return path


@pytest.fixture
def warehouse(lake: Lake) -> Path:
    return make_warehouse(lake.warehouse)


def unstorable_eval_row() -> dict[str, Any]:
    """A contract row Arrow cannot store (its score is text): written after train and
    validation, so the export fails mid-write."""
    row = dict.fromkeys(CONTRACT_KEYS)
    return row | {
        "id": "ins:zzz",
        "split": "eval",
        "messages": [],
        "sources": [],
        "judge_score": "x",
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def folder_bytes(folder: Path) -> dict[str, bytes]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


# --- the files ------------------------------------------------------------------------------


def test_export_writes_each_split_in_the_row_contract(
    settings: Settings, lake: Lake, warehouse: Path
) -> None:
    result = export_training(settings, lake)

    out = lake.exports / "training"
    assert result.directory == out
    assert result.counts == {"train": 2, "validation": 1, "eval": 2}
    assert result.excluded == {"hallucination": 1, "low_judge_score": 1, "toxic": 1}
    rows = {split: read_jsonl(out / f"{split}.jsonl") for split in ("train", "validation", "eval")}
    assert [r["id"] for r in rows["train"]] == ["ins:a", "news:n1"]
    assert [r["id"] for r in rows["eval"]] == ["ins:c", "news:n2"]
    for split, split_rows in rows.items():
        for row in split_rows:
            assert list(row) == CONTRACT_KEYS
            assert row["split"] == split
            assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        # the Parquet file (hub layout, under data/) holds the same rows
        assert pq.read_table(out / parquet_name(split)).to_pylist() == split_rows
    news = rows["train"][1]
    assert news["sources"] == [{"title": "Titolo", "content": "Testo della fonte."}]
    assert news["reference_model"] == "local:smollm2"
    assert news["source_dataset"] is None
    instruction = rows["train"][0]
    assert instruction["sources"] == [] and instruction["reference_model"] is None
    assert instruction["source_dataset"] == "Open-Orca/SlimOrca"
    assert rows["eval"][0]["judge_score"] is None
    exported = {r["id"] for split_rows in rows.values() for r in split_rows}
    assert not exported & {"ins:low", "ins:tox", "news:hal"}


def test_multi_turn_conversations_keep_every_turn(settings: Settings, lake: Lake) -> None:
    turns = [
        {"role": "user", "content": "Ciao"},
        {"role": "assistant", "content": "Ciao! Come posso aiutarti?"},
        {"role": "user", "content": "Quanto fa 2+2?"},
        {"role": "assistant", "content": "4."},
    ]
    make_warehouse(lake.warehouse, [mart_row("ins:multi", messages=turns)])
    export_training(settings, lake)
    (row,) = read_jsonl(lake.exports / "training" / "train.jsonl")
    assert row["messages"] == turns


def test_manifest_snapshot_id_depends_on_the_rows_only(
    settings: Settings, lake: Lake, warehouse: Path
) -> None:
    first = export_training(settings, lake, now=datetime(2026, 1, 1, tzinfo=UTC))
    manifest = json.loads((first.directory / "manifest.json").read_text())
    again = export_training(settings, lake, now=datetime(2026, 2, 1, tzinfo=UTC))
    assert again.snapshot_id == first.snapshot_id == manifest["snapshot_id"]
    assert manifest["created_at"] == "2026-01-01T00:00:00+00:00"
    assert manifest["counts"] == {"train": 2, "validation": 1, "eval": 2, "total": 5}
    assert manifest["thresholds"]["min_judge_score"] == 4.0
    assert manifest["thresholds"]["unscored"] == "exclude"
    assert set(manifest["files"]) == {
        name for s in ("train", "validation", "eval") for name in (f"{s}.jsonl", parquet_name(s))
    }

    rows = default_rows()
    rows[0]["messages"][2]["content"] = "Un'altra risposta."
    warehouse.unlink()
    make_warehouse(warehouse, rows)
    assert export_training(settings, lake).snapshot_id != first.snapshot_id


def test_card_reports_sources_counts_scores_thresholds_and_funnel(
    settings: Settings, lake: Lake, warehouse: Path
) -> None:
    export_training(settings, lake)
    card = (lake.exports / "training" / "README.md").read_text()

    assert card.startswith("---\nlicense: other\n")
    assert "| instructions | Open-Orca/SlimOrca | 2 | MIT" in card
    assert "teknium/openhermes | 1 | see the dataset page" in card
    assert "outlets' own terms" in card and "research" in card
    assert "| it | instructions | 1 | 0 | 1 |" in card
    assert "| en | instructions | 0 | 1 | 0 |" in card
    assert "| it | news | 1 | 0 | 1 |" in card
    assert "| news | 3-4 | 1 | 1 |" in card  # score distribution: exported, all pairs
    assert "| instructions | not scored | 1 | 1 |" in card
    assert "| training_min_judge_score | 4.0 |" in card
    assert "| training_unscored | exclude |" in card
    assert "| low_judge_score | 1 |" in card
    assert "SmolLM2-135M" in card  # why unscored pairs are left out by default
    assert "| instructions | deduplicate | rows_dropped | exact_duplicate | 7 |" in card
    assert "| judge | invalid_output | 2 |" in card
    assert "| judge | local:smollm2 |" in card
    assert "news_integrate_it@2" in card
    assert 'ds = load_dataset("path/to/this/folder")' in card
    assert "  - split: eval\n    path: data/eval-00000-of-00001.parquet" in card


def test_card_tolerates_a_warehouse_without_the_reports(settings: Settings, lake: Lake) -> None:
    make_warehouse(lake.warehouse, reports=False)
    export_training(settings, lake)
    card = (lake.exports / "training" / "README.md").read_text()
    assert "rpt_funnel is not in the warehouse (or unreadable)" in card
    assert "llm_failures is not in the warehouse (or unreadable)" in card


def test_an_empty_mart_gives_empty_files(settings: Settings, lake: Lake) -> None:
    make_warehouse(lake.warehouse, [])
    result = export_training(settings, lake)
    assert result.n_rows == 0
    for split in ("train", "validation", "eval"):
        assert (result.directory / f"{split}.jsonl").read_text() == ""
    # no split has rows: no Parquet file and no `configs` (datasets refuses empty splits)
    assert not (result.directory / "data").exists()
    card = (result.directory / "README.md").read_text()
    assert "configs:" not in card.split("\n---\n")[0]
    assert "Split(s) with no rows in this snapshot: train, validation, eval" in card


def test_an_export_with_every_pair_left_out_is_a_warning(settings: Settings, lake: Lake) -> None:
    rows = [
        mart_row("ins:a", None, exclude_reason="unscored"),
        mart_row("ins:b", None, exclude_reason="toxic"),
    ]
    make_warehouse(lake.warehouse, rows)
    result = export_training(settings, lake)
    assert result.n_rows == 0
    assert result.warnings == [
        "the training dataset is empty: every pair was left out (toxic 1, unscored 1) "
        "(SYNTHLAKE_TRAINING_UNSCORED=include exports the pairs the judge could not score)"
    ]


def test_datasets_loads_the_export_as_the_card_says(
    settings: Settings, lake: Lake, warehouse: Path
) -> None:
    datasets = pytest.importorskip("datasets")
    out = export_training(settings, lake).directory
    files = {s: str(out / f"{s}.jsonl") for s in ("train", "validation", "eval")}
    ds = datasets.load_dataset("json", data_files=files, cache_dir=str(out.parent / ".hf"))
    assert ds["train"].num_rows == 2 and ds["eval"].num_rows == 2
    assert ds["train"][0]["messages"][1]["role"] == "user"


# --- atomic replacement ---------------------------------------------------------------------


def test_a_failed_export_leaves_the_previous_one_intact(
    settings: Settings, lake: Lake, warehouse: Path
) -> None:
    out = export_training(settings, lake).directory
    before = folder_bytes(out)

    snapshot = read_snapshot(lake.warehouse, settings)
    # an eval row Arrow cannot store: train and validation are written before it fails
    snapshot.rows.append(unstorable_eval_row())
    with pytest.raises(ExportError, match=r"writing the training export to .*training failed"):
        write_export(snapshot, out)

    assert folder_bytes(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["training"]  # no temp folder left


def test_an_interrupted_swap_is_recovered(settings: Settings, lake: Lake, warehouse: Path) -> None:
    out = export_training(settings, lake).directory
    before = folder_bytes(out)
    # a crash between the two renames: the previous export is under its .old name only
    out.rename(out.with_name(".training.old-deadbeef"))

    snapshot = read_snapshot(lake.warehouse, settings)
    snapshot.rows.append(unstorable_eval_row())
    with pytest.raises(ExportError):
        write_export(snapshot, out)

    assert folder_bytes(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["training"]


# --- streaming -------------------------------------------------------------------------------


def many_rows(n: int, *, text_chars: int = 40, seed: int = 3) -> list[dict[str, Any]]:
    """``n`` mart rows over every split and both domains, in shuffled (not id) order."""
    rng = random.Random(seed)
    splits = ["train"] * 8 + ["validation", "eval"]
    rows = [
        mart_row(
            f"{'news' if i % 7 == 0 else 'ins'}:{i:06d}",
            rng.choice(splits),
            language=rng.choice(["it", "en", "de"]),
            messages=[
                {"role": "user", "content": f"Domanda {i} è? " + "x" * rng.randrange(text_chars)},
                {"role": "assistant", "content": f"Risposta {i} 🙂 " + "y" * text_chars},
            ],
        )
        for i in range(n)
    ]
    rng.shuffle(rows)
    return rows


def expected_snapshot_id(folder: Path) -> str:
    """The manifest's definition, computed here from the files: sha256 of every exported
    row as canonical JSON, one per line, sorted by id."""
    rows = [r for s in ("train", "validation", "eval") for r in read_jsonl(folder / f"{s}.jsonl")]
    digest = hashlib.sha256()
    for row in sorted(rows, key=lambda r: r["id"]):
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode() + b"\n")
    return digest.hexdigest()


def test_the_streamed_export_is_the_export_of_the_rows_held(
    settings: Settings, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export streams the mart in batches (7 rows here, so 1,000 rows are many batches
    and row groups); it writes what writing the same rows from a list writes."""
    monkeypatch.setattr("synthlake.export.training.READ_BATCH_ROWS", 7)
    make_warehouse(lake.warehouse, many_rows(1000))
    now = datetime(2026, 3, 1, tzinfo=UTC)

    streamed = export_training(settings, lake, now=now)
    held = write_export(read_snapshot(lake.warehouse, settings), lake.root / "held", now=now)

    assert streamed.snapshot_id == held.snapshot_id == expected_snapshot_id(streamed.directory)
    assert folder_bytes(streamed.directory) == folder_bytes(held.directory)
    assert sum(streamed.counts.values()) == 1000
    for split in ("train", "validation", "eval"):
        ids = [r["id"] for r in read_jsonl(streamed.directory / f"{split}.jsonl")]
        assert ids == sorted(ids) and len(ids) == streamed.counts[split]
        parquet = pq.ParquetFile(streamed.directory / parquet_name(split))
        assert parquet.metadata.num_row_groups > 1
        assert parquet.read().column("id").to_pylist() == ids


def test_rows_out_of_id_order_fail_and_keep_the_previous_export(
    settings: Settings, lake: Lake, warehouse: Path
) -> None:
    """A stream is folded into the snapshot id as it passes, so it must come in id order;
    one that does not is refused rather than given an id that depends on the order."""
    out = export_training(settings, lake).directory
    before = folder_bytes(out)
    rows = read_snapshot(lake.warehouse, settings).rows
    snapshot = read_snapshot(lake.warehouse, settings)
    snapshot.rows = iter([rows[1], rows[0], *rows[2:]])

    with pytest.raises(ExportError, match=r"out of id order \('ins:a' after 'ins:b'\)"):
        write_export(snapshot, out)
    assert folder_bytes(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["training"]


def test_the_export_does_not_hold_the_rows(
    settings: Settings, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python memory during the export is bounded by a few batches, not the dataset: with
    10,000 rows in 250-row batches it stays under a quarter of what the rows' texts alone
    take as Python strings (about 100 MB: an emoji makes a string 4 bytes a character).
    Holding the rows as dicts, as the export once did, traces more than the texts."""
    monkeypatch.setattr("synthlake.export.training.READ_BATCH_ROWS", 250)
    rows = many_rows(10_000, text_chars=2_000)
    text_memory = sum(sys.getsizeof(m["content"]) for r in rows for m in r["messages"])
    make_warehouse(lake.warehouse, rows)
    del rows

    tracemalloc.start()
    try:
        result = export_training(settings, lake)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(result.counts.values()) == 10_000
    assert peak < text_memory / 4, f"{peak / 1e6:.1f} MB traced, texts {text_memory / 1e6:.0f} MB"


# --- bad input --------------------------------------------------------------------------------


def test_a_missing_warehouse_is_named(settings: Settings, lake: Lake) -> None:
    with pytest.raises(LakeError, match=rf"no warehouse at {lake.warehouse}.*synthlake build"):
        export_training(settings, lake)


def test_a_file_that_is_no_database_is_named(settings: Settings, lake: Lake) -> None:
    lake.warehouse.write_bytes(b"this is not a DuckDB file" * 100)
    with pytest.raises(LakeError, match=rf"cannot open the warehouse {lake.warehouse}"):
        export_training(settings, lake)


def test_an_unreadable_report_is_a_warning_not_a_failure(settings: Settings, lake: Lake) -> None:
    make_warehouse(lake.warehouse, reports=False)
    with duckdb.connect(str(lake.warehouse)) as con:
        con.execute("create table rpt_funnel as select 1 as other_column")
    result = export_training(settings, lake)
    assert result.n_rows == 5
    assert any(w.startswith("rpt_funnel could not be read") for w in result.warnings)
    card = (result.directory / "README.md").read_text()
    assert "rpt_funnel is not in the warehouse (or unreadable)" in card


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mart": False}, r"has no exp_train__sft mart: run `synthlake build`"),
        ({"drop_columns": ("split", "sources")}, r"lacks the column\(s\) split, sources"),
        ({"rows": [mart_row("ins:a", None)]}, r"without a valid split, e.g. 'ins:a'"),
        ({"rows": [mart_row("ins:a", "test")]}, r"without a valid split, e.g. 'ins:a'"),
        ({"thresholds": {}}, r"int_training_thresholds is empty"),
    ],
)
def test_bad_warehouse_content_is_a_clear_error_and_keeps_the_previous_export(
    settings: Settings, lake: Lake, kwargs: dict[str, Any], message: str
) -> None:
    make_warehouse(lake.warehouse)
    out = export_training(settings, lake).directory
    before = folder_bytes(out)
    lake.warehouse.unlink()
    make_warehouse(lake.warehouse, **kwargs)

    with pytest.raises(ExportError, match=message):
        export_training(settings, lake)
    assert folder_bytes(out) == before


def test_thresholds_changed_since_the_build_are_a_warning(lake: Lake, warehouse: Path) -> None:
    settings = load_settings(lake_root=lake.root, training_min_judge_score=3.0)
    result = export_training(settings, lake)
    assert len(result.warnings) == 1
    assert "min_judge_score: built 4.0, now 3.0" in result.warnings[0]
    assert "synthlake build" in result.warnings[0]
    manifest = json.loads((result.directory / "manifest.json").read_text())
    assert manifest["thresholds"]["min_judge_score"] == 4.0  # what the rows were filtered by


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"training_eval_fraction": 0.5, "training_validation_fraction": 0.5}, "below 1"),
        ({"training_unscored": "maybe"}, "SYNTHLAKE_TRAINING_UNSCORED"),
        ({"training_eval_fraction": -0.1}, "SYNTHLAKE_TRAINING_EVAL_FRACTION"),
    ],
)
def test_bad_training_settings_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(**overrides)


def test_push_is_refused_offline_and_the_export_stays(
    settings: Settings, lake: Lake, warehouse: Path
) -> None:
    # conftest sets HF_HUB_OFFLINE=1, which huggingface_hub read at import
    with pytest.raises(ExportError, match=r"cannot push to the hub dataset me/sft: HF_HUB_OFFLINE"):
        export_training(settings, lake, push="me/sft")
    assert (lake.exports / "training" / "train.jsonl").is_file()


# --- command line -----------------------------------------------------------------------------


def test_cli_export_training(lake: Lake, warehouse: Path) -> None:
    from synthlake.pipeline.cli import app

    result = CliRunner().invoke(app, ["export", "training", "--lake", str(lake.root)])
    assert result.exit_code == 0, result.output
    assert f"training -> {lake.exports / 'training'} (train 2, validation 1, eval 2" in (
        result.output
    )
    assert not (lake.exports / "news_articles.parquet").exists()  # only what was asked


def test_cli_export_training_without_a_warehouse(lake: Lake) -> None:
    from synthlake.pipeline.cli import app

    result = CliRunner().invoke(app, ["export", "training", "--lake", str(lake.root)])
    assert result.exit_code == 1
    assert f"error: no warehouse at {lake.warehouse}" in result.output

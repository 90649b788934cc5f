"""Evaluation end to end on a tiny export: base vs tuned through the LLM layer, metrics,
eval_results Parquet, and dbt reading it (stg_eval__results, rpt_eval_results)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from synthlake.train.config import load_config
from synthlake.train.evaluate import sweep
from typer.testing import CliRunner

from synthlake.lake import RAW_EVAL_RESULTS_SCHEMA, Lake
from synthlake.pipeline.cli import app
from synthlake.pipeline.dbt_runner import run_dbt
from synthlake.settings import Settings, load_settings
from tests.fixtures.training_export import default_rows, row, write_export

pytestmark = pytest.mark.slow  # trains, generates, judges and runs dbt: over a minute here

EVAL_IDS = {"it-e1", "fr-e1", "news-it-e1"}


def small_export(settings: Settings) -> Path:
    rows = [r for r in default_rows() if r["split"] != "eval" or r["id"] in EVAL_IDS]
    return write_export(settings.lake_path / "exports" / "training", rows)


def smoke_yaml(tmp_path: Path, **fields: object) -> Path:
    base = {"max_steps": 2, "batch_size": 2, "max_seq_length": 96, "save_steps": 100}
    text = "\n".join(f"{k}: {v}" for k, v in (base | fields).items())
    path = tmp_path / "smoke.yaml"
    source = Path(__file__).resolve().parents[3] / "train" / "configs" / "cpu-smoke.yaml"
    kept = [
        line
        for line in source.read_text().splitlines()
        if line.split(":")[0] not in base and line.split(":")[0] not in fields
    ]
    path.write_text("\n".join(kept) + "\n" + text + "\n")
    return path


def test_train_and_evaluate_through_the_cli_then_dbt_reads_the_results(
    tmp_path: Path, train_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_export(train_settings)
    lake = str(train_settings.lake_path)
    monkeypatch.setenv("SYNTHLAKE_EVAL_MAX_NEW_TOKENS", "12")
    monkeypatch.setenv("SYNTHLAKE_JUDGE_MAX_NEW_TOKENS", "4")
    monkeypatch.setenv("SYNTHLAKE_JUDGE_MAX_RETRIES", "0")
    cli = CliRunner()
    done = cli.invoke(
        app, ["train", "--config", str(smoke_yaml(tmp_path)), "--run-id", "cli", "--lake", lake]
    )
    assert done.exit_code == 0, done.output
    assert "run cli: 2 steps" in done.output and "steps/s on cpu" in done.output

    done = cli.invoke(app, ["evaluate", "cli", "--lake", lake])
    assert done.exit_code == 0, done.output
    assert "base: 3 answers" in done.output and "tuned: 3 answers" in done.output

    settings = load_settings(lake_root=train_settings.lake_path)
    table = Lake.from_settings(settings).read_raw("eval_results")
    assert table.schema == RAW_EVAL_RESULTS_SCHEMA
    rows = table.to_pylist()
    assert len(rows) == 6
    assert {(r["variant"], r["row_id"]) for r in rows} == {
        (v, i) for v in ("base", "tuned") for i in EVAL_IDS
    }
    for r in rows:
        assert r["train_run_id"] == "cli" and r["snapshot_id"] == "snap-test-1"
        assert r["generation_status"] == "ok" and r["answer"]
        assert 0 < r["tokens_out"] <= 12
        assert r["judge_status"] in ("ok", "failed")  # the 135M judge rarely scores
        assert r["judge_dimensions"] == ("faithfulness" if r["domain"] == "news" else "accuracy")
        assert r["length_ratio"] == pytest.approx(r["answer_words"] / r["reference_words"])
        if r["domain"] == "news":
            assert -1 <= r["sim_reference"] <= 1 and -1 <= r["sim_sources_min"] <= 1
            assert r["sim_sources_min"] <= r["sim_sources_mean"]
        else:
            assert r["sim_reference"] is None
        if r["answer_language"] is not None:
            assert r["in_prompt_language"] == (r["answer_language"] == r["language"])

    # the answers went through the LLM layer: accounted in llm_calls under stage evaluate
    calls = Lake.from_settings(settings).read_raw("llm_calls").to_pylist()
    evaluate_calls = [c for c in calls if c["stage"] == "evaluate"]
    assert len(evaluate_calls) == 6
    assert {c["model"] for c in evaluate_calls} == {"smollm2", "smollm2+cli"}

    run_dbt(["build", "--select", "stg_eval__results+"], settings)
    with duckdb.connect(str(settings.lake_path / "warehouse.duckdb"), read_only=True) as con:
        staged = con.execute("select count(*) from stg_eval__results").fetchone()[0]
        report = con.execute(
            "select language, domain, n_rows, base_in_language_share is null or "
            "base_in_language_share between 0 and 1 from rpt_eval_results order by 1, 2"
        ).fetchall()
    assert staged == 6
    assert report == [
        ("fr", "instructions", 1, True),
        ("it", "instructions", 1, True),
        ("it", "news", 1, True),
    ]


def test_sweep_trains_per_threshold_skips_empty_ones_and_records_it(
    train_settings: Settings,
) -> None:
    rows = [
        r | {"judge_score": None if r["judge_score"] is None else min(r["judge_score"], 4.0)}
        for r in default_rows()
    ]
    rows = [r for r in rows if r["split"] != "eval" or r["id"] in {"it-e1", "news-it-e1"}]
    rows.append(row("en-null", "Say hi.", "Hi.", judge_score=None))
    write_export(train_settings.lake_path / "exports" / "training", rows)
    config = load_config("cpu-smoke", max_steps=1, max_seq_length=96, save_steps=100)
    outcomes = sweep(config, train_settings, [0, 4, 4.5], judge=False)
    assert [(o.threshold, o.skipped is None) for o in outcomes] == [
        (0, True),
        (4, True),
        (4.5, False),
    ]
    assert "judge_score >= 4.5" in outcomes[2].skipped
    infos = {
        o.threshold: json.loads(
            (train_settings.lake_path / "runs" / o.run_id / "run.json").read_text()
        )
        for o in outcomes[:2]
    }
    assert infos[0]["train_rows"] == 7  # every row, the unscored one included
    assert infos[4]["train_rows"] == 4  # scored 4 (capped above): en-1, it-1, fr-1, de-1
    results = Lake.from_settings(train_settings).read_raw("eval_results").to_pylist()
    assert sorted({r["threshold"] for r in results}) == [0.0, 4.0]
    assert all(r["judge_status"] == "skipped" for r in results)
    assert len(results) == 2 * 2 * 2  # 2 thresholds x 2 variants x 2 eval rows

"""The quality stages in a real dbt build on a small lake, judged by a scripted judge.

The judge is the local OpenAI-compatible test server (a real HTTP server, the real
``openai`` SDK), told what to answer for each instruction; Detoxify is a tiny checkpoint
built by the test in Detoxify's own format. Every figure of the analytics marts below is
computed by hand from the fixture.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from synthlake.ingest.hf import HFSource, import_hf_file

from synthlake.lake import Lake
from synthlake.pipeline.dbt_runner import run_dbt
from synthlake.quality.report import write_report
from synthlake.settings import load_settings
from tests.unit.quality.tiny_detoxify import build_tiny_detoxify

pytestmark = pytest.mark.slow

# instruction -> (answer, what the judge says about it)
ROWS = {
    "What is the capital of France?": ("Paris.", "5\nCorrect and concise."),
    "List three primary colors.": ("Red, blue and yellow.", "Score: 4\nRight, terse."),
    "Translate 'good morning' into Italian.": ("Good morning.", "1\nNot translated at all."),
    "What is 2 + 2?": ("5", "0\nWrong: 2 + 2 is 4, stated with confidence."),
    # The judge never answers this one in the format: repaired once, then quarantined.
    "Name a planet of the solar system.": ("Mars.", "Good answer, I'd give it 4 out of 5."),
}
GARBAGE = ROWS["Name a planet of the solar system."][1]
# qa_pairs, everything downstream of it, and every ancestor of those (the funnel's too)
QUALITY_SELECT = "@qa_pairs"


def is_judge_request(body: dict) -> bool:
    return "<response>" in body["messages"][1]["content"]


def judge_calls(server) -> int:
    return sum(1 for r in server.generation_requests() if is_judge_request(r.body))


def judge_reply(body: dict) -> str:
    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
    for instruction, (_, verdict) in ROWS.items():
        if instruction in users[0]:
            return verdict
    # Not a judge request: SYNTHLAKE_TRANSLATE_LIMIT=0 keeps translation (almost) idle,
    # and an answer like this one never verifies as a translation.
    return "echo"


def query(lake: Lake, sql: str) -> list[tuple]:
    with duckdb.connect(str(lake.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    """A lake with 5 instruction rows + 1 exact duplicate + 1 unusable row, built once."""
    from tests.fixtures.llm_servers import OpenAICompatServer

    tmp = tmp_path_factory.mktemp("quality")
    checkpoint, config_dir = build_tiny_detoxify(tmp / "detoxify", bias=-10.0)
    records = [{"instruction": q, "input": "", "output": a} for q, (a, _) in ROWS.items()]
    records.append(records[0])  # exact duplicate: dropped by dedup
    records.append({"instruction": "No output here", "input": ""})  # rejected at ingest
    data = tmp / "hermes.json"
    data.write_text(json.dumps(records), encoding="utf-8")
    env = {
        "SYNTHLAKE_LAKE_ROOT": str(tmp / "lake"),
        "SYNTHLAKE_LLM": "openai:judge-model@{url}",
        "SYNTHLAKE_LLM_MAX_RETRIES": "0",
        "SYNTHLAKE_TRANSLATE_LIMIT": "0",
        "SYNTHLAKE_DETOXIFY_CHECKPOINT": str(checkpoint),
        "SYNTHLAKE_DETOXIFY_CONFIG_DIR": str(config_dir),
        "SYNTHLAKE_TOXICITY_BATCH_SIZE": "2",
    }
    with (
        OpenAICompatServer(model="judge-model", reply=judge_reply) as server,
        pytest.MonkeyPatch.context() as mp,
    ):
        # module scope: the autouse hermetic-env fixture has not run yet
        for key in [k for k in os.environ if k.startswith("SYNTHLAKE_")]:
            mp.delenv(key)
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        for key, value in env.items():
            mp.setenv(key, value.format(url=server.base_url))
        settings = load_settings()
        lake = Lake.from_settings(settings).ensure()
        import_hf_file(data, lake, HFSource("teknium/openhermes", "r", "en"), run_id="r1")
        run_dbt(["build", "--select", QUALITY_SELECT, "--indirect-selection", "cautious"], settings)
        first_calls = judge_calls(server)
        raw_before = sorted(p.name for p in lake.raw.rglob("*.parquet"))
        # an incremental rebuild of the LLM/model stages: nothing new, nothing sent
        run_dbt(["run", "--select", "int_qa_judgements", "int_qa_toxicity"], settings)
        yield {
            "lake": lake,
            "settings": settings,
            "server": server,
            "first_calls": first_calls,
            "rerun_calls": judge_calls(server) - first_calls,
            "raw_before": raw_before,
            "raw_after": sorted(p.name for p in lake.raw.rglob("*.parquet")),
            "checkpoint": checkpoint,
            "config_dir": config_dir,
        }


def test_each_pair_is_judged_once_and_a_rerun_sends_nothing(built) -> None:
    # 5 pairs (the duplicate is not judged) + 1 repair request for the garbage answer.
    assert built["first_calls"] == 6
    assert built["rerun_calls"] == 0
    assert built["raw_after"] == built["raw_before"]  # no new llm_calls/failures files


def test_judgements_record_the_judge_and_never_guess_a_score(built) -> None:
    rows = query(
        built["lake"],
        """
        select q.question, j.judge_status, j.score, j.failure_reason, j.judge_provider,
               j.judge_model, j.prompt_id, j.prompt_version, j.repairs
        from int_qa_judgements j join int_qa_pairs_unioned q using (qa_id)
        order by q.question""",
    )
    by_question = {r[0]: r[1:] for r in rows}
    assert len(rows) == 5
    assert by_question["What is the capital of France?"][:2] == ("ok", 5.0)
    assert by_question["List three primary colors."][:2] == ("ok", 4.0)
    assert by_question["What is 2 + 2?"][:2] == ("ok", 0.0)
    # "4 out of 5" sits inside a sentence: never taken as a score.
    status, score, reason, *_, repairs = by_question["Name a planet of the solar system."]
    assert (status, score, reason, repairs) == ("quarantined", None, "invalid_output", 1)
    assert {r[4:8] for r in rows} == {("openai", "judge-model", "judge", "1")}


def test_the_quarantined_answer_is_in_llm_failures_with_its_reason(built) -> None:
    failures = built["lake"].read_raw("llm_failures").to_pylist()
    assert len(failures) == 1
    failure = failures[0]
    assert failure["reason"] == "invalid_output" and failure["stage"] == "judge"
    assert failure["raw_text"] == GARBAGE
    assert failure["row_id"].endswith("|accuracy")
    assert "first line must be only the score" in failure["detail"]
    # The repair request carried the parse error back to the judge.
    judge_requests = [
        r.body for r in built["server"].generation_requests() if is_judge_request(r.body)
    ]
    repair = judge_requests[-1]["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert "first line must be only the score" in repair[-1]["content"]


def test_rpt_quality_by_language_matches_hand_computed_figures(built) -> None:
    [row] = query(
        built["lake"],
        """
        select domain, language, dimension, n_pairs, n_scored, n_quarantined, n_not_judged,
               mean_score, median_score, min_score, max_score,
               n_score_0, n_score_1, n_score_2, n_score_3, n_score_4, n_score_5,
               n_at_or_above_threshold, share_at_or_above_threshold, judge_threshold
        from rpt_quality_by_language""",
    )
    # scores 5, 4, 1, 0 (+1 quarantined); threshold 4: two pass.
    assert row == (
        "instructions", "en", "accuracy", 5, 4, 1, 0,
        2.5, 2.5, 0.0, 5.0,
        1, 1, 0, 0, 1, 1,
        2, 0.5, 4.0,
    )  # fmt: skip


def test_rpt_score_distribution_lists_every_score_value(built) -> None:
    rows = query(
        built["lake"],
        """
        select score, n_pairs, share, share_at_or_above from rpt_score_distribution
        where domain = 'instructions' and dimension = 'accuracy' order by score""",
    )
    assert [r[0] for r in rows] == [x / 2 for x in range(11)]
    counts = {r[0]: r[1] for r in rows}
    assert counts == {s: (1 if s in (0.0, 1.0, 4.0, 5.0) else 0) for s in counts}
    at = {r[0]: (r[2], r[3]) for r in rows}
    assert at[0.0] == (0.25, 1.0) and at[4.0] == (0.25, 0.5) and at[5.0] == (0.25, 0.25)
    news = query(
        built["lake"],
        "select count(*), sum(n_pairs) from rpt_score_distribution where domain = 'news'",
    )
    assert news == [(11, 0)]  # faithfulness is configured, nothing to judge yet


def test_rpt_zero_score_examples_lists_the_worst_with_explanations(built) -> None:
    rows = query(
        built["lake"],
        "select worst_rank, score, question, explanation from rpt_zero_score_examples "
        "order by worst_rank",
    )
    assert rows == [
        (1, 0.0, "What is 2 + 2?", "Wrong: 2 + 2 is 4, stated with confidence."),
        (2, 1.0, "Translate 'good morning' into Italian.", "Not translated at all."),
    ]


def test_qa_pairs_flags_and_lineage(built) -> None:
    rows = query(
        built["lake"],
        """
        select question, judge_status, passes_judge, quality_drop_reason, is_kept,
               source_table, len(source_record_ids), toxicity_status
        from qa_pairs order by question""",
    )
    flags = {r[0]: r[1:5] for r in rows}
    assert flags == {
        "List three primary colors.": ("scored", True, None, True),
        "Name a planet of the solar system.": ("quarantined", None, None, True),
        "Translate 'good morning' into Italian.": ("scored", False, "low_judge_score", False),
        "What is 2 + 2?": ("scored", False, "low_judge_score", False),
        "What is the capital of France?": ("scored", True, None, True),
    }
    assert {r[5:] for r in rows} == {("hf", 1, "ok")}
    raw_ids = set(built["lake"].read_raw("hf", ["record_id"]).column("record_id").to_pylist())
    lineage = query(built["lake"], "select unnest(source_record_ids) from qa_pairs")
    assert {r[0] for r in lineage} <= raw_ids


def test_toxicity_scores_are_detoxifys_own(built) -> None:
    from detoxify import Detoxify

    model = Detoxify(
        checkpoint=str(built["checkpoint"]), huggingface_config_path=str(built["config_dir"])
    )
    rows = query(
        built["lake"],
        "select answer, toxicity, insult, sexual_explicit, answer_toxicity_max from qa_pairs",
    )
    for answer, toxicity, insult, sexual, top in rows:
        expected = model.predict([answer])  # one at a time: batching must not change it
        assert toxicity == pytest.approx(expected["toxicity"], abs=1e-5)
        assert insult == pytest.approx(expected["insult"], abs=1e-5)
        assert sexual == pytest.approx(expected["sexual_explicit"], abs=1e-5)
        assert top == pytest.approx(max(expected.values()), abs=1e-5)
    assert query(built["lake"], "select distinct is_toxic from qa_pairs") == [(False,)]
    [(n_texts, n_scored, mean)] = query(
        built["lake"],
        "select n_texts, n_scored, mean_score from rpt_toxicity "
        "where field = 'answer' and label = 'toxicity'",
    )
    assert (n_texts, n_scored) == (5, 5)
    assert mean == pytest.approx(sum(r[1] for r in rows) / 5)


def test_rpt_funnel_counts_every_stage(built) -> None:
    rows = query(
        built["lake"],
        "select stage, measure, reason, n_rows from rpt_funnel where domain = 'instructions'",
    )
    funnel = {(stage, measure, reason): n for stage, measure, reason, n in rows}
    assert funnel[("ingest", "rows_in", None)] == 7
    assert funnel[("ingest", "rows_kept", None)] == 6
    assert funnel[("ingest", "rows_dropped", "missing_output")] == 1
    assert funnel[("deduplicate", "rows_in", None)] == 6
    assert funnel[("deduplicate", "rows_kept", None)] == 5
    assert funnel[("deduplicate", "rows_dropped", "exact_duplicate")] == 1
    translate = {k: n for k, n in funnel.items() if k[0] == "translate"}
    dropped = sum(n for (_, measure, _), n in translate.items() if measure == "rows_dropped")
    assert translate[("translate", "rows_kept", None)] == 0  # nothing verified
    assert translate[("translate", "rows_in", None)] == dropped
    assert funnel[("qa_pairs", "rows_kept", None)] == 5
    assert funnel[("quality", "rows_in", None)] == 5
    assert funnel[("quality", "rows_kept", None)] == 3
    assert funnel[("quality", "rows_dropped", "low_judge_score")] == 2
    assert funnel[("quality", "rows_flagged", "judge_quarantined")] == 1


def test_the_report_renders_from_the_marts(built, tmp_path: Path) -> None:
    path = write_report(built["settings"], built["lake"], tmp_path / "report.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # plots embedded as PNG, nothing loaded from elsewhere
    assert len(re.findall(r'src="data:image/png;base64,', page)) >= 5
    assert not re.search(r'(src|href)="(http|//)', page)
    for title in (
        "Language distribution",
        "Judge score by language",
        "Score histogram",
        "Toxicity",
        "Funnel",
        "Lowest-scored examples",
        "Outlet mix",
    ):
        assert title in page
    assert "Wrong: 2 + 2 is 4, stated with confidence." in page
    assert "Translate &#x27;good morning&#x27; into Italian." in page  # escaped
    assert "No news clusters yet" in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no headless chromium here")
def test_the_report_renders_to_a_page_a_person_can_read(built, tmp_path: Path) -> None:
    """Rendered by headless Chromium: the page is tall (every section laid out, the plots
    decoded) and not blank. Looking at the PNG is the human part of this check."""
    from PIL import Image

    path = write_report(built["settings"], built["lake"], tmp_path / "report.html")
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--window-size=1200,4000", f"--screenshot={shot}", path.as_uri(),
        ],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    image = Image.open(shot).convert("L")
    assert image.size == (1200, 4000)
    # rows of the page with ink on them (text, bars): most of the height is used
    ink_rows = sum(
        1 for y in range(0, 4000, 10) if min(image.crop((0, y, 1200, y + 1)).getdata()) < 128
    )
    assert ink_rows > 150, f"only {ink_rows} of 400 sampled rows have any ink"

"""The judge against the local OpenAI-compatible server: persistent garbage is quarantined
(never a crash, never a guessed score); transient failures are left for the next build."""

from __future__ import annotations

import pyarrow as pa

from synthlake.lake import Lake
from synthlake.quality.judge import JUDGEMENTS_SCHEMA, judge_pairs
from synthlake.settings import load_settings
from tests.fixtures.llm_servers import Fault

GARBAGE = [
    "This answer is quite good, I would give it a 4.",
    "four",
    "",
    "Score: seven out of ten",
    "-1\nTerrible.",
    "7\nExcellent!",
    "The response is accurate. 5",
]


def pairs(n: int) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "qa_id": f"ins:{i}",
                "domain": "instructions",
                "qa_hash": f"h{i}",
                "question": f"Question number {i}?",
                "input": None,
                "answer": f"Answer {i}.",
                "language": "en",
                "sources": [],
            }
            for i in range(n)
        ]
    )


def settings_for(tmp_path, server, **extra):
    return load_settings(
        lake_root=tmp_path / "lake",
        llm=f"openai:judge-model@{server.base_url}",
        llm_max_retries=0,
        **extra,
    )


def test_persistent_garbage_is_quarantined_with_reasons(tmp_path, openai_server) -> None:
    answers = iter(GARBAGE * 3)
    openai_server.reply_fn = lambda body: next(answers)
    settings = settings_for(tmp_path, openai_server, judge_max_retries=1)
    table = judge_pairs(pairs(len(GARBAGE)), None, settings)

    assert table.schema == JUDGEMENTS_SCHEMA
    rows = table.to_pylist()
    assert [r["judge_status"] for r in rows] == ["quarantined"] * len(GARBAGE)
    assert all(r["score"] is None for r in rows)
    assert {r["failure_reason"] for r in rows} == {"invalid_output"}
    assert openai_server.call_count == 2 * len(GARBAGE)  # each asked once, repaired once
    quarantine = Lake.from_settings(settings).read_raw("llm_failures").to_pylist()
    assert sorted(q["row_id"] for q in quarantine) == sorted(r["judgement_id"] for r in rows)
    assert all("still invalid after 1 repair(s)" in q["detail"] for q in quarantine)
    details = " ".join(q["detail"] for q in quarantine)
    assert "between 0 and 5" in details and "first line must be only the score" in details


def test_a_repair_that_fixes_the_format_is_scored(tmp_path, openai_server) -> None:
    def reply(body):
        last = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
        return "3\nPartly right." if "could not be used" in last else "It is fine, 3/5 maybe."

    openai_server.reply_fn = reply
    [row] = judge_pairs(pairs(1), None, settings_for(tmp_path, openai_server)).to_pylist()
    assert (row["judge_status"], row["score"], row["repairs"]) == ("ok", 3.0, 1)
    assert row["explanation"] == "Partly right."


def test_transient_failures_are_left_for_the_next_build(tmp_path, openai_server) -> None:
    openai_server.reply_fn = lambda body: "5\nGood."
    openai_server.script(Fault.status_code(503))
    settings = settings_for(tmp_path, openai_server)
    table = judge_pairs(pairs(2), None, settings)
    assert table.num_rows == 1 and table.column("score").to_pylist() == [5.0]
    # the next build asks only about the pair that has no row
    done = table.select(["judgement_id", "qa_hash", "judge_llm", "prompt_version"])
    again = judge_pairs(pairs(2), None, settings, done=done)
    assert again.num_rows == 1
    assert set(again.column("judgement_id").to_pylist()) != set(
        table.column("judgement_id").to_pylist()
    )
    assert (
        judge_pairs(
            pairs(2), None, settings, done=pa.concat_tables([done, again.select(done.column_names)])
        ).num_rows
        == 0
    )

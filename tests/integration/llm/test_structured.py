"""Structured outputs: repair with the validation error, or quarantine; never cache junk."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field

from synthlake.lake import Lake
from synthlake.llm.structured import StructuredOutput, complete_structured
from synthlake.llm.types import LLMRequest
from tests.fixtures.llm_servers import Fault
from tests.integration.llm.conftest import user


class Verdict(BaseModel):
    score: int = Field(ge=1, le=5)
    reason: str


def judge_requests(n: int) -> list[LLMRequest]:
    return [
        LLMRequest(row_id=f"qa-{i}", messages=user(f"rate answer {i}"), prompt_id="judge")
        for i in range(n)
    ]


def last_user(body) -> str:
    return [m for m in body["messages"] if m["role"] == "user"][-1]["content"]


def test_invalid_answer_is_repaired_with_the_error_in_the_conversation(openai_server, make_runner):
    def reply(body):
        if "could not be used" in last_user(body):
            return '```json\n{"score": 4, "reason": "fine"}\n```'
        return '{"score": 9, "reason": "too high"}'  # fails ge/le validation

    openai_server.reply_fn = reply
    [result] = complete_structured(judge_requests(1), Verdict, runner=make_runner())

    assert isinstance(result, StructuredOutput)
    assert result.value == Verdict(score=4, reason="fine") and result.repairs == 1
    first, repair = openai_server.generation_requests()
    assert [m["role"] for m in repair.body["messages"]] == ["user", "assistant", "user"]
    assert repair.body["messages"][1]["content"] == '{"score": 9, "reason": "too high"}'
    assert "score" in last_user(repair.body) and "less than or equal to 5" in last_user(repair.body)


def test_still_invalid_is_quarantined_never_returned_never_cached(openai_server, make_runner):
    def reply(body):
        if last_user(body) == "valid please":
            return json.dumps({"score": 3, "reason": "ok"})
        return "I would give it a solid four."

    openai_server.reply_fn = reply
    runner = make_runner()
    good = LLMRequest(row_id="ok-row", messages=user("valid please"), prompt_id="judge")
    results = complete_structured([good, *judge_requests(1)], Verdict, runner=runner, max_repairs=2)

    assert results[0].ok and results[0].value.score == 3
    failure = results[1]
    assert not failure.ok and failure.reason == "invalid_output"
    assert failure.raw_text == "I would give it a solid four."
    assert "qa-0" in failure.detail and "2 repair(s)" in failure.detail
    assert openai_server.call_count == 1 + 3  # the good row once, the bad one 1 + 2 repairs

    lake = Lake.from_settings(runner.settings)
    quarantine = lake.read_raw("llm_failures").to_pylist()
    assert [(q["row_id"], q["reason"]) for q in quarantine] == [("qa-0", "invalid_output")]
    assert quarantine[0]["raw_text"] == "I would give it a solid four."
    calls = lake.read_raw("llm_calls").to_pylist()
    assert sorted(c["status"] for c in calls) == ["invalid", "invalid", "invalid", "ok"]
    # the quarantine row points at the call of the last invalid answer
    [last] = [c for c in calls if c["call_id"] == quarantine[0]["call_id"]]
    assert last["status"] == "invalid" and last["row_id"] == "qa-0"

    # Nothing invalid was cached as an answer: a rerun asks the model again for the bad
    # row (3 calls) while the good row comes from the cache.
    again = complete_structured([good, *judge_requests(1)], Verdict, runner=make_runner())
    assert again[0].ok and again[0].response.cached
    assert openai_server.call_count == 4 + 3


def test_a_parser_callable_works_too(openai_server, make_runner):
    openai_server.reply_fn = lambda body: "LABEL: positive"

    def parse_label(text: str) -> str:
        label = text.removeprefix("LABEL:").strip()
        if label not in {"positive", "negative"}:
            raise ValueError(f"unknown label {label!r}")
        return label

    [result] = complete_structured(judge_requests(1), parse_label, runner=make_runner())
    assert result.value == "positive"


def test_provider_failures_pass_through_without_repair(openai_server, make_runner):
    openai_server.script(Fault.status_code(403))
    [result] = complete_structured(judge_requests(1), Verdict, runner=make_runner())
    assert result.reason == "auth_error" and openai_server.call_count == 1


def test_bad_schema_argument():
    with pytest.raises(TypeError, match="pydantic model class or a callable"):
        complete_structured(judge_requests(1), 42, runner=object())

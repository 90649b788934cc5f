"""Structured outputs: validate answers, ask for a repair a bounded number of times,
quarantine what still fails.

Each round runs the pending rows through the runner with a validator, so an answer that
does not validate is never cached as a success. A row whose answer is invalid gets its
conversation extended with that answer and the validation error, and is asked again
(up to ``max_repairs`` times); after that it is quarantined: an ``LLMFailure`` with reason
``invalid_output`` and the raw text, written to ``llm_failures``, never returned as a value.

Hand-written rather than instructor/outlines: those patch one SDK's client or need
logits access, while this must work the same across the local, OpenAI-compatible and
Gemini providers and through the runner's cache and accounting.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from synthlake.llm.types import LLMFailure, LLMRequest, LLMResponse, Message, normalize_messages

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
Schema = type[BaseModel] | Callable[[str], Any]

REPAIR_TEMPLATE = (
    "Your previous answer could not be used: {error}\n"
    "Answer again with only the corrected answer{shape}, nothing before or after it."
)


@dataclass(slots=True)
class StructuredOutput(Generic[T]):
    row_id: str
    value: T
    response: LLMResponse
    repairs: int = 0

    ok: bool = True


StructuredResult = StructuredOutput[Any] | LLMFailure


def extract_json(text: str) -> Any:
    """The first JSON object/array in ``text`` (code fences and chatter around it allowed)."""
    decoder = json.JSONDecoder()
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0]
    for start, char in enumerate(stripped):
        if char in "{[":
            try:
                value, _ = decoder.raw_decode(stripped[start:])
                return value
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON object in the answer")


def make_validator(schema: Schema) -> Callable[[str], Any]:
    """A callable ``text -> value`` that raises on invalid text."""
    if isinstance(schema, type) and issubclass(schema, BaseModel):

        def validate(text: str) -> Any:
            return schema.model_validate(extract_json(text))

        return validate
    if callable(schema):
        return schema
    raise TypeError(f"schema must be a pydantic model class or a callable, got {schema!r}")


def _describe_error(exc: BaseException, limit: int = 800) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:8]:
            where = ".".join(str(p) for p in err["loc"]) or "(root)"
            parts.append(f"{where}: {err['msg']}")
        text = "; ".join(parts)
    else:
        text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def _shape(schema: Schema) -> str:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return " as JSON matching this schema: " + json.dumps(
            schema.model_json_schema(), separators=(",", ":")
        )
    return ""


async def acomplete_structured(
    requests: Sequence[LLMRequest],
    schema: Schema,
    *,
    runner: Any,
    max_repairs: int = 2,
) -> list[StructuredResult]:
    """Async ``complete_structured``."""
    if max_repairs < 0:
        raise ValueError("max_repairs must be >= 0")
    validate = make_validator(schema)
    # Capture the parsed value and the error of each attempt, keyed by the answer text.
    errors: dict[str, BaseException] = {}

    def checking(text: str) -> Any:
        try:
            return validate(text)
        except Exception as exc:
            errors[text] = exc
            raise

    results: list[StructuredResult | None] = [None] * len(requests)
    pending: list[tuple[int, LLMRequest]] = list(enumerate(requests))
    quarantined: list[LLMFailure] = []
    repairs = 0
    while pending:
        last_round = repairs >= max_repairs
        outcomes = await runner.arun(
            [request for _, request in pending], validate=checking, record_invalid=False
        )
        retry: list[tuple[int, LLMRequest]] = []
        for (index, request), outcome in zip(pending, outcomes, strict=True):
            if outcome.ok:
                results[index] = StructuredOutput(
                    row_id=request.row_id,
                    value=outcome.parsed,
                    response=outcome,
                    repairs=repairs,
                )
            elif outcome.reason != "invalid_output":
                results[index] = outcome  # a provider failure: already recorded by the runner
            elif last_round:
                error = errors.get(outcome.raw_text or "")
                outcome.detail = (
                    f"row {request.row_id!r}: still invalid after {repairs} repair(s): "
                    + (_describe_error(error) if error else outcome.detail)
                )
                results[index] = outcome
                quarantined.append(outcome)
            else:
                error = errors.get(outcome.raw_text or "")
                message = REPAIR_TEMPLATE.format(
                    error=_describe_error(error) if error else "it is not valid",
                    shape=_shape(schema),
                )
                conversation = normalize_messages(request.row_id, request.messages)
                retry.append(
                    (
                        index,
                        replace(
                            request,
                            messages=(
                                *conversation,
                                Message("assistant", outcome.raw_text or ""),
                                Message("user", message),
                            ),
                        ),
                    )
                )
        pending = retry
        repairs += 1
    if quarantined:
        log.warning("%d rows quarantined as invalid_output", len(quarantined))
        runner.record_failures(quarantined)
    return results  # type: ignore[return-value]


def complete_structured(
    requests: Sequence[LLMRequest],
    schema: Schema,
    *,
    runner: Any = None,
    settings: Settings | None = None,
    stage: str | None = None,
    max_repairs: int = 2,
) -> list[StructuredResult]:
    """Run ``requests`` and validate each answer against ``schema``.

    ``schema`` is a pydantic model class (the answer's first JSON object is validated
    against it) or a callable ``text -> value`` that raises on invalid text. Returns one
    ``StructuredOutput`` (``.value``) or ``LLMFailure`` per request, in order.
    """
    from synthlake.llm.runner import run_sync

    if runner is None:
        if settings is None:
            raise ValueError("give a runner or settings")
        from synthlake.llm.runner import LLMRunner

        runner = LLMRunner(settings, stage=stage)
    return run_sync(acomplete_structured(requests, schema, runner=runner, max_repairs=max_repairs))

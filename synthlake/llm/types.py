"""The records of the LLM layer: requests, generation params, responses and failures.

Plain ``@dataclass(slots=True)`` records, one definition each: they cross threads and process
boundaries and are built by the thousand, so they stay cheap and free of pydantic
validation; ``normalize_messages`` is the one place where input is checked and cleaned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from synthlake.errors import LLMError

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")

# Why a request did not produce an answer. Short, machine-readable, stable: they land in
# the ``llm_failures`` table and the dbt ``accepted_values`` test lists them.
FailureReason = Literal[
    "empty_messages",  # no message, or every message blank
    "invalid_request",  # a message with an unknown role or a non-text content
    "context_overflow",  # the prompt does not fit the model's context
    "rate_limited",  # 429 / resource exhausted, retries spent
    "server_error",  # 5xx, retries spent
    "timeout",  # the provider did not answer in llm_timeout_s, retries spent
    "connection_error",  # the connection broke (reset, closed mid-answer), retries spent
    "unreachable",  # connection refused or the host name does not resolve, retries spent
    "auth_error",  # 401 / 403 / an invalid API key: never retried
    "model_not_found",  # 404: no such model (or no such endpoint) at this provider
    "client_error",  # another 4xx: the provider refused this one request
    "bad_response",  # the provider answered something that is not a completion
    "content_filtered",  # the provider refused (safety block)
    "provider_error",  # anything else the provider raised
    "budget_exceeded",  # llm_budget_usd reached before this request was sent
    "invalid_output",  # the answer did not validate (structured outputs)
    "batch_pending",  # in a provider batch job not finished yet: the next run collects it
]
FAILURE_REASONS: tuple[str, ...] = FailureReason.__args__  # type: ignore[attr-defined]

# Every failure is of one of three kinds, and each kind has one rule:
# - transient: retried within the run; a row still failing is not stored, so the next run
#   asks again (from the cache when an answer came in meanwhile);
# - configuration: the provider refuses everyone (a bad key, an unknown model, a host that
#   is not there): the runner stops calling it after a few in a row, the stage fails the
#   run with one message naming the setting to fix, and nothing is stored for those rows;
# - content: this request's answer is unusable (no score, wrong language, too long...):
#   quarantined with its reason, asked again only when the prompt version, the model or the
#   validation changes, or on ``synthlake run --retry-quarantined``.
FailureKind = Literal["transient", "configuration", "content"]
TRANSIENT_FAILURES: frozenset[str] = frozenset(
    {
        "rate_limited",
        "server_error",
        "timeout",
        "connection_error",
        "provider_error",
        "budget_exceeded",
        "batch_pending",
    }
)
CONFIGURATION_FAILURES: frozenset[str] = frozenset({"unreachable", "auth_error", "model_not_found"})


def failure_kind(reason: str) -> FailureKind:
    """Which of the three rules applies to a failure reason."""
    if reason in TRANSIENT_FAILURES:
        return "transient"
    if reason in CONFIGURATION_FAILURES:
        return "configuration"
    return "content"


def left_for_next_run(reason: str) -> bool:
    """True when a stage must store nothing for the row, so that a later run asks again."""
    return failure_kind(reason) != "content"


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """How to generate. ``max_new_tokens=None`` means ``settings.llm_max_new_tokens``.

    ``temperature=0`` is greedy decoding (the default: reproducible, cacheable).

    ``answer_prefixes``: the answer must begin with one of these strings (a judge's score
    line, "4\\n"). The local provider enforces it by constrained decoding of the first
    tokens, which a 135M model needs to follow a format at all; remote providers get it only
    through the prompt's wording, and their answers are validated as usual.
    """

    max_new_tokens: int | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    answer_prefixes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))
        if not isinstance(self.answer_prefixes, tuple):
            object.__setattr__(self, "answer_prefixes", tuple(self.answer_prefixes))
        if any(not prefix for prefix in self.answer_prefixes):
            raise ValueError("answer_prefixes must be non-empty strings")

    def resolved(self, default_max_new_tokens: int) -> GenerationParams:
        if self.max_new_tokens is not None:
            return self
        return GenerationParams(
            max_new_tokens=default_max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            stop=self.stop,
            seed=self.seed,
            answer_prefixes=self.answer_prefixes,
        )

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def as_key(self) -> dict[str, Any]:
        key = {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
            "seed": self.seed,
        }
        if self.answer_prefixes:  # only then: older cache keys stay valid
            key["answer_prefixes"] = list(self.answer_prefixes)
        return key


MessageLike = Message | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One call to make: a conversation for one row, with the prompt that produced it."""

    row_id: str
    messages: Sequence[MessageLike]
    params: GenerationParams = field(default_factory=GenerationParams)
    prompt_id: str = "adhoc"
    prompt_version: str = "0"


@dataclass(slots=True)
class LLMResponse:
    row_id: str
    text: str
    tokens_in: int
    tokens_out: int
    latency_s: float
    provider: str
    model: str
    prompt_id: str
    prompt_version: str
    cached: bool = False
    cost_usd: float | None = 0.0  # what this run paid; 0 for a cache hit, None if unpriced
    attempts: int = 1
    finish_reason: str | None = None
    cache_key: str = ""
    parsed: Any = None  # set by a validator (structured outputs)
    call_id: str | None = None  # its row in llm_calls

    ok: bool = field(default=True, init=False)


@dataclass(slots=True)
class LLMFailure:
    row_id: str
    reason: FailureReason
    detail: str  # what a person needs to understand it, naming the row
    raw_text: str | None = None  # what the provider answered, if anything
    provider: str = ""
    model: str = ""
    prompt_id: str = ""
    prompt_version: str = ""
    attempts: int = 0
    cache_key: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0
    call_id: str | None = None  # the llm_calls row of the call that failed

    ok: bool = field(default=False, init=False)


LLMResult = LLMResponse | LLMFailure


class RequestRejected(LLMError, ValueError):
    """A request that cannot be sent at all; becomes an ``LLMFailure``, never escapes.

    Also a ``ValueError`` (it is bad input), as it was before it joined the tree."""

    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def clean_text(value: object) -> str:
    """Text that is valid Unicode and encodes to UTF-8.

    Scraped pages bring undecodable bytes and lone surrogates (``surrogateescape``
    decoding, broken JSON escapes); an HTTP client then fails with ``UnicodeEncodeError``
    and a tokenizer may crash. Bytes are decoded as UTF-8 with U+FFFD for what is not;
    in a ``str``, surrogate *pairs* are joined and lone surrogates become U+FFFD.
    """
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if not isinstance(value, str):
        raise TypeError(f"message content must be text, got {type(value).__name__}")
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def normalize_messages(row_id: str, messages: Sequence[MessageLike]) -> tuple[Message, ...]:
    """Validate and clean a request's messages; raise ``RequestRejected`` naming the row."""
    if messages is None or len(messages) == 0:
        raise RequestRejected("empty_messages", f"row {row_id!r}: the request has no messages")
    out: list[Message] = []
    for i, message in enumerate(messages):
        if isinstance(message, Message):
            role, content = message.role, message.content
        elif isinstance(message, Mapping):
            role, content = message.get("role"), message.get("content")
        else:
            raise RequestRejected(
                "invalid_request",
                f"row {row_id!r}: message {i} is a {type(message).__name__}, "
                "not a {'role': ..., 'content': ...} mapping",
            )
        if role not in ROLES:
            raise RequestRejected(
                "invalid_request",
                f"row {row_id!r}: message {i} has role {role!r}; use one of {', '.join(ROLES)}",
            )
        if content is None:
            content = ""
        try:
            text = clean_text(content)
        except TypeError as exc:
            raise RequestRejected(
                "invalid_request", f"row {row_id!r}: message {i}: {exc}"
            ) from None
        out.append(Message(role=role, content=text))
    if not any(m.content.strip() for m in out if m.role != "system"):
        raise RequestRejected(
            "empty_messages",
            f"row {row_id!r}: every user/assistant message is empty (nothing to answer)",
        )
    return tuple(out)

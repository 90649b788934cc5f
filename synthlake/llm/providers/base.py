"""What every provider gives the runner, and the one error type they raise.

Two shapes, because the costs differ: a *remote* provider answers one request per HTTP
call (the runner adds concurrency, rate limits and retries around ``complete``), a *local*
provider answers a whole batch per forward pass (``generate_batch``, run in a worker
thread). Providers translate their SDK's exceptions into ``ProviderError`` with a
``kind`` so that the retry policy is written once, in ``synthlake/llm/retry.py``.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from synthlake.errors import LLMError
from synthlake.llm.types import GenerationParams, Message
from synthlake.redact import redact

ErrorKind = Literal[
    "rate_limited",
    "server_error",
    "timeout",
    "connection_error",
    "unreachable",
    "auth_error",
    "model_not_found",
    "client_error",
    "context_overflow",
    "bad_response",
    "content_filtered",
    "provider_error",
]
# A refused connection is retried too: a server restarting answers again within seconds.
# Only when the retries are spent does it count as a configuration failure ("unreachable").
RETRYABLE_KINDS: frozenset[str] = frozenset(
    {"rate_limited", "server_error", "timeout", "connection_error", "unreachable"}
)
# How providers word an invalid key in a 400 (Gemini: API_KEY_INVALID) rather than a 401.
_BAD_KEY_HINTS = ("api_key_invalid", "api key not valid", "invalid api key", "incorrect api key")


def client_error_kind(status: int, message: str, context_hints: Sequence[str] = ()) -> ErrorKind:
    """The kind of a 4xx other than 429/408: configuration (key, model) or this request."""
    lowered = message.lower()
    if status in (401, 403) or any(hint in lowered for hint in _BAD_KEY_HINTS):
        return "auth_error"
    if status == 404:
        return "model_not_found"
    if status in (400, 413) and any(hint in lowered for hint in context_hints):
        return "context_overflow"
    return "client_error"


def connection_kind(exc: BaseException) -> ErrorKind:
    """``unreachable`` when no connection could be opened (refused, DNS), else a broken one.

    httpx (under both SDKs) raises ``ConnectError`` only while opening the connection;
    resets and early closes of an open one are ``ReadError`` / ``RemoteProtocolError``.
    """
    import httpx

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, httpx.ConnectError | ConnectionRefusedError | socket.gaierror):
            return "unreachable"
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return "connection_error"


class ProviderError(LLMError):
    """One failed attempt, classified. ``retry_after`` is what the server asked for (s).

    ``limit_room`` is what a 429 said was left of the key's limits (``x-ratelimit-remaining-
    requests`` and ``-tokens``, as OpenAI sends them), when it said so: a 429 with room
    left is the provider's own congestion, not this client's pace."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        raw_text: str | None = None,
        limit_room: tuple[int, int] | None = None,
    ) -> None:
        # a gateway may echo the API key in its error body: mask it before anyone sees it
        message = redact(message) or ""
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.raw_text = redact(raw_text)
        self.limit_room = limit_room

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    def __str__(self) -> str:
        status = f"HTTP {self.status}: " if self.status else ""
        return f"{status}{self.message}"


@dataclass(slots=True)
class Completion:
    text: str
    tokens_in: int
    tokens_out: int
    finish_reason: str | None = None


@dataclass(slots=True)
class Encoded:
    """A request as the provider will send it, with its prompt size (exact or estimated)."""

    messages: tuple[Message, ...]
    tokens_in: int
    payload: Any = None  # provider-specific (token ids for the local provider)


def estimate_tokens(messages: Sequence[Message]) -> int:
    """A tokenizer-free estimate: ~4 UTF-8 bytes per token plus chat overhead.

    Used for remote models (their tokenizers are not available offline) to pace the
    tokens-per-minute bucket, check an explicit ``llm_context_tokens`` and estimate cost
    in a dry run. Real usage reported by the provider replaces it in the accounting.
    """
    return 3 + sum(4 + estimate_text_tokens(m.content) for m in messages)


def estimate_text_tokens(text: str) -> int:
    """About 4 UTF-8 bytes per token (English and Italian prose with BPE tokenizers)."""
    return math.ceil(len(text.encode("utf-8")) / 4)


@runtime_checkable
class RemoteProvider(Protocol):
    name: str
    model: str
    remote: bool  # True

    def context_tokens(self) -> int | None: ...

    def encode(self, messages: tuple[Message, ...]) -> Encoded: ...

    def session(self) -> AbstractAsyncContextManager[Any]: ...

    async def complete(
        self, client: Any, encoded: Encoded, params: GenerationParams
    ) -> Completion: ...


@runtime_checkable
class LocalProvider(Protocol):
    name: str
    model: str
    remote: bool  # False
    fingerprint: str

    def load(self) -> None: ...

    def context_tokens(self) -> int | None: ...

    def encode(self, messages: tuple[Message, ...]) -> Encoded: ...

    def generate_batch(
        self, items: Sequence[Encoded], params: GenerationParams
    ) -> list[Completion]: ...


Provider = RemoteProvider | LocalProvider

BatchState = Literal["running", "completed", "expired", "cancelled", "failed"]


@dataclass(slots=True)
class BatchEntry:
    """One request of a batch job; ``custom_id`` is how its answer comes back."""

    custom_id: str
    encoded: Encoded
    params: GenerationParams


@dataclass(slots=True)
class BatchPoll:
    """A batch job's state. ``completed``, ``expired`` and ``cancelled`` may carry answers
    (expired/cancelled ones only for the requests that ran); ``failed`` carries none."""

    job_id: str
    state: BatchState
    detail: str = ""
    handle: Any = None  # the SDK's job object, for collecting the results


@runtime_checkable
class BatchProvider(Protocol):
    """A remote provider with an asynchronous batch API (OpenAI, Gemini): requests are
    submitted as one job, answered within hours at about half the price, and collected.

    ``batch_results`` maps each answered or failed ``custom_id`` to a ``Completion`` or a
    ``ProviderError``; an id it leaves out never ran (the job expired or was cancelled).
    """

    batch_max_bytes: int  # what one job may carry (the provider's upload limit, with margin)

    async def batch_submit(self, client: Any, entries: Sequence[BatchEntry], label: str) -> str: ...

    async def batch_poll(self, client: Any, job_id: str) -> BatchPoll: ...

    async def batch_results(
        self, client: Any, poll: BatchPoll, entries: dict[str, Encoded]
    ) -> dict[str, Completion | ProviderError]: ...

"""Gemini through the ``google-genai`` SDK (the maintained one; ``google-generativeai`` is not).

The SDK's retries are switched off (``HttpRetryOptions(attempts=1)``, which also stops its
implicit retry on connection errors) so the runner's policy is the only one. The endpoint
is the SDK's default unless a base URL is given, here or through the SDK's own
``GOOGLE_GEMINI_BASE_URL`` variable (tests point it at a local server that speaks the
``generateContent`` REST shape). System messages become ``system_instruction``; assistant
turns are sent with Gemini's role name ``model``.

With ``SYNTHLAKE_LLM_BATCH_API`` requests go through the Gemini Batch API instead: one job
of inline requests (``batches.create``, each tagged with its ``custom_id`` in ``metadata``),
polled with ``batches.get`` and read from ``dest.inlined_responses``. Inline jobs are
limited to 20 MB, so the runner cuts bigger batches into several jobs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from synthlake.errors import DependencyMissing, LLMError
from synthlake.llm.providers.base import (
    BatchEntry,
    BatchPoll,
    Completion,
    Encoded,
    ProviderError,
    client_error_kind,
    connection_kind,
    estimate_tokens,
)
from synthlake.llm.types import GenerationParams, Message

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

# Input context of the current Gemini families (public model cards); used only to reject
# a prompt that cannot fit before paying for the call.
_CONTEXT_BY_PREFIX = (
    ("gemini-2.5", 1_048_576),
    ("gemini-2.0", 1_048_576),
    ("gemini-1.5-pro", 2_097_152),
    ("gemini-1.5", 1_048_576),
)
_BLOCK_FINISH = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION"}
_CONTEXT_HINTS = ("token count", "exceeds the maximum number of tokens", "too long")


def _import_genai() -> tuple[Any, Any, Any]:
    try:
        from google import genai
        from google.genai import errors, types
    except ImportError as exc:  # pragma: no cover - the package is a dependency
        raise DependencyMissing("google-genai", "the gemini LLM provider") from exc
    return genai, types, errors


def _transport_errors() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(timeout classes, other transport classes) of whichever httpx the SDK uses."""
    timeouts: list[type] = []
    transport: list[type] = []
    for name in ("httpx", "httpx2"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        timeouts.append(module.TimeoutException)
        transport.append(module.TransportError)
    return tuple(timeouts), tuple(transport)


_BATCH_STATES = {
    "JOB_STATE_PENDING": "running",
    "JOB_STATE_QUEUED": "running",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_UNSPECIFIED": "running",
    "JOB_STATE_SUCCEEDED": "completed",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "completed",
    "JOB_STATE_EXPIRED": "expired",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_CANCELLING": "running",
    "JOB_STATE_FAILED": "failed",
}


class GeminiProvider:
    name = "gemini"
    remote = True
    batch_max_bytes = 15_000_000  # inline batch requests are capped at 20 MB

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        base_url: str | None = None,
        timeout_s: float = 120.0,
        context_tokens: int | None = None,
    ) -> None:
        self.model = model
        self._api_key = api_key
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._context_tokens = context_tokens

    @classmethod
    def from_settings(
        cls, spec: Any, settings: Settings, *, base_url: str | None = None
    ) -> GeminiProvider:
        key = settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else None
        return cls(
            spec.model,
            api_key=key,
            base_url=base_url or getattr(spec, "base_url", None),
            timeout_s=settings.llm_timeout_s,
            context_tokens=settings.llm_context_tokens,
        )

    def __repr__(self) -> str:
        return f"GeminiProvider(model={self.model!r}, base_url={self.base_url!r})"

    def context_tokens(self) -> int | None:
        if self._context_tokens:
            return self._context_tokens
        for prefix, size in _CONTEXT_BY_PREFIX:
            if self.model.startswith(prefix):
                return size
        return None

    def encode(self, messages: tuple[Message, ...]) -> Encoded:
        return Encoded(messages=messages, tokens_in=estimate_tokens(messages))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Any]:
        genai, types, _ = _import_genai()
        if not self._api_key:
            raise LLMError(
                f"gemini:{self.model} needs an API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)"
            )
        options = types.HttpOptions(
            base_url=self.base_url,
            timeout=int(self.timeout_s * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        client = genai.Client(api_key=self._api_key, http_options=options)
        try:
            yield client
        finally:
            try:
                await client.aio.aclose()
            except Exception:  # noqa: BLE001 - closing is best effort
                log.debug("closing the gemini client failed", exc_info=True)

    def _request(self, encoded: Encoded, params: GenerationParams) -> tuple[list[Any], Any]:
        """(contents, config) of one request, the same for a live call and a batch job."""
        _, types, _ = _import_genai()
        system = "\n\n".join(m.content for m in encoded.messages if m.role == "system")
        contents = [
            types.Content(
                role="model" if m.role == "assistant" else "user",
                parts=[types.Part(text=m.content)],
            )
            for m in encoded.messages
            if m.role != "system"
        ]
        config = types.GenerateContentConfig(
            system_instruction=system or None,
            temperature=params.temperature,
            top_p=params.top_p,
            max_output_tokens=params.max_new_tokens,
            stop_sequences=list(params.stop) or None,
            seed=params.seed,
        )
        return contents, config

    async def complete(self, client: Any, encoded: Encoded, params: GenerationParams) -> Completion:
        _, _, errors = _import_genai()
        timeouts, transport = _transport_errors()
        contents, config = self._request(encoded, params)
        try:
            response = await client.aio.models.generate_content(
                model=self.model, contents=contents, config=config
            )
        except errors.APIError as exc:
            raise _api_error(exc) from exc
        except timeouts as exc:
            raise ProviderError("timeout", f"no answer within {self.timeout_s:g} s") from exc
        except transport as exc:
            raise ProviderError(connection_kind(exc), f"{type(exc).__name__}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise ProviderError(
                "bad_response",
                f"the server's answer is not JSON ({exc.msg})",
                raw_text=exc.doc[:4000] if isinstance(exc.doc, str) else None,
            ) from exc
        return _to_completion(response, encoded)

    # --- the Batch API ---------------------------------------------------------------
    @contextmanager
    def _sdk_errors(self, what: str) -> Iterator[None]:
        _, _, errors = _import_genai()
        timeouts, transport = _transport_errors()
        try:
            yield
        except errors.APIError as exc:
            error = _api_error(exc)
            error.message = f"{what}: {error.message}"
            raise error from exc
        except timeouts as exc:
            raise ProviderError(
                "timeout", f"{what}: no answer within {self.timeout_s:g} s"
            ) from exc
        except transport as exc:
            raise ProviderError(
                connection_kind(exc), f"{what}: {type(exc).__name__}: {exc}"
            ) from exc
        except json.JSONDecodeError as exc:
            raise ProviderError("bad_response", f"{what}: the answer is not JSON") from exc

    async def batch_submit(self, client: Any, entries: Sequence[BatchEntry], label: str) -> str:
        _, types, _ = _import_genai()
        inlined = []
        for entry in entries:
            contents, config = self._request(entry.encoded, entry.params)
            inlined.append(
                types.InlinedRequest(
                    contents=contents, config=config, metadata={"key": entry.custom_id}
                )
            )
        with self._sdk_errors(f"creating a batch job of {len(entries)} requests"):
            job = await client.aio.batches.create(
                model=self.model, src=inlined, config={"display_name": label[:128]}
            )
        return str(job.name)

    async def batch_poll(self, client: Any, job_id: str) -> BatchPoll:
        with self._sdk_errors(f"reading batch job {job_id}"):
            job = await client.aio.batches.get(name=job_id)
        raw_state = getattr(job.state, "name", None) or str(job.state)
        state = _BATCH_STATES.get(raw_state)
        if state is None:
            raise ProviderError("bad_response", f"batch job {job_id}: unknown state {raw_state!r}")
        detail = raw_state
        error = getattr(job, "error", None)
        if error is not None and getattr(error, "message", None):
            detail += f": {error.message}"
        return BatchPoll(job_id=job_id, state=state, detail=detail, handle=job)

    async def batch_results(
        self, client: Any, poll: BatchPoll, entries: dict[str, Encoded]
    ) -> dict[str, Completion | ProviderError]:
        dest = getattr(poll.handle, "dest", None)
        responses = getattr(dest, "inlined_responses", None) or []
        ids = list(entries)
        results: dict[str, Completion | ProviderError] = {}
        for position, item in enumerate(responses):
            key = (getattr(item, "metadata", None) or {}).get("key")
            # answers come back in request order; the metadata key is checked when present
            custom_id = key or (ids[position] if position < len(ids) else None)
            if custom_id is None:
                log.warning("batch job %s: answer %d has no key; skipped", poll.job_id, position)
                continue
            encoded = entries.get(custom_id) or Encoded(messages=(), tokens_in=0)
            error = getattr(item, "error", None)
            if error is not None:
                code = int(getattr(error, "code", 0) or 0)
                message = str(getattr(error, "message", "") or f"error {code}")
                results[custom_id] = _code_error(code, message, None, {}, None)
                continue
            try:
                results[custom_id] = _to_completion(item.response, encoded)
            except ProviderError as failure:
                results[custom_id] = failure
        return results


def _to_completion(response: Any, encoded: Encoded) -> Completion:
    raw = _dump(response)
    candidates = getattr(response, "candidates", None) or []
    feedback = getattr(response, "prompt_feedback", None)
    if not candidates:
        block = getattr(feedback, "block_reason", None) if feedback is not None else None
        if block:
            raise ProviderError("content_filtered", f"prompt blocked ({block})", raw_text=raw)
        raise ProviderError("bad_response", "the answer has no candidates", raw_text=raw)
    candidate = candidates[0]
    finish = getattr(candidate, "finish_reason", None)
    finish_name = getattr(finish, "name", None) or (str(finish) if finish else None)
    parts = getattr(getattr(candidate, "content", None), "parts", None) or []
    text = "".join(
        p.text for p in parts if getattr(p, "text", None) and not getattr(p, "thought", False)
    )
    if not text and finish_name in _BLOCK_FINISH:
        raise ProviderError("content_filtered", f"answer blocked ({finish_name})", raw_text=raw)
    usage = getattr(response, "usage_metadata", None)
    tokens_in = getattr(usage, "prompt_token_count", None) or encoded.tokens_in
    # Thinking tokens are billed as output.
    tokens_out = (getattr(usage, "candidates_token_count", None) or 0) + (
        getattr(usage, "thoughts_token_count", None) or 0
    )
    reason = {"STOP": "stop", "MAX_TOKENS": "length"}.get(finish_name or "", finish_name)
    return Completion(
        text=text, tokens_in=int(tokens_in), tokens_out=int(tokens_out), finish_reason=reason
    )


def _dump(response: Any) -> str | None:
    try:
        return response.model_dump_json(exclude_none=True)[:4000]
    except Exception:  # noqa: BLE001 - only kept for a person to read
        return None


def _api_error(exc: Any) -> ProviderError:
    code = int(getattr(exc, "code", 0) or 0)
    response = getattr(exc, "response", None)
    headers = dict(getattr(response, "headers", {}) or {})
    details = getattr(exc, "details", None)
    message = str(getattr(exc, "message", None) or exc)
    raw = json.dumps(details)[:4000] if isinstance(details, dict | list) else None
    return _code_error(code, message, details, headers, raw)


def _code_error(
    code: int, message: str, details: Any, headers: dict[str, str], raw: str | None
) -> ProviderError:
    """A Gemini error code (of a live call, or of one answer of a batch job), classified."""
    from synthlake.llm.retry import parse_retry_after

    if code == 429:
        return ProviderError(
            "rate_limited",
            message,
            status=code,
            retry_after=parse_retry_after(headers, details),
            raw_text=raw,
        )
    if code >= 500 or code == 408:
        return ProviderError(
            "timeout" if code == 408 else "server_error",
            message,
            status=code,
            retry_after=parse_retry_after(headers, details),
            raw_text=raw,
        )
    kind = client_error_kind(code, message, _CONTEXT_HINTS)
    return ProviderError(kind, message, status=code, raw_text=raw)

"""Any OpenAI-compatible chat-completions server (vLLM, llama.cpp, Ollama, OpenAI).

The ``openai`` SDK does the HTTP; its retries are switched off (``max_retries=0``) so the
runner's policy is the only one, and the raw response is read (``with_raw_response``) so
that a body that is not a completion is kept as the failure's raw text. Token counts come
from the server's ``usage``; a server that omits it gets the byte-based estimate.

With ``SYNTHLAKE_LLM_BATCH_API`` the same requests go through OpenAI's Batch API instead
(``batch_submit``/``batch_poll``/``batch_results``): a JSONL file of ``/v1/chat/completions``
bodies is uploaded (Files API, purpose ``batch``), a job is created with a 24 h completion
window, and its output and error files are read back by ``custom_id``. The lines hold the
exact bodies ``complete`` sends, so a batch answer and an online answer share a cache key.
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
    estimate_text_tokens,
    estimate_tokens,
)
from synthlake.llm.types import GenerationParams, Message

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

_CONTEXT_HINTS = ("context length", "context_length", "maximum context", "too many tokens")
_RETRYABLE_STATUS = {408, 409, 429}


def _import_openai() -> Any:
    try:
        import openai
    except ImportError as exc:  # pragma: no cover - the package is a dependency
        raise DependencyMissing("openai", "the openai LLM provider") from exc
    return openai


_BATCH_ENDPOINT = "/v1/chat/completions"
_BATCH_STATES = {
    "validating": "running",
    "in_progress": "running",
    "finalizing": "running",
    "cancelling": "running",
    "completed": "completed",
    "expired": "expired",
    "cancelled": "cancelled",
    "failed": "failed",
}


class OpenAICompatProvider:
    name = "openai"
    remote = True
    batch_max_bytes = 180_000_000  # the Batch API takes input files up to 200 MB

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        context_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self._api_key = api_key
        self.timeout_s = timeout_s
        self._context_tokens = context_tokens

    @classmethod
    def from_settings(cls, spec: Any, settings: Settings) -> OpenAICompatProvider:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return cls(
            spec.model,
            base_url=spec.base_url,
            api_key=key,
            timeout_s=settings.llm_timeout_s,
            context_tokens=settings.llm_context_tokens,
        )

    def __repr__(self) -> str:
        return f"OpenAICompatProvider(model={self.model!r}, base_url={self.base_url!r})"

    def context_tokens(self) -> int | None:
        # The server knows its context; only an explicit setting is checked client-side.
        return self._context_tokens

    def encode(self, messages: tuple[Message, ...]) -> Encoded:
        return Encoded(messages=messages, tokens_in=estimate_tokens(messages))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Any]:
        openai = _import_openai()
        key = self._api_key
        if not key:
            if self.base_url is None:
                raise LLMError(
                    f"openai:{self.model} talks to api.openai.com and needs a key: set "
                    "OPENAI_API_KEY (or give a base URL: openai:<model>@http://host:8000/v1)"
                )
            key = "not-needed"  # local servers (vLLM, llama.cpp, Ollama) ignore it
        client = openai.AsyncOpenAI(
            api_key=key, base_url=self.base_url, max_retries=0, timeout=self.timeout_s
        )
        try:
            yield client
        finally:
            await client.close()

    def _request_args(self, encoded: Encoded, params: GenerationParams) -> dict[str, Any]:
        args: dict[str, Any] = {
            "model": self.model,
            "messages": [m.as_dict() for m in encoded.messages],
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        # api.openai.com's newer models accept only max_completion_tokens; the servers
        # people self-host (vLLM, llama.cpp, Ollama) all understand max_tokens.
        limit_key = "max_completion_tokens" if self.base_url is None else "max_tokens"
        args[limit_key] = params.max_new_tokens
        if params.stop:
            args["stop"] = list(params.stop)
        if params.seed is not None:
            args["seed"] = params.seed
        return args

    async def complete(self, client: Any, encoded: Encoded, params: GenerationParams) -> Completion:
        openai = _import_openai()
        try:
            raw = await client.chat.completions.with_raw_response.create(
                **self._request_args(encoded, params)
            )
        except openai.APITimeoutError as exc:
            raise ProviderError("timeout", f"no answer within {self.timeout_s:g} s") from exc
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise ProviderError(connection_kind(exc), f"{type(cause).__name__}: {cause}") from exc
        except openai.APIStatusError as exc:
            raise _status_error(exc) from exc
        text_body = _safe_text(raw)
        try:
            completion = raw.parse()
        except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
            raise ProviderError(
                "bad_response",
                f"the server's answer is not a chat completion ({type(exc).__name__}: {exc})",
                status=raw.status_code,
                raw_text=text_body,
            ) from exc
        return _to_completion(completion, encoded, text_body, raw.status_code)

    # --- the Batch API ---------------------------------------------------------------
    @contextmanager
    def _sdk_errors(self, what: str) -> Iterator[None]:
        """The SDK's exceptions, as the ``ProviderError`` kinds the retry policy knows."""
        openai = _import_openai()
        try:
            yield
        except openai.APITimeoutError as exc:
            raise ProviderError(
                "timeout", f"{what}: no answer within {self.timeout_s:g} s"
            ) from exc
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise ProviderError(
                connection_kind(exc), f"{what}: {type(cause).__name__}: {cause}"
            ) from exc
        except openai.APIStatusError as exc:
            error = _status_error(exc)
            error.message = f"{what}: {error.message}"
            raise error from exc

    async def batch_submit(self, client: Any, entries: Sequence[BatchEntry], label: str) -> str:
        lines = [
            {
                "custom_id": entry.custom_id,
                "method": "POST",
                "url": _BATCH_ENDPOINT,
                "body": self._request_args(entry.encoded, entry.params),
            }
            for entry in entries
        ]
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        with self._sdk_errors("uploading the batch input file"):
            uploaded = await client.files.create(
                file=(f"{label}.jsonl", data.encode("utf-8"), "application/jsonl"),
                purpose="batch",
            )
        with self._sdk_errors(f"creating the batch job for file {uploaded.id}"):
            job = await client.batches.create(
                input_file_id=uploaded.id,
                endpoint=_BATCH_ENDPOINT,
                completion_window="24h",
                metadata={"source": "synthlake", "label": label[:512]},
            )
        return str(job.id)

    async def batch_poll(self, client: Any, job_id: str) -> BatchPoll:
        with self._sdk_errors(f"reading batch job {job_id}"):
            job = await client.batches.retrieve(job_id)
        state = _BATCH_STATES.get(str(job.status))
        if state is None:
            raise ProviderError(
                "bad_response", f"batch job {job_id}: unknown status {job.status!r}"
            )
        detail = str(job.status)
        errors = getattr(getattr(job, "errors", None), "data", None) or []
        if errors:
            detail += ": " + "; ".join(
                f"line {e.line}: {e.message}" if getattr(e, "line", None) else str(e.message)
                for e in errors[:5]
            )
        counts = getattr(job, "request_counts", None)
        if counts is not None:
            detail += f" ({counts.completed}/{counts.total} done, {counts.failed} failed)"
        return BatchPoll(job_id=job_id, state=state, detail=detail, handle=job)

    async def batch_results(
        self, client: Any, poll: BatchPoll, entries: dict[str, Encoded]
    ) -> dict[str, Completion | ProviderError]:
        _import_openai()
        from openai.types.chat import ChatCompletion

        results: dict[str, Completion | ProviderError] = {}
        for file_id in (poll.handle.output_file_id, poll.handle.error_file_id):
            if not file_id:
                continue
            with self._sdk_errors(f"downloading file {file_id} of batch job {poll.job_id}"):
                content = await client.files.content(file_id)
            for number, line in enumerate(content.text.splitlines(), start=1):
                if not line.strip():
                    continue
                where = f"batch job {poll.job_id}, file {file_id} line {number}"
                try:
                    record = json.loads(line)
                    custom_id = str(record["custom_id"])
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("%s: not a batch result line (%s); skipped", where, exc)
                    continue
                # a job resumed from an earlier run may answer requests this run lacks
                encoded = entries.get(custom_id) or Encoded(messages=(), tokens_in=0)
                response = record.get("response") or {}
                status = int(response.get("status_code") or 0)
                body = response.get("body")
                raw_text = json.dumps(body)[:4000] if body is not None else line[:4000]
                if status == 200:
                    try:
                        completion = ChatCompletion.model_validate(body)
                        results[custom_id] = _to_completion(completion, encoded, raw_text, 200)
                    except ProviderError as error:
                        results[custom_id] = error
                    except (ValueError, TypeError) as exc:
                        results[custom_id] = ProviderError(
                            "bad_response",
                            f"{where}: not a chat completion ({type(exc).__name__})",
                            raw_text=raw_text,
                        )
                    continue
                error = record.get("error") or {}
                if status:
                    message = _body_message(body) or f"HTTP {status}"
                    results[custom_id] = _status_kind(status, message, {}, raw_text)
                elif error.get("code") in ("batch_expired", "batch_cancelled"):
                    continue  # never ran: left out, so the runner sends it again
                else:
                    message = str(error.get("message") or error or "no answer")
                    results[custom_id] = ProviderError(
                        "provider_error", f"{where}: {message}", raw_text=raw_text
                    )
        return results


def _to_completion(
    completion: Any, encoded: Encoded, text_body: str | None, status: int
) -> Completion:
    """A chat completion (from a live answer or a batch output line) as a ``Completion``."""
    try:
        choice = completion.choices[0]
        content = choice.message.content
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise ProviderError(
            "bad_response",
            f"the server's answer is not a chat completion ({type(exc).__name__}: {exc})",
            status=status,
            raw_text=text_body,
        ) from exc
    if choice.finish_reason == "content_filter":
        raise ProviderError(
            "content_filtered", "the server filtered the answer", raw_text=text_body
        )
    if content is None:
        content = ""
    usage = getattr(completion, "usage", None)
    tokens_in = getattr(usage, "prompt_tokens", None) or encoded.tokens_in
    tokens_out = getattr(usage, "completion_tokens", None)
    if tokens_out is None:
        tokens_out = estimate_text_tokens(content)
    return Completion(
        text=content,
        tokens_in=int(tokens_in),
        tokens_out=max(0, int(tokens_out)),
        finish_reason=choice.finish_reason,
    )


def _safe_text(raw: Any) -> str | None:
    try:
        return raw.text
    except Exception:  # noqa: BLE001 - only used to keep the raw answer for a person
        return None


def _status_error(exc: Any) -> ProviderError:
    status = exc.status_code
    response = getattr(exc, "response", None)
    headers = dict(response.headers) if response is not None else {}
    body_text = None
    try:
        body_text = response.text if response is not None else None
    except Exception:  # noqa: BLE001
        body_text = None
    return _status_kind(status, _error_message(exc, body_text), headers, body_text)


def _status_kind(
    status: int, message: str, headers: dict[str, str], body_text: str | None
) -> ProviderError:
    """An HTTP status (of a live call, or of one line of a batch) as a ``ProviderError``."""
    from synthlake.llm.retry import parse_retry_after

    retry_after = parse_retry_after(headers)
    if status == 429:
        return ProviderError(
            "rate_limited",
            message,
            status=status,
            retry_after=retry_after,
            raw_text=body_text,
            limit_room=_limit_room(headers),
        )
    if status >= 500 or status in _RETRYABLE_STATUS:
        kind = "timeout" if status == 408 else "server_error"
        return ProviderError(
            kind, message, status=status, retry_after=retry_after, raw_text=body_text
        )
    kind = client_error_kind(status, message, _CONTEXT_HINTS)
    return ProviderError(kind, message, status=status, raw_text=body_text)


def _limit_room(headers: dict[str, str]) -> tuple[int, int] | None:
    """(requests, tokens) a 429 says are left of the limits, if it says both."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    try:
        return (
            int(lowered["x-ratelimit-remaining-requests"]),
            int(lowered["x-ratelimit-remaining-tokens"]),
        )
    except (KeyError, ValueError):
        return None


def _body_message(body: Any) -> str | None:
    """The ``error.message`` of an OpenAI error body, if it has one."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return None


def _error_message(exc: Any, body_text: str | None) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(body.get("message"), str):
            return body["message"]
    if body_text:
        try:
            parsed = json.loads(body_text)
            if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
                return str(parsed["error"].get("message", body_text))
        except ValueError:
            pass
        return body_text[:500]
    return str(getattr(exc, "message", exc))

"""Any OpenAI-compatible chat-completions server (vLLM, llama.cpp, Ollama, OpenAI).

The ``openai`` SDK does the HTTP; its retries are switched off (``max_retries=0``) so the
runner's policy is the only one, and the raw response is read (``with_raw_response``) so
that a body that is not a completion is kept as the failure's raw text. Token counts come
from the server's ``usage``; a server that omits it gets the byte-based estimate.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from synthlake.errors import DependencyMissing, LLMError
from synthlake.llm.providers.base import (
    Completion,
    Encoded,
    ProviderError,
    estimate_text_tokens,
    estimate_tokens,
)
from synthlake.llm.types import GenerationParams, Message

log = logging.getLogger(__name__)

_CONTEXT_HINTS = ("context length", "context_length", "maximum context", "too many tokens")
_RETRYABLE_STATUS = {408, 409, 429}


def _import_openai() -> Any:
    try:
        import openai
    except ImportError as exc:  # pragma: no cover - the package is a dependency
        raise DependencyMissing("openai", "the openai LLM provider") from exc
    return openai


class OpenAICompatProvider:
    name = "openai"
    remote = True

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
    def from_settings(cls, spec: Any, settings: Any) -> OpenAICompatProvider:
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
            raise ProviderError("connection_error", f"{type(cause).__name__}: {cause}") from exc
        except openai.APIStatusError as exc:
            raise _status_error(exc) from exc
        text_body = _safe_text(raw)
        try:
            completion = raw.parse()
            choice = completion.choices[0]
            content = choice.message.content
        except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
            raise ProviderError(
                "bad_response",
                f"the server's answer is not a chat completion ({type(exc).__name__}: {exc})",
                status=raw.status_code,
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
    from synthlake.llm.retry import parse_retry_after

    status = exc.status_code
    response = getattr(exc, "response", None)
    headers = dict(response.headers) if response is not None else {}
    body_text = None
    try:
        body_text = response.text if response is not None else None
    except Exception:  # noqa: BLE001
        body_text = None
    message = _error_message(exc, body_text)
    retry_after = parse_retry_after(headers)
    if status == 429:
        return ProviderError(
            "rate_limited", message, status=status, retry_after=retry_after, raw_text=body_text
        )
    if status >= 500 or status in _RETRYABLE_STATUS:
        kind = "timeout" if status == 408 else "server_error"
        return ProviderError(
            kind, message, status=status, retry_after=retry_after, raw_text=body_text
        )
    kind = "client_error"
    if status in (400, 413) and any(h in message.lower() for h in _CONTEXT_HINTS):
        kind = "context_overflow"
    return ProviderError(kind, message, status=status, raw_text=body_text)


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

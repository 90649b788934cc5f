"""synthlake's LLM layer: every LLM call goes through ``LLMRunner`` (see README.md here).

Public names are imported lazily (PEP 562): ``import synthlake.llm`` stays cheap for
``synthlake doctor`` and dbt's parse, and the heavy SDKs load only when a provider runs.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from synthlake.lazy_exports import lazy_getattr

if TYPE_CHECKING:  # pragma: no cover
    from synthlake.llm.cli import ask
    from synthlake.llm.providers import get_provider
    from synthlake.llm.runner import LLMRunner, run_batch
    from synthlake.llm.structured import (
        StructuredOutput,
        acomplete_structured,
        complete_structured,
    )
    from synthlake.llm.types import (
        GenerationParams,
        LLMFailure,
        LLMRequest,
        LLMResponse,
        LLMResult,
        Message,
    )
    from synthlake.prompts import Prompt, load_prompt
    from synthlake.settings import Settings

_EXPORTS = {
    "GenerationParams": "synthlake.llm.types",
    "LLMFailure": "synthlake.llm.types",
    "LLMRequest": "synthlake.llm.types",
    "LLMResponse": "synthlake.llm.types",
    "LLMResult": "synthlake.llm.types",
    "Message": "synthlake.llm.types",
    "LLMRunner": "synthlake.llm.runner",
    "run_batch": "synthlake.llm.runner",
    "get_provider": "synthlake.llm.providers",
    "StructuredOutput": "synthlake.llm.structured",
    "acomplete_structured": "synthlake.llm.structured",
    "complete_structured": "synthlake.llm.structured",
    "ask": "synthlake.llm.cli",
    "Prompt": "synthlake.prompts",
    "load_prompt": "synthlake.prompts",
}

__all__ = [
    "GenerationParams",
    "LLMFailure",
    "LLMRequest",
    "LLMResponse",
    "LLMResult",
    "LLMRunner",
    "Message",
    "Prompt",
    "StructuredOutput",
    "acomplete_structured",
    "ask",
    "check_provider",
    "complete_structured",
    "estimate",
    "get_provider",
    "load_prompt",
    "run_batch",
]


__getattr__ = lazy_getattr(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return sorted(__all__)


def estimate(
    requests: Sequence[Any], settings: Settings, *, stage: str | None = None, spec: Any = None
) -> tuple[int, int, float | None]:
    """Dry run: (prompt tokens, max output tokens, estimated USD) a run would pay for.

    Requests already in the cache (and duplicates within the batch) are free. Output is
    counted at each request's ``max_new_tokens`` (an upper bound); remote prompt sizes
    are estimated from bytes. USD is None when the model has no row in the price table.
    """
    from synthlake.llm.runner import LLMRunner

    tokens_in, tokens_out, usd, _ = LLMRunner(settings, stage=stage, spec=spec).estimate(requests)
    return tokens_in, tokens_out, usd


def check_provider(spec: Any, settings: Settings) -> tuple[bool, str]:
    """For ``synthlake doctor``: can this provider run? Never loads a model or pays.

    local: the model files exist and torch/transformers(/gguf) import; openai: the server
    answers ``GET {base_url}/models`` within 3 s; gemini: an API key is set.
    """
    if spec.provider == "local":
        return _check_local(spec, settings)
    if spec.provider == "openai":
        return _check_openai(spec, settings)
    if spec.provider == "gemini":
        if settings.gemini_api_key is None or not settings.gemini_api_key.get_secret_value():
            return False, "no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)"
        if importlib.util.find_spec("google.genai") is None:
            return False, "the gemini provider needs google-genai: pip install google-genai"
        return True, f"gemini {spec.model}, API key set (not called)"
    return False, f"unknown provider {spec.provider!r}"


def _check_local(spec: Any, settings: Settings) -> tuple[bool, str]:
    from synthlake.errors import LLMError
    from synthlake.lake import Lake
    from synthlake.llm.providers.local import converted_dir, resolve_local_model

    try:
        source = resolve_local_model(spec.model)
    except LLMError as exc:
        return False, str(exc)
    needed = [("torch", "torch"), ("transformers", "transformers")]
    if source.gguf_file:
        needed.append(("gguf", "gguf"))
    for module, package in needed:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            return False, f"pip install {package} ({module} does not import: {exc})"
    if source.gguf_file is None:
        return True, f"local {spec.model} from {source.directory} (not loaded)"
    gguf = source.directory / source.gguf_file
    if (converted_dir(source, Lake.from_settings(settings).cache) / "config.json").is_file():
        return True, f"local {spec.model} from {gguf} (converted weights cached; not loaded)"
    return True, f"local {spec.model} from {gguf} (the first run converts it, ~15-30 s)"


def _check_openai(spec: Any, settings: Settings) -> tuple[bool, str]:
    import httpx

    base_url = (spec.base_url or "https://api.openai.com/v1").rstrip("/")
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if spec.base_url is None and not key:
        return False, "api.openai.com needs OPENAI_API_KEY (or give a base URL after '@')"
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(f"{base_url}/models", headers=headers, timeout=3.0)
    except httpx.HTTPError as exc:
        return False, f"{base_url} unreachable: {type(exc).__name__}: {exc}"
    if response.status_code in (401, 403):
        return False, f"{base_url} refused the API key (HTTP {response.status_code})"
    if response.status_code != 200:
        return False, f"{base_url}/models answered HTTP {response.status_code}"
    try:
        models = [m.get("id") for m in response.json().get("data", [])]
    except (ValueError, AttributeError):
        models = []
    if models and spec.model not in models:
        shown = ", ".join(str(m) for m in models[:5])
        return False, f"{base_url} does not serve {spec.model!r} (it serves: {shown})"
    return True, f"{base_url} answers; model {spec.model}"

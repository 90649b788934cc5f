"""LLM providers: ``local`` (transformers), ``openai`` (compatible servers), ``gemini``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from synthlake.llm.providers.base import (
    RETRYABLE_KINDS,
    Completion,
    Encoded,
    LocalProvider,
    Provider,
    ProviderError,
    RemoteProvider,
    estimate_text_tokens,
    estimate_tokens,
)

if TYPE_CHECKING:
    from synthlake.settings import Settings

__all__ = [
    "RETRYABLE_KINDS",
    "Completion",
    "Encoded",
    "LocalProvider",
    "Provider",
    "ProviderError",
    "RemoteProvider",
    "estimate_text_tokens",
    "estimate_tokens",
    "get_provider",
]


def get_provider(spec: Any, settings: Settings, **options: Any) -> Provider:
    """The provider for an ``LLMSpec`` (``settings.llm_for(stage)``).

    ``options`` go to the provider's ``from_settings`` (e.g. ``base_url=`` for gemini,
    whose spec string takes no URL).
    """
    if spec.provider == "local":
        from synthlake.llm.providers.local import LocalTransformersProvider

        return LocalTransformersProvider.from_settings(spec, settings, **options)
    if spec.provider == "openai":
        from synthlake.llm.providers.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider.from_settings(spec, settings, **options)
    if spec.provider == "gemini":
        from synthlake.llm.providers.gemini import GeminiProvider

        return GeminiProvider.from_settings(spec, settings, **options)
    raise ValueError(f"unknown LLM provider {spec.provider!r}")

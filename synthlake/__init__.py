"""synthlake: fine-tuning datasets for LLMs from public material (dbt + DuckDB + Prefect)."""

from synthlake.errors import SynthlakeError
from synthlake.lake import Lake
from synthlake.settings import LLMSpec, Settings, load_settings

__all__ = ["LLMSpec", "Lake", "Settings", "SynthlakeError", "load_settings"]
__version__ = "0.1.0"

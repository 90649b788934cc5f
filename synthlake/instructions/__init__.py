"""Instruction data after ingest: deduplication, language identification, translation.

The dbt Python models in ``python_models/intermediate/instructions/`` are thin wrappers
around these modules: read the refs, call a function here, return Arrow.
"""

from __future__ import annotations

from synthlake.instructions.dedup import DedupConfig, deduplicate

__all__ = ["DedupConfig", "deduplicate"]

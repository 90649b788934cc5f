"""Instruction data after ingest: deduplication, language identification, translation.

The dbt Python models in ``python_models/intermediate/instructions/`` are thin wrappers
around these modules (CONVENTIONS 6).
"""

from __future__ import annotations

from synthlake.instructions.dedup import DedupConfig, deduplicate

__all__ = ["DedupConfig", "deduplicate"]

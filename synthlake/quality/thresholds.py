"""The quality thresholds of a build, as a one-row table the SQL marts join.

SQL cannot read synthlake's settings (TOML file, environment), so ``int_quality_thresholds``
materializes them at each build; the marts apply them from there and the warehouse keeps
which thresholds a build used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from synthlake.settings import Settings

THRESHOLDS_SCHEMA = pa.schema(
    [
        ("thresholds_id", pa.string()),
        ("judge_min_score", pa.float64()),
        ("toxicity_max_score", pa.float64()),
        ("hallucination_min_similarity", pa.float64()),
        ("hallucination_mean_similarity", pa.float64()),
        ("judge_llm", pa.string()),
        ("judge_dimensions_instructions", pa.list_(pa.string())),
        ("judge_dimensions_news", pa.list_(pa.string())),
        ("detoxify_model", pa.string()),
    ]
)


def thresholds_table(settings: Settings) -> pa.Table:
    spec = settings.llm_for("judge")
    row = {
        "thresholds_id": "current",
        "judge_min_score": float(settings.judge_min_score),
        "toxicity_max_score": float(settings.toxicity_max_score),
        "hallucination_min_similarity": float(settings.news_hallucination_min_similarity),
        "hallucination_mean_similarity": float(settings.news_hallucination_mean_similarity),
        "judge_llm": f"{spec.provider}:{spec.model}",
        "judge_dimensions_instructions": list(settings.judge_dimensions_instructions),
        "judge_dimensions_news": list(settings.judge_dimensions_news),
        "detoxify_model": settings.detoxify_model,
    }
    return pa.Table.from_pylist([row], schema=THRESHOLDS_SCHEMA)

"""The training-export settings of a build, as a one-row table the SQL mart joins.

``exp_train__sft`` decides which QA pairs are fit to train on and which split each lands
in; SQL cannot read synthlake's settings, so ``int_training_thresholds`` materializes the
``training_*`` settings at each build (the warehouse then records which ones a build used,
and ``export/training.py`` copies them into the dataset's manifest and card).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from synthlake.settings import Settings

TRAINING_THRESHOLDS_SCHEMA = pa.schema(
    [
        ("thresholds_id", pa.string()),
        ("min_judge_score", pa.float64()),
        ("max_toxicity", pa.float64()),
        ("require_faithful", pa.bool_()),
        ("require_language_match", pa.bool_()),
        ("unscored", pa.string()),
        ("eval_fraction", pa.float64()),
        ("validation_fraction", pa.float64()),
        ("seed", pa.int64()),
    ]
)


def training_thresholds(settings: Settings) -> dict[str, Any]:
    """The ``training_*`` settings under the column names of ``int_training_thresholds``."""
    return {
        "min_judge_score": float(settings.training_min_judge_score),
        "max_toxicity": float(settings.training_max_toxicity),
        "require_faithful": bool(settings.training_require_faithful),
        "require_language_match": bool(settings.training_require_language_match),
        "unscored": settings.training_unscored,
        "eval_fraction": float(settings.training_eval_fraction),
        "validation_fraction": float(settings.training_validation_fraction),
        "seed": int(settings.training_seed),
    }


def training_thresholds_table(settings: Settings) -> pa.Table:
    row = {"thresholds_id": "current", **training_thresholds(settings)}
    return pa.Table.from_pylist([row], schema=TRAINING_THRESHOLDS_SCHEMA)

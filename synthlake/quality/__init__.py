"""Quality of the QA pairs: the LLM judge (strict 0-5 ratings), its calibration against
labelled pairs, Detoxify toxicity, and the HTML report drawn from the analytics marts.

Imports stay light: torch, detoxify and matplotlib load only inside the functions that
need them.
"""

from __future__ import annotations

from synthlake.quality.calibration import CalibrationReport, calibrate
from synthlake.quality.judge import Judgement, JudgeParseError, judge_pairs, parse_judgement
from synthlake.quality.report import write_report
from synthlake.quality.toxicity import score_pairs, toxicity_status

__all__ = [
    "CalibrationReport",
    "JudgeParseError",
    "Judgement",
    "calibrate",
    "judge_pairs",
    "parse_judgement",
    "score_pairs",
    "toxicity_status",
    "write_report",
]

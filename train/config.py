"""A training run's configuration: one YAML file, validated by a pydantic model.

``train/configs/*.yaml`` hold the shipped ones (``cpu-smoke`` on the bundled SmolLM2-135M,
QLoRA configs for Gemma 2B and Llama 3 8B class models). Unknown keys and bad values are
errors that name the field (``TrainConfigError``), since a typo in ``lora_alpha`` would
otherwise train for hours with a default.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synthlake.errors import SynthlakeError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

Scheduler = Literal["linear", "cosine", "constant", "constant_with_warmup"]
Quantization = Literal["none", "qlora-4bit"]
Overlength = Literal["skip", "truncate"]


class TrainConfigError(SynthlakeError):
    """A training config file is missing, unreadable or invalid; the message names the field."""


class TrainConfig(BaseModel):
    """Everything that decides a training run (and nothing about where the lake is)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("run", min_length=1, description="Short label, part of the run id.")
    model: str = Field(
        ...,
        min_length=1,
        description="'local:smollm2', 'local:/path/to/hf-dir-or.gguf', or a Hugging Face id/path.",
    )
    # LoRA
    r: int = Field(16, ge=1, le=1024, description="LoRA rank.")
    alpha: float = Field(32, gt=0, description="LoRA alpha (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names to adapt, or 'all-linear'."
    )
    # optimisation
    lr: float = Field(2e-4, gt=0, lt=1, description="Peak learning rate.")
    scheduler: Scheduler = "cosine"
    warmup: float = Field(
        0.03, ge=0, description="Warmup: a ratio of the total steps if < 1, else a step count."
    )
    epochs: float = Field(1.0, gt=0, description="Passes over the training split.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many steps (wins).")
    batch_size: int = Field(4, ge=1, description="Sequences per device per step.")
    grad_accumulation: int = Field(4, ge=1, description="Micro-batches per optimizer step.")
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    gradient_checkpointing: bool = False
    # data
    max_seq_length: int = Field(2048, ge=16, description="Tokens per training sequence.")
    packing: bool = Field(False, description="Pack whole examples into max_seq_length rows.")
    overlength: Overlength = Field(
        "skip",
        description="Too-long examples: 'skip', or 'truncate' at the end of the last whole "
        "assistant turn that fits (skipped when none fits). Always reported.",
    )
    data_dir: Path | None = Field(
        None, description="The training export (default: <lake>/exports/training)."
    )
    min_judge_score: float | None = Field(
        None, ge=0, le=5, description="Train only on rows scored at least this (nulls dropped)."
    )
    # hardware
    quantization: Quantization = Field(
        "none", description="'qlora-4bit': NF4 + double quant + bf16 compute, on CUDA only."
    )
    seed: int = 42
    save_steps: int = Field(50, ge=1, description="Checkpoint every this many steps.")
    save_total_limit: int = Field(2, ge=1, description="Checkpoints kept on disk.")
    merge: bool = Field(False, description="Also save the base model with the adapter merged.")

    @field_validator("target_modules")
    @classmethod
    def _check_targets(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, list) and (not value or any(not v.strip() for v in value)):
            raise ValueError("give module names such as [q_proj, v_proj], or 'all-linear'")
        return value

    @model_validator(mode="after")
    def _check_warmup(self) -> TrainConfig:
        if self.warmup >= 1 and self.warmup != int(self.warmup):
            raise ValueError("warmup: a ratio below 1 or a whole number of steps")
        return self

    @property
    def is_local(self) -> bool:
        return self.model.startswith("local:")

    def resolved(self) -> dict[str, Any]:
        """The config as plain JSON-able data (what a run saves and hashes)."""
        return json.loads(self.model_dump_json())

    def fingerprint(self) -> str:
        data = json.dumps(self.resolved(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(data.encode()).hexdigest()


def _format_error(exc: ValidationError, where: str) -> str:
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "config"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field (misspelt?)"
        shown = "" if err["type"] == "missing" else f" = {err.get('input')!r}"
        lines.append(f"  {field}{shown}: {message}")
    return f"invalid training config {where}:\n" + "\n".join(lines)


def parse_config(data: Any, *, where: str = "(given)", **overrides: Any) -> TrainConfig:
    """Validate a mapping (a YAML file's content) plus overrides into a ``TrainConfig``."""
    if not isinstance(data, dict):
        raise TrainConfigError(f"training config {where} must be a mapping of fields")
    try:
        return TrainConfig(**{**data, **{k: v for k, v in overrides.items() if v is not None}})
    except ValidationError as exc:
        raise TrainConfigError(_format_error(exc, where)) from None


def load_config(path: Path | str, **overrides: Any) -> TrainConfig:
    """Read a YAML config (a bare name means ``train/configs/<name>.yaml``)."""
    path = Path(path)
    if not path.suffix and not path.exists():
        path = CONFIG_DIR / f"{path}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise TrainConfigError(f"no training config at {path} (shipped: {shipped})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TrainConfigError(f"cannot read training config {path}: {exc}") from None
    return parse_config(data or {}, where=str(path), **overrides)

"""Fine-tuning (LoRA / QLoRA) on the training export, and the base-vs-tuned evaluation.

torch, transformers, peft and bitsandbytes are imported inside the functions that need
them, so importing this package (the CLI does) stays cheap.
"""

from synthlake.train.config import TrainConfig, TrainConfigError, load_config, parse_config
from synthlake.train.data import (
    ChatExample,
    EncodeReport,
    TrainingDataError,
    encode_examples,
    read_export,
)
from synthlake.train.evaluate import evaluate, sweep
from synthlake.train.lora import TrainingError, TrainResult, merge_adapter, train

__all__ = [
    "ChatExample",
    "EncodeReport",
    "TrainConfig",
    "TrainConfigError",
    "TrainResult",
    "TrainingDataError",
    "TrainingError",
    "encode_examples",
    "evaluate",
    "load_config",
    "merge_adapter",
    "parse_config",
    "read_export",
    "sweep",
    "train",
]

"""LoRA / QLoRA fine-tuning with peft and the ``transformers`` Trainer.

``train(config, settings)`` reads the training export, encodes it with the model's chat
template (loss on assistant tokens only, ``train/data.py``), wraps the base model in a
peft LoRA adapter and trains. On a CUDA machine with ``quantization: qlora-4bit`` the base
model is loaded in 4 bits (bitsandbytes NF4, double quantization, bf16 compute) and
prepared for k-bit training; everywhere else it is plain LoRA on full-precision weights
(float32 on the CPU). A ``qlora-4bit`` config on a machine without CUDA falls back to
plain LoRA, logs it, and records ``quantization_used: none`` in ``run.json``.

Everything a run produces lives under ``<lake>/runs/<run-id>/``::

    config.json       the resolved config (every default filled in)
    run.json          status, base model + fingerprint, data snapshot id, counts, the
                      over-length report, device, steps, timings, final losses
    loss.jsonl        one JSON line per optimizer step: step, epoch, loss, lr, grad_norm
    checkpoints/      Trainer checkpoints (adapter, optimizer, scheduler, RNG states)
    adapter/          the final adapter (adapter_config.json + safetensors) + tokenizer
    merged/           with ``merge: true``: the base model with the adapter merged in

Why the Trainer and not a hand loop or TRL's ``SFTTrainer``: the Trainer already does
gradient accumulation, the schedulers, bf16, gradient checkpointing and - what matters for
resuming - checkpoints that hold optimizer, scheduler, RNG and data-order state, tested
upstream. ``SFTTrainer`` would do the chat templating too, but its assistant-only loss
needs ``{% generation %}`` markers in the template (SmolLM2, Gemma and Llama 3 have none)
and it reports nothing about over-length rows; ``train/data.py`` does those, and the plain
Trainer consumes its token ids.

Resume (``resume=True`` with the same run id): training continues from the newest
checkpoint; ``loss.jsonl`` is first cut back to that checkpoint's step, so the steps that
were logged after it and are now replayed appear once. A run resumes only with the same
config and the same data snapshot.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthlake.train.config import TrainConfig
from synthlake.train.data import (
    Collator,
    encode_examples,
    filter_by_score,
    pack,
    read_export,
    unpacked,
)

from synthlake.errors import DependencyMissing, SynthlakeError
from synthlake.lake import Lake, new_run_id
from synthlake.model_cache import model_cache_dir

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

LOSS_LOG = "loss.jsonl"
RUN_FILE = "run.json"
CONFIG_FILE = "config.json"


class TrainingError(SynthlakeError):
    """A training run cannot start or continue (no data, a changed config on resume...)."""


@dataclass(slots=True)
class TrainResult:
    run_id: str
    run_dir: Path
    adapter_dir: Path
    steps: int
    info: dict[str, Any]


# --- the base model -----------------------------------------------------------------------


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise DependencyMissing("torch", "fine-tuning") from exc
    return torch


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise DependencyMissing("transformers", "fine-tuning") from exc
    return transformers


def _peft() -> Any:
    try:
        import peft
    except ImportError as exc:
        raise DependencyMissing("peft", "LoRA fine-tuning") from exc
    return peft


def base_model_location(model: str, cache_root: Path) -> tuple[str, str, bool]:
    """(what ``from_pretrained`` reads, a fingerprint, whether it is local files only).

    ``local:...`` goes through the local LLM provider's resolution; a GGUF file (the
    bundled SmolLM2) is dequantized once by the provider's loader, which caches the
    converted weights in the per-user model cache ``cache_root`` (``model_cache_dir``,
    shared by every lake); this reads that folder.
    """
    if not model.startswith("local:"):
        return model, model, Path(model).expanduser().is_dir()
    from synthlake.llm.providers.local import converted_weights, resolve_local_model

    source = resolve_local_model(model.removeprefix("local:"))
    if source.gguf_file is None:
        return str(source.directory), source.fingerprint, True
    target = converted_weights(source, cache_root)
    if not (target / "config.json").is_file():
        raise TrainingError(f"could not cache the converted weights of {model} in {target}")
    return str(target), source.fingerprint, True


def quantization_config(config: TrainConfig, *, cuda: bool, bf16: bool | None = None) -> Any:
    """bitsandbytes 4-bit NF4 with double quantization and bf16 compute, or None.

    None unless the config asks for ``qlora-4bit`` *and* CUDA is present (bitsandbytes'
    4-bit kernels are CUDA-only). bitsandbytes is imported here, lazily: it is the
    project's optional ``gpu`` extra.
    """
    if config.quantization != "qlora-4bit":
        return None
    if not cuda:
        log.warning("quantization qlora-4bit needs CUDA; none here: plain LoRA instead")
        return None
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise DependencyMissing(
            "bitsandbytes", "QLoRA (quantization: qlora-4bit; the `gpu` extra)"
        ) from exc
    torch = _torch()
    if bf16 is None:
        bf16 = torch.cuda.is_bf16_supported()
    compute = torch.bfloat16 if bf16 else torch.float16
    return _transformers().BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
    )


def load_tokenizer(where: str, local_only: bool) -> Any:
    tokenizer = _transformers().AutoTokenizer.from_pretrained(where, local_files_only=local_only)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(config: TrainConfig, cache_root: Path, *, quantize: bool = True) -> dict[str, Any]:
    """The base model (fresh, trainable copy), its tokenizer and how it was loaded."""
    torch, transformers = _torch(), _transformers()
    cuda = torch.cuda.is_available()
    where, fingerprint, local_only = base_model_location(config.model, cache_root)
    qconfig = quantization_config(config, cuda=cuda) if quantize else None
    bf16 = cuda and torch.cuda.is_bf16_supported()
    kwargs: dict[str, Any] = {"local_files_only": local_only}
    if qconfig is not None:
        kwargs |= {"quantization_config": qconfig, "device_map": {"": 0}, "dtype": torch.bfloat16}
    else:
        kwargs["dtype"] = torch.bfloat16 if bf16 else torch.float32
    started = time.monotonic()
    tokenizer = load_tokenizer(where, local_only)
    model = transformers.AutoModelForCausalLM.from_pretrained(where, **kwargs)
    if qconfig is None and cuda:
        model.to("cuda")
    log.info("loaded base %s from %s in %.1f s", config.model, where, time.monotonic() - started)
    return {
        "model": model,
        "tokenizer": tokenizer,
        "where": where,
        "fingerprint": fingerprint,
        "device": "cuda" if cuda else "cpu",
        "quantization_used": "qlora-4bit" if qconfig is not None else "none",
        "bf16": bf16,
    }


def lora_config(config: TrainConfig) -> Any:
    return _peft().LoraConfig(
        r=config.r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=config.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )


# --- logging and checkpoints -------------------------------------------------------------


def _loss_callback(path: Path) -> Any:
    transformers = _transformers()

    class LossLog(transformers.TrainerCallback):
        """Appends one JSON line per optimizer step (the Trainer logs every step)."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not logs or "loss" not in logs:
                return
            row = {
                "step": int(state.global_step),
                "epoch": logs.get("epoch"),
                "loss": float(logs["loss"]),
                "lr": logs.get("learning_rate"),
                "grad_norm": logs.get("grad_norm"),
                "time": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            with path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")

    return LossLog()


def read_loss_log(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / LOSS_LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _cut_loss_log(run_dir: Path, step: int) -> None:
    """Keep the lines of steps up to ``step`` (the checkpoint training resumes from)."""
    rows = [r for r in read_loss_log(run_dir) if r["step"] <= step]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    (run_dir / LOSS_LOG).write_text(text, encoding="utf-8")


def last_checkpoint(run_dir: Path) -> Path | None:
    checkpoints = [
        p
        for p in (run_dir / "checkpoints").glob("checkpoint-*")
        if p.is_dir() and p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()
    ]
    return max(checkpoints, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)


class _Rows:
    """The encoded rows as the map-style dataset the Trainer wants."""

    def __init__(self, rows: list[dict[str, list[int]]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.rows[index]


# --- training -----------------------------------------------------------------------------


def data_dir_for(config: TrainConfig, settings: Settings) -> Path:
    if config.data_dir is not None:
        return config.data_dir
    if getattr(settings, "train_data_dir", None):
        return settings.train_data_dir
    return Lake.from_settings(settings).exports / "training"


def _prepare_run_dir(
    config: TrainConfig, runs: Path, run_id: str | None, resume: bool
) -> tuple[str, Path]:
    if resume:
        if not run_id:
            raise TrainingError("resume needs the run id of the run to continue")
        run_dir = runs / run_id
        saved = run_dir / CONFIG_FILE
        if not saved.is_file():
            raise TrainingError(f"no training run to resume at {run_dir}")
        if json.loads(saved.read_text(encoding="utf-8")) != config.resolved():
            raise TrainingError(
                f"run {run_id} was started with another config ({saved}); resume it with the "
                "same config or start a new run"
            )
        return run_id, run_dir
    run_id = run_id or f"{config.name}-{new_run_id()}"
    run_dir = runs / run_id
    if run_dir.exists():
        raise TrainingError(f"{run_dir} exists: pick another run id, or resume it")
    run_dir.mkdir(parents=True)
    _write_json(run_dir / CONFIG_FILE, config.resolved())
    return run_id, run_dir


def train(
    config: TrainConfig,
    settings: Settings,
    *,
    run_id: str | None = None,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train one adapter; see the module docstring for what lands in the run folder."""
    torch, transformers = _torch(), _transformers()
    lake = Lake.from_settings(settings)
    data_dir = data_dir_for(config, settings)
    export = read_export(data_dir, splits=("train", "validation"))
    rows = filter_by_score(export.split("train"), config.min_judge_score)
    if not rows:
        raise TrainingError(
            f"no training rows in {data_dir} with judge_score >= {config.min_judge_score}"
        )
    run_id, run_dir = _prepare_run_dir(config, lake.runs, run_id, resume)
    info_path = run_dir / RUN_FILE
    info: dict[str, Any] = (
        json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    )
    if resume and info.get("snapshot_id") not in (None, export.snapshot_id):
        raise TrainingError(
            f"the training data changed since run {run_id} started (snapshot "
            f"{info['snapshot_id'][:16]} -> {export.snapshot_id[:16]}); start a new run"
        )

    transformers.set_seed(config.seed)
    base = load_base(config, model_cache_dir(settings))
    model, tokenizer = base["model"], base["tokenizer"]
    encoded, report = encode_examples(tokenizer, rows, config.max_seq_length, config.overlength)
    if not encoded:
        raise TrainingError(
            f"none of the {len(rows)} training rows fits max_seq_length={config.max_seq_length}"
        )
    validation, _ = encode_examples(
        tokenizer, export.split("validation"), config.max_seq_length, config.overlength
    )
    shape = pack if config.packing else (lambda enc, _n: unpacked(enc))
    train_rows = shape(encoded, config.max_seq_length)
    eval_rows = shape(validation, config.max_seq_length) if validation else None

    # No KV cache while training: it is useless there, and with one transformers does not
    # read packed rows' restarting position ids as separate sequences.
    model.config.use_cache = False
    peft = _peft()
    if base["quantization_used"] != "none":
        model = peft.prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.gradient_checkpointing
        )
    elif config.gradient_checkpointing:
        model.enable_input_require_grads()
    model = peft.get_peft_model(model, lora_config(config))
    trainable, total = model.get_nb_trainable_parameters()

    info.update(
        {
            "run_id": run_id,
            "status": "running",
            "base_model": config.model,
            "base_model_path": base["where"],
            "base_fingerprint": base["fingerprint"],
            "data_dir": str(data_dir),
            "snapshot_id": export.snapshot_id,
            "train_rows": len(rows),
            "train_sequences": len(train_rows),
            "validation_rows": len(validation),
            "min_judge_score": config.min_judge_score,
            "encode": report.as_dict(),
            "device": base["device"],
            "quantization_requested": config.quantization,
            "quantization_used": base["quantization_used"],
            "trainable_parameters": trainable,
            "total_parameters": total,
            "started_at": info.get("started_at") or datetime.now(UTC).isoformat(),
        }
    )
    _write_json(info_path, info)

    args = transformers.TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accumulation,
        learning_rate=config.lr,
        lr_scheduler_type=config.scheduler,
        warmup_steps=config.warmup,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        gradient_checkpointing=config.gradient_checkpointing,
        logging_steps=1,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        eval_strategy="no",
        report_to="none",
        seed=config.seed,
        bf16=base["bf16"],
        use_cpu=base["device"] == "cpu",
        optim="paged_adamw_8bit" if base["quantization_used"] != "none" else "adamw_torch",
        remove_unused_columns=False,
        label_names=["labels"],
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=_Rows(train_rows),
        eval_dataset=_Rows(eval_rows) if eval_rows else None,
        data_collator=Collator(tokenizer.pad_token_id),
        callbacks=[_loss_callback(run_dir / LOSS_LOG), *callbacks],
    )
    checkpoint = last_checkpoint(run_dir) if resume else None
    if resume:
        step = int(checkpoint.name.split("-")[-1]) if checkpoint else 0
        _cut_loss_log(run_dir, step)
        log.info("resuming run %s from step %d", run_id, step)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    started = time.monotonic()
    first_step = int(checkpoint.name.split("-")[-1]) if checkpoint else 0
    try:
        output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except BaseException as exc:
        info.update({"status": "interrupted", "error": f"{type(exc).__name__}: {exc}"})
        _write_json(info_path, info)
        raise
    seconds = time.monotonic() - started
    steps = int(trainer.state.global_step)
    adapter_dir = run_dir / "adapter"
    model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    if eval_rows:
        info["validation_loss"] = float(trainer.evaluate()["eval_loss"])
    losses = [r["loss"] for r in read_loss_log(run_dir)]
    info.update(
        {
            "status": "done",
            "error": None,
            "steps": steps,
            "train_loss": float(output.training_loss),
            "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None,
            "seconds": round(seconds, 2),
            "steps_per_second": round((steps - first_step) / seconds, 4) if seconds else None,
            "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)
            if torch.cuda.is_available()
            else None,
            "adapter_dir": str(adapter_dir),
            "finished_at": datetime.now(UTC).isoformat(),
        }
    )
    _write_json(info_path, info)
    if config.merge:
        info["merged_dir"] = str(merge_adapter(run_dir, settings))
        _write_json(info_path, info)
    log.info(
        "train %s: %d steps in %.1f s (%.2f steps/s), loss %s -> %s; adapter %s",
        run_id,
        steps,
        seconds,
        info["steps_per_second"] or 0,
        info["first_loss"],
        info["last_loss"],
        adapter_dir,
    )
    return TrainResult(run_id, run_dir, adapter_dir, steps, info)


def load_run(run_dir: Path) -> tuple[TrainConfig, dict[str, Any]]:
    """A finished run's config and ``run.json``."""
    if not (run_dir / CONFIG_FILE).is_file():
        raise TrainingError(f"no training run at {run_dir}")
    config = TrainConfig(**json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8")))
    info = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    if info.get("status") != "done" or not (run_dir / "adapter").is_dir():
        raise TrainingError(f"run {run_dir.name} has not finished (status {info.get('status')})")
    return config, info


def load_adapted(run_dir: Path, settings: Settings, *, merge: bool = False) -> tuple[Any, Any]:
    """A fresh base model with the run's adapter loaded (on full-precision weights)."""
    config, _ = load_run(run_dir)
    base = load_base(config, model_cache_dir(settings), quantize=False)
    model = _peft().PeftModel.from_pretrained(base["model"], str(run_dir / "adapter"))
    if merge:
        model = model.merge_and_unload()
    model.eval()
    return model, base["tokenizer"]


def merge_adapter(run_dir: Path, settings: Settings) -> Path:
    """The base model with the adapter merged in, saved as a plain HF model dir.

    The merge is done on full-precision weights (never into 4-bit ones), so a QLoRA
    adapter merges without the quantization error. ``local:<run>/merged`` then loads it
    through the local LLM provider like any model.
    """
    model, tokenizer = load_adapted(run_dir, settings, merge=True)
    target = run_dir / "merged"
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    log.info("merged adapter of %s into %s", run_dir.name, target)
    return target

"""cpu-smoke: LoRA on the real SmolLM2-135M for a few steps, the adapter, resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from synthlake.train.config import load_config
from synthlake.train.data import ChatExample, Collator, encode_example, pack, unpacked
from synthlake.train.lora import TrainingError, load_adapted, merge_adapter, read_loss_log, train

from synthlake.settings import Settings
from tests.fixtures.training_export import row, write_export

SYSTEM = "Answer."
# A tiny set repeated: the loss must fall fast on it.
REPEATED = [
    row(f"r{i}-{k}", q, a, system=SYSTEM, language=lang)
    for k in range(4)
    for i, (q, a, lang) in enumerate(
        [
            ("Secret word?", "Pineapple zebra.", "en"),
            ("Parola segreta?", "Ananas zebra.", "it"),
        ]
    )
]


def smoke_config(**overrides: Any):  # noqa: ANN201
    fields = {"max_steps": 6, "batch_size": 2, "lr": 3e-3, "max_seq_length": 64} | overrides
    return load_config("cpu-smoke", **fields)


def export_dir(settings: Settings, rows: list[dict] | None = None) -> Path:
    return write_export(settings.lake_path / "exports" / "training", rows)


def test_loss_falls_and_the_adapter_changes_the_answer(
    train_settings: Settings, tmp_path: Path
) -> None:
    export_dir(train_settings, REPEATED)
    result = train(smoke_config(save_steps=100), train_settings, run_id="smoke")
    run_dir = train_settings.lake_path / "runs" / "smoke"
    assert result.run_dir == run_dir and result.steps == 6

    log = read_loss_log(run_dir)
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    losses = [r["loss"] for r in log]
    assert sum(losses[-2:]) / 2 < losses[0] * 0.7, losses

    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "done" and info["steps"] == 6
    assert info["snapshot_id"] == "snap-test-1"
    assert info["device"] == "cpu" and info["quantization_used"] == "none"
    assert info["encode"]["kept"] == 8 and info["encode"]["overlength"] == 0
    assert info["steps_per_second"] > 0
    assert json.loads((run_dir / "config.json").read_text())["max_steps"] == 6
    assert (run_dir / "adapter" / "adapter_config.json").is_file()
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()

    # the adapter loads back from disk, and changes the model
    import torch

    model, tokenizer = load_adapted(run_dir, train_settings)
    example = ChatExample.model_validate(REPEATED[0])
    encoded = encode_example(tokenizer, example)
    ids = torch.tensor([encoded.input_ids])
    labels = torch.tensor([encoded.labels])
    prompt = tokenizer.apply_chat_template(
        example.prompt_messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        tuned_loss = model(input_ids=ids, labels=labels).loss.item()
        tuned = model.generate(**prompt, max_new_tokens=6, do_sample=False)
        with model.disable_adapter():
            base_loss = model(input_ids=ids, labels=labels).loss.item()
            base = model.generate(**prompt, max_new_tokens=6, do_sample=False)
    assert tuned_loss < base_loss * 0.5, (tuned_loss, base_loss)
    n = prompt["input_ids"].shape[1]
    assert tokenizer.decode(tuned[0, n:]) != tokenizer.decode(base[0, n:])
    assert "zebra" in tokenizer.decode(tuned[0, n:])  # an answer it was trained on

    # optional merge: a plain model dir the local LLM provider loads, same logits
    from synthlake.llm.providers.local import LocalTransformersProvider

    merged = merge_adapter(run_dir, train_settings)
    plain = LocalTransformersProvider(str(merged), cache_root=tmp_path / "cache").load().model
    with torch.no_grad():
        expected = model(input_ids=ids).logits
        got = plain(input_ids=ids).logits
    assert torch.allclose(got, expected, atol=1e-3), (got - expected).abs().max()


def test_packed_rows_attend_only_within_each_example(train_settings: Settings) -> None:
    """Packing (position ids, no mask) gives each example the loss it has on its own."""
    import torch
    from synthlake.train.lora import load_base

    base = load_base(smoke_config(), train_settings.lake_path / "cache")
    model, tokenizer = base["model"], base["tokenizer"]
    examples = [ChatExample.model_validate(r) for r in REPEATED[:3]]
    encoded = [encode_example(tokenizer, e) for e in examples]
    packed = Collator(tokenizer.pad_token_id)(pack(encoded, 4096))
    assert packed["input_ids"].shape[0] == 1 and "attention_mask" not in packed

    def summed_loss(batch: dict) -> float:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        logits = model(**inputs, use_cache=False).logits  # as in training (see train())
        shift = batch["labels"][:, 1:].clone()
        # the first token of each packed example must not be predicted from the previous one
        flat = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), shift.reshape(-1), reduction="sum"
        )
        return flat.item()

    with torch.no_grad():
        together = summed_loss(packed)
        alone = sum(summed_loss(Collator(tokenizer.pad_token_id)(unpacked([e]))) for e in encoded)
    assert together == pytest.approx(alone, rel=1e-4)


class Crash(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_step_with_a_continuous_log(
    train_settings: Settings,
) -> None:
    import transformers

    class CrashAt(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
            if state.global_step == 5:
                raise Crash("killed at step 5")

    export_dir(train_settings, REPEATED)
    config = smoke_config(save_steps=2, packing=True)  # packed rows through the Trainer too
    with pytest.raises(Crash):
        train(config, train_settings, run_id="resumable", callbacks=[CrashAt()])
    run_dir = train_settings.lake_path / "runs" / "resumable"
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "interrupted" and "killed at step 5" in info["error"]
    assert [r["step"] for r in read_loss_log(run_dir)] == [1, 2, 3, 4]
    assert (run_dir / "checkpoints" / "checkpoint-4").is_dir()
    before = {r["step"]: r["loss"] for r in read_loss_log(run_dir)}

    # a new run may not take the name; a resume with another config is refused
    with pytest.raises(TrainingError, match="exists"):
        train(config, train_settings, run_id="resumable")
    with pytest.raises(TrainingError, match="another config"):
        train(
            smoke_config(save_steps=2, packing=True, lr=1e-4),
            train_settings,
            run_id="resumable",
            resume=True,
        )

    result = train(config, train_settings, run_id="resumable", resume=True)
    assert result.steps == 6
    log = read_loss_log(run_dir)
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert {r["step"]: r["loss"] for r in log[:4]} == before  # kept, not replayed
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "done" and info["error"] is None
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert info["train_sequences"] < info["train_rows"] == 8  # packed


def test_resume_refuses_changed_data(train_settings: Settings) -> None:
    import transformers

    class StopAt(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
            if state.global_step == 1:
                raise Crash("stop")

    folder = export_dir(train_settings, REPEATED)
    config = smoke_config(max_steps=2, save_steps=1)
    with pytest.raises(Crash):
        train(config, train_settings, run_id="changing", callbacks=[StopAt()])
    write_export(folder, REPEATED[:2], snapshot="snap-test-2")
    with pytest.raises(TrainingError, match="training data changed"):
        train(config, train_settings, run_id="changing", resume=True)


def test_no_row_fits_is_an_error_naming_the_length(train_settings: Settings) -> None:
    export_dir(train_settings, [row("long", "word " * 200, "A.")])
    with pytest.raises(TrainingError, match="fits max_seq_length=64"):
        train(smoke_config(), train_settings, run_id="too-long")

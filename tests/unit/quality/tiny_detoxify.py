"""A tiny Detoxify checkpoint in Detoxify's own format, built offline for tests.

Detoxify's real checkpoints are downloaded from GitHub at run time, which fails here. This
saves a small BertConfig + BertTokenizer (a 24-word vocabulary) to a directory and
``torch.save``s ``{"config": ..., "state_dict": ...}`` as Detoxify's training code does, so
``Detoxify(checkpoint=..., huggingface_config_path=...)`` loads it through its real path.
"""

from __future__ import annotations

from pathlib import Path

CLASSES = [
    "toxicity",
    "severe_toxicity",
    "obscene",
    "identity_attack",
    "insult",
    "threat",
    "sexual_explicit",
]
VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "is", "you", "idiot", "good",
    "day", "nice", "bad", "hello", "world", "stupid", "ciao", "mondo", "paris", "capital",
    "of", "france", "what",
]  # fmt: skip


def build_tiny_detoxify(
    directory: Path,
    *,
    model_type: str | None = None,
    classes: list[str] | None = None,
    bias: float = 0.0,
) -> tuple[Path, Path]:
    """(checkpoint file, HF config dir). ``model_type`` defaults to the config dir itself;
    pass a hub name (e.g. 'bert-base-uncased') to mimic a real checkpoint. A negative
    ``bias`` on the classifier makes every score small (clean text), as real ones mostly are.
    """
    import torch
    import transformers

    config_dir = directory / "bert-tiny"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    transformers.BertTokenizer(str(config_dir / "vocab.txt")).save_pretrained(config_dir)
    labels = classes or CLASSES
    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=len(labels),
        initializer_range=0.8,  # large weights: scores that differ from text to text
    )
    config.save_pretrained(config_dir)
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.bias.fill_(bias)
    checkpoint = directory / "tiny-detoxify.ckpt"
    torch.save(
        {
            "config": {
                "arch": {
                    "args": {
                        "model_type": model_type or str(config_dir),
                        "model_name": "BertForSequenceClassification",
                        "tokenizer_name": "BertTokenizer",
                        "num_classes": len(labels),
                    }
                },
                "dataset": {"args": {"classes": labels}},
            },
            "state_dict": model.state_dict(),
        },
        checkpoint,
    )
    return checkpoint, config_dir


XLMR_PIECES = [
    "▁the", "▁a", "▁is", "▁you", "▁idiot", "▁good", "▁day", "▁nice", "▁bad", "▁hello",
    "▁world", "▁stupid", "▁ciao", "▁mondo", "▁paris", "▁capital", "▁of", "▁france", "▁what",
]  # fmt: skip


def build_tiny_multilingual(directory: Path, *, bias: float = 0.0) -> tuple[Path, Path]:
    """(checkpoint file, base dir) shaped like Detoxify's ``multilingual`` release: the
    checkpoint names ``xlm-roberta-base`` as its base model, and the base dir holds only
    what the pull fetches from the hub (``config.json``, ``tokenizer.json``) for a tiny
    XLM-RoBERTa with a 24-piece Unigram vocabulary."""
    import torch
    import transformers

    base = directory / "xlm-roberta-tiny"
    base.mkdir(parents=True, exist_ok=True)
    specials = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab = specials + [(p, -float(i + 1)) for i, p in enumerate(XLMR_PIECES)] + [("<mask>", 0.0)]
    transformers.XLMRobertaTokenizer(vocab=vocab).save_pretrained(base)
    for extra in base.iterdir():
        if extra.name != "tokenizer.json":
            extra.unlink()
    config = transformers.XLMRobertaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=66,
        num_labels=len(CLASSES),
        initializer_range=0.8,
    )
    config.save_pretrained(base)
    torch.manual_seed(0)
    model = transformers.XLMRobertaForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.out_proj.bias.fill_(bias)
    checkpoint = directory / "tiny-multilingual.ckpt"
    torch.save(
        {
            "config": {
                "arch": {
                    "args": {
                        "model_type": "xlm-roberta-base",
                        "model_name": "XLMRobertaForSequenceClassification",
                        "tokenizer_name": "XLMRobertaTokenizer",
                        "num_classes": len(CLASSES),
                    }
                },
                "dataset": {"args": {"classes": CLASSES}},
            },
            "state_dict": model.state_dict(),
        },
        checkpoint,
    )
    return checkpoint, base

"""Loss only on assistant tokens, with the model's own chat template; over-length rows."""

from __future__ import annotations

from typing import Any

import pytest
from synthlake.train.data import (
    IGNORE_INDEX,
    ChatExample,
    Collator,
    TrainingDataError,
    encode_example,
    encode_examples,
    pack,
)

from tests.fixtures.training_export import row

MULTI = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi?"},
    {"role": "assistant", "content": "Hello there."},
    {"role": "user", "content": "And then?"},
    {"role": "assistant", "content": "Goodbye."},
]

GEMMA_LIKE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + m['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


def trained_text(tokenizer: Any, ids: list[int], labels: list[int]) -> str:
    return tokenizer.decode([i for i, lab in zip(ids, labels, strict=True) if lab != IGNORE_INDEX])


def test_single_turn_labels_exactly_the_answer_and_end_marker(tokenizer: Any) -> None:
    example = ChatExample.model_validate(row("en-1", "What colour is the sky?", "Blue."))
    encoded = encode_example(tokenizer, example)
    text = tokenizer.decode(encoded.input_ids)
    assert text.endswith("<|im_start|>assistant\nBlue.<|im_end|>\n")
    assert trained_text(tokenizer, encoded.input_ids, encoded.labels) == "Blue.<|im_end|>\n"
    # everything before the answer is masked, everything from it on is trained
    first = next(k for k, lab in enumerate(encoded.labels) if lab != IGNORE_INDEX)
    assert all(lab == IGNORE_INDEX for lab in encoded.labels[:first])
    assert encoded.labels[first:] == encoded.input_ids[first:]
    assert tokenizer.decode(encoded.input_ids[:first]).endswith("<|im_start|>assistant\n")


def test_multi_turn_trains_every_assistant_turn_and_no_user_turn(tokenizer: Any) -> None:
    encoded = encode_example(tokenizer, MULTI)
    assert trained_text(tokenizer, encoded.input_ids, encoded.labels) == (
        "Hello there.<|im_end|>\nGoodbye.<|im_end|>\n"
    )
    masked = tokenizer.decode(
        [i for i, lab in zip(encoded.input_ids, encoded.labels, strict=True) if lab == -100]
    )
    assert "Be brief." in masked and "And then?" in masked and "Hi?" in masked
    assert "Hello" not in masked and "Goodbye" not in masked


def test_another_template_without_system_role_folds_the_system_turn(tokenizer: Any) -> None:
    tokenizer.chat_template = GEMMA_LIKE
    encoded = encode_example(tokenizer, MULTI)
    text = tokenizer.decode(encoded.input_ids)
    assert "<start_of_turn>user\nBe brief.\n\nHi?<end_of_turn>" in text
    assert trained_text(tokenizer, encoded.input_ids, encoded.labels) == (
        "Hello there.<end_of_turn>\nGoodbye.<end_of_turn>\n"
    )


def test_no_chat_template_uses_the_plain_transcript(tokenizer: Any) -> None:
    tokenizer.chat_template = None
    encoded = encode_example(tokenizer, MULTI[1:3])
    assert tokenizer.decode(encoded.input_ids) == "user: Hi?\nassistant: Hello there.\n"
    assert trained_text(tokenizer, encoded.input_ids, encoded.labels).strip() == "Hello there."


def test_template_that_is_not_a_concatenation_is_refused(tokenizer: Any) -> None:
    tokenizer.chat_template = (
        "{{ messages | length }} turns\n{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    )
    with pytest.raises(TrainingDataError, match="concatenation of its turns"):
        encode_example(tokenizer, MULTI)


def _examples() -> list[ChatExample]:
    long_question = "Please repeat: " + "many words here " * 40
    return [
        ChatExample.model_validate(row("short", "Hi?", "Hello.")),
        ChatExample.model_validate(row("long-single", long_question, "The answer.")),
        ChatExample.model_validate(
            row(
                "long-multi",
                "Hi?",
                "Hello.",
                extra_turns=[
                    {"role": "user", "content": long_question},
                    {"role": "assistant", "content": "Late answer."},
                ],
            )
        ),
    ]


def test_overlength_rows_are_skipped_and_named(tokenizer: Any) -> None:
    encoded, report = encode_examples(tokenizer, _examples(), 64, "skip")
    assert [e.id for e in encoded] == ["short"]
    assert report.overlength == 2
    assert [(s["id"], s["reason"]) for s in report.skipped] == [
        ("long-single", "too_long"),
        ("long-multi", "too_long"),
    ]
    assert all(s["tokens"] > 64 for s in report.skipped)
    assert report.as_dict()["read"] == 3 and report.as_dict()["kept"] == 1


def test_truncate_keeps_whole_answers_or_skips(tokenizer: Any) -> None:
    encoded, report = encode_examples(tokenizer, _examples(), 64, "truncate")
    by_id = {e.id: e for e in encoded}
    assert set(by_id) == {"short", "long-multi"}  # long-single has no answer that fits
    cut = by_id["long-multi"]
    assert len(cut.input_ids) <= 64
    # the first answer survives whole (with its end marker); the late one is gone
    assert trained_text(tokenizer, cut.input_ids, cut.labels) == "Hello.<|im_end|>\n"
    assert report.truncated == [
        {
            "id": "long-multi",
            "tokens": report.truncated[0]["tokens"],
            "kept_tokens": len(cut.labels),
        }
    ]
    assert report.truncated[0]["tokens"] > 64
    assert [s["id"] for s in report.skipped] == ["long-single"]


def test_packing_keeps_examples_whole_with_restarting_positions(tokenizer: Any) -> None:
    rows = [
        ChatExample.model_validate(row(f"r{i}", f"Question {i}?", f"Answer {i}.")) for i in range(5)
    ]
    encoded, _ = encode_examples(tokenizer, rows, 512)
    size = len(encoded[0].input_ids)
    packed = pack(encoded, 2 * size + 1)
    assert [len(p["input_ids"]) for p in packed] == [2 * size, 2 * size, size]
    assert packed[0]["position_ids"] == list(range(size)) * 2
    assert packed[0]["labels"] == encoded[0].labels + encoded[1].labels
    assert sum(len(p["input_ids"]) for p in packed) == sum(len(e.input_ids) for e in encoded)


def test_collator_pads_right_with_ignored_labels() -> None:
    batch = Collator(pad_id=0)(
        [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    packed = Collator(pad_id=0)(
        [
            {"input_ids": [1, 2, 3], "labels": [1, 2, 3], "position_ids": [0, 1, 0]},
            {"input_ids": [4], "labels": [4], "position_ids": [0]},
        ]
    )
    assert "attention_mask" not in packed
    assert packed["position_ids"].tolist() == [[0, 1, 0], [0, 0, 1]]

"""The training export read back, and turned into token ids with loss on assistant turns only.

``read_export`` reads ``train.jsonl`` / ``validation.jsonl`` / ``eval.jsonl`` from the folder
``synthlake export training`` writes (``lake/exports/training/``); a malformed line is an
error naming ``file:line`` and the field, never a silently dropped row.

``encode_examples`` renders each conversation with the model's own chat template
(``tokenizer.apply_chat_template``) and labels only the tokens of assistant turns (their
content and the end-of-turn marker the template writes after it, so the model learns to
stop); every other token, system prompt and user turns included, gets label -100.

How the assistant tokens are found: the template is rendered for each prefix of the
conversation (``messages[:i]`` with the generation prompt, then ``messages[:i+1]``); the
characters between the two are the assistant turn ``i``, and the tokenizer's offset
mapping turns character spans into token positions. This works for any template that
renders a conversation as the concatenation of its prefixes (Llama 3, Gemma, ChatML,
Mistral...); a template that does not is refused with an error naming it, instead of
masking the wrong tokens. (``return_assistant_tokens_mask`` would need ``{% generation %}``
markers, which SmolLM2's, Gemma's and Llama 3's templates do not have.)

Sequences over ``max_seq_length`` are never cut so that the answer is lost: with
``overlength='skip'`` they are left out, with ``'truncate'`` they are cut after the last
whole assistant turn that fits (left out when not even the first one fits). Either way
the report names every such row (id, tokens) and the counts are logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from synthlake.errors import SynthlakeError

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "eval")
IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant")


class TrainingDataError(SynthlakeError):
    """The training export is missing or holds a row that is not what the contract says."""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class Source(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    title: str | None = None
    content: str | None = None


class ChatExample(BaseModel):
    """One row of the training export (the contract of ``export/training.py``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    messages: list[ChatMessage]
    language: str
    domain: Literal["instructions", "news"]
    source_dataset: str | None = None
    split: Literal["train", "validation", "eval"]
    judge_score: float | None = None
    sources: list[Source] = []
    reference_model: str | None = None

    @field_validator("messages")
    @classmethod
    def _check_messages(cls, value: list[ChatMessage]) -> list[ChatMessage]:
        if not any(m.role == "user" for m in value):
            raise ValueError("no user message")
        if not any(m.role == "assistant" and m.content.strip() for m in value):
            raise ValueError("no assistant message with content")
        return value

    @property
    def chat(self) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in self.messages]

    @property
    def prompt_messages(self) -> list[dict[str, str]]:
        """The conversation up to (not including) the last assistant turn: what to answer."""
        chat = self.chat
        last = max(i for i, m in enumerate(chat) if m["role"] == "assistant")
        return chat[:last]

    @property
    def reference(self) -> str:
        """The last assistant turn: the reference answer."""
        return [m.content for m in self.messages if m.role == "assistant"][-1]


@dataclass(slots=True)
class TrainingExport:
    directory: Path
    snapshot_id: str
    splits: dict[str, list[ChatExample]]

    def split(self, name: str) -> list[ChatExample]:
        return self.splits.get(name, [])


def _format_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "row"
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def read_split(path: Path) -> list[ChatExample]:
    """Every row of one JSONL split; a bad line raises naming ``file:line`` and the field."""
    rows: list[ChatExample] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TrainingDataError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(data, dict):
                raise TrainingDataError(f"{path}:{lineno}: a row must be a JSON object")
            try:
                row = ChatExample.model_validate(data)
            except ValidationError as exc:
                row_id = data.get("id")
                named = f" (id {row_id!r})" if isinstance(row_id, str) else ""
                raise TrainingDataError(
                    f"{path}:{lineno}{named}: {_format_validation(exc)}"
                ) from None
            if row.id in seen:
                raise TrainingDataError(
                    f"{path}:{lineno}: id {row.id!r} repeats line {seen[row.id]}"
                )
            seen[row.id] = lineno
            rows.append(row)
    return rows


def snapshot_id(directory: Path) -> str:
    """``manifest.json``'s snapshot id, else a SHA-256 of the split files' bytes."""
    manifest = directory / "manifest.json"
    if manifest.is_file():
        try:
            value = json.loads(manifest.read_text(encoding="utf-8")).get("snapshot_id")
        except (json.JSONDecodeError, AttributeError):
            value = None
        if isinstance(value, str) and value:
            return value
        log.warning("%s has no snapshot_id: hashing the split files instead", manifest)
    digest = hashlib.sha256()
    for split in SPLITS:
        path = directory / f"{split}.jsonl"
        if path.is_file():
            digest.update(f"{split}\0".encode())
            digest.update(path.read_bytes())
    return "sha256:" + digest.hexdigest()


def read_export(
    directory: Path | str, *, splits: Sequence[str] = SPLITS, required: Sequence[str] = ("train",)
) -> TrainingExport:
    """Read the splits of a training export folder."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TrainingDataError(
            f"no training export at {directory}: run `synthlake export training` first "
            "(or set data_dir in the config / SYNTHLAKE_TRAIN_DATA_DIR)"
        )
    out: dict[str, list[ChatExample]] = {}
    for split in splits:
        path = directory / f"{split}.jsonl"
        if not path.is_file():
            if split in required:
                raise TrainingDataError(f"the training export {directory} has no {path.name}")
            continue
        rows = read_split(path)
        wrong = [r.id for r in rows if r.split != split]
        if wrong:
            raise TrainingDataError(
                f"{path}: {len(wrong)} rows say another split (first: {wrong[0]!r})"
            )
        out[split] = rows
    for split in required:
        if not out.get(split):
            raise TrainingDataError(f"the {split} split of {directory} is empty")
    export = TrainingExport(directory, snapshot_id(directory), out)
    log.info(
        "training export %s: %s (snapshot %s)",
        directory,
        ", ".join(f"{k} {len(v)}" for k, v in out.items()),
        export.snapshot_id[:16],
    )
    return export


def filter_by_score(rows: Iterable[ChatExample], threshold: float | None) -> list[ChatExample]:
    """Rows whose judge score is at least ``threshold``; unscored rows only when it is 0/None."""
    if threshold is None or threshold <= 0:
        return list(rows)
    return [r for r in rows if r.judge_score is not None and r.judge_score >= threshold]


# --- chat template and masking -----------------------------------------------------------


def render_chat(tokenizer: Any, messages: Sequence[dict[str, str]], *, generation: bool) -> str:
    """The conversation as the model's chat template writes it.

    A template that refuses the system role (Gemma's) gets the system text folded into
    the first user turn; a tokenizer without a template gets the same plain transcript the
    local LLM provider uses, so training and evaluation see one format.
    """
    chat = list(messages)
    if not getattr(tokenizer, "chat_template", None):
        lines = [f"{m['role']}: {m['content']}" for m in chat]
        text = "\n".join(lines) + ("\n" if lines else "")
        return text + ("assistant:" if generation else "")
    try:
        return tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=generation)
    except Exception as exc:  # jinja raises TemplateError from the template's own checks
        if not any(m["role"] == "system" for m in chat) or "system" not in str(exc).lower():
            raise
        return tokenizer.apply_chat_template(
            fold_system(chat), tokenize=False, add_generation_prompt=generation
        )


def fold_system(chat: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """System turns prepended to the first user turn (for templates without a system role)."""
    system = "\n\n".join(m["content"] for m in chat if m["role"] == "system")
    out = [dict(m) for m in chat if m["role"] != "system"]
    for m in out:
        if m["role"] == "user":
            m["content"] = f"{system}\n\n{m['content']}" if system else m["content"]
            break
    return out


def assistant_spans(tokenizer: Any, messages: Sequence[dict[str, str]]) -> tuple[str, list]:
    """The rendered conversation and the character span of each assistant turn."""
    full = render_chat(tokenizer, messages, generation=False)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render_chat(tokenizer, messages[:i], generation=True) if i else ""
        through = render_chat(tokenizer, messages[: i + 1], generation=False)
        if not (full.startswith(through) and through.startswith(before)):
            name = getattr(tokenizer, "name_or_path", "the model")
            raise TrainingDataError(
                f"the chat template of {name} does not render a conversation as the "
                "concatenation of its turns; cannot find the assistant tokens to train on"
            )
        spans.append((len(before), len(through)))
    return full, spans


@dataclass(slots=True)
class Encoded:
    id: str
    input_ids: list[int]
    labels: list[int]

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


@dataclass(slots=True)
class EncodeReport:
    """What ``encode_examples`` did with each row that did not fit (or had nothing to learn)."""

    max_seq_length: int
    read: int = 0
    kept: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)  # id, tokens, reason
    truncated: list[dict[str, Any]] = field(default_factory=list)  # id, tokens, kept_tokens

    @property
    def overlength(self) -> int:
        return len(self.truncated) + sum(1 for s in self.skipped if s["reason"] == "too_long")

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_seq_length": self.max_seq_length,
            "read": self.read,
            "kept": self.kept,
            "overlength": self.overlength,
            "skipped": self.skipped,
            "truncated": self.truncated,
        }


def encode_example(tokenizer: Any, example: ChatExample | Sequence[dict[str, str]]) -> Encoded:
    """Token ids of the whole conversation, labels = ids on assistant turns, else -100."""
    messages = example.chat if isinstance(example, ChatExample) else list(example)
    row_id = example.id if isinstance(example, ChatExample) else ""
    text, spans = assistant_spans(tokenizer, messages)
    if not getattr(tokenizer, "is_fast", False):
        raise TrainingDataError("loss masking needs a fast tokenizer (offset mapping)")
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    labels = [IGNORE_INDEX] * len(ids)
    for k, (start, _end) in enumerate(enc["offset_mapping"]):
        if any(lo <= start < hi for lo, hi in spans):
            labels[k] = ids[k]
    return Encoded(row_id, ids, labels)


def _turn_ends(labels: list[int]) -> list[int]:
    """Token positions just after each run of trained (assistant) tokens."""
    ends = []
    for k, label in enumerate(labels):
        trained = label != IGNORE_INDEX
        nxt = k + 1 < len(labels) and labels[k + 1] != IGNORE_INDEX
        if trained and not nxt:
            ends.append(k + 1)
    return ends


def encode_examples(
    tokenizer: Any,
    examples: Sequence[ChatExample],
    max_seq_length: int,
    overlength: Literal["skip", "truncate"] = "skip",
) -> tuple[list[Encoded], EncodeReport]:
    """Encode every example; rows over ``max_seq_length`` are skipped or cut, and reported."""
    report = EncodeReport(max_seq_length=max_seq_length)
    out: list[Encoded] = []
    for example in examples:
        report.read += 1
        encoded = encode_example(tokenizer, example)
        n = len(encoded.input_ids)
        if encoded.trained_tokens == 0:
            report.skipped.append({"id": example.id, "tokens": n, "reason": "no_answer_tokens"})
            continue
        if n > max_seq_length:
            fits = [end for end in _turn_ends(encoded.labels) if end <= max_seq_length]
            if overlength == "truncate" and fits:
                cut = fits[-1]
                encoded = Encoded(encoded.id, encoded.input_ids[:cut], encoded.labels[:cut])
                report.truncated.append({"id": example.id, "tokens": n, "kept_tokens": cut})
            else:
                report.skipped.append({"id": example.id, "tokens": n, "reason": "too_long"})
                continue
        out.append(encoded)
    report.kept = len(out)
    if report.overlength:
        ids = [s["id"] for s in report.skipped if s["reason"] == "too_long"]
        ids += [t["id"] for t in report.truncated]
        log.warning(
            "%d rows over max_seq_length=%d (%s): %s%s",
            report.overlength,
            max_seq_length,
            "skipped" if overlength == "skip" else "truncated after a whole answer, or skipped",
            ", ".join(ids[:10]),
            " ..." if len(ids) > 10 else "",
        )
    log.info(
        "encode: read %d, kept %d, truncated %d, dropped_too_long %d, dropped_no_answer %d",
        report.read,
        report.kept,
        len(report.truncated),
        sum(1 for s in report.skipped if s["reason"] == "too_long"),
        sum(1 for s in report.skipped if s["reason"] == "no_answer_tokens"),
    )
    return out, report


# --- batches ----------------------------------------------------------------------------


def pack(encoded: Sequence[Encoded], max_seq_length: int) -> list[dict[str, list[int]]]:
    """Whole examples concatenated into rows of at most ``max_seq_length`` (in order).

    Position ids restart at 0 for each example: with no attention mask, transformers'
    mask builder reads them as separate sequences (block-diagonal attention), so packed
    examples do not attend to each other. An example is never split across rows.
    """
    rows: list[dict[str, list[int]]] = []
    current: dict[str, list[int]] = {"input_ids": [], "labels": [], "position_ids": []}
    for item in encoded:
        if (
            current["input_ids"]
            and len(current["input_ids"]) + len(item.input_ids) > max_seq_length
        ):
            rows.append(current)
            current = {"input_ids": [], "labels": [], "position_ids": []}
        current["input_ids"] += item.input_ids
        current["labels"] += item.labels
        current["position_ids"] += list(range(len(item.input_ids)))
    if current["input_ids"]:
        rows.append(current)
    return rows


def unpacked(encoded: Sequence[Encoded]) -> list[dict[str, list[int]]]:
    return [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]


class Collator:
    """Right-pads a batch; packed rows carry position ids instead of an attention mask."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        packed = "position_ids" in features[0]
        ids, labels, extra = [], [], []
        for f in features:
            pad = width - len(f["input_ids"])
            ids.append(f["input_ids"] + [self.pad_id] * pad)
            labels.append(f["labels"] + [IGNORE_INDEX] * pad)
            if packed:  # the padding is one more (ignored) sequence, positions from 0
                extra.append(f["position_ids"] + list(range(pad)))
            else:
                extra.append([1] * len(f["input_ids"]) + [0] * pad)
        batch = {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
        }
        key = "position_ids" if packed else "attention_mask"
        batch[key] = torch.tensor(extra, dtype=torch.long)
        return batch

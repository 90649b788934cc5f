"""Toxicity of QA pairs with Detoxify: the 7 scores of every answer (and question, by setting).

Detoxify downloads its checkpoints from GitHub on first use, which fails offline. Local
weights are used instead when ``SYNTHLAKE_DETOXIFY_CHECKPOINT`` names a checkpoint file
(Detoxify's own format: ``{"config": ..., "state_dict": ...}``) and, for a machine with no
Hugging Face cache, ``SYNTHLAKE_DETOXIFY_CONFIG_DIR`` names the directory with the config
and tokenizer of the checkpoint's base model (``xlm-roberta-base`` for ``multilingual``,
``bert-base-uncased`` for ``original``, ``roberta-base`` for ``unbiased``). Without
them, the weights that ``synthlake models pull detoxify`` placed in the per-user model cache
(``synthlake.quality.detoxify_pull``), then a checkpoint already in torch's hub cache. A
build never downloads anything (only that command does): when
nothing can be loaded the stage writes ``toxicity_status = 'unavailable'`` with null scores
(never zeros, which would read as "clean") and ``toxicity_status()`` tells the run summary
how to enable it.

The model is loaded once per process and texts are scored in batches sorted by length
(``toxicity_batch_size``), so padding stays small.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from synthlake.errors import DependencyMissing, SynthlakeError

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

LABELS = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "identity_attack",
    "insult",
    "threat",
    "sexual_explicit",
)
# Detoxify's released checkpoints (file names in its download URLs), for the hub cache.
CHECKPOINT_FILES = {
    "original": "toxic_original-c1212f89.ckpt",
    "unbiased": "toxic_debiased-c7548aa0.ckpt",
    "multilingual": "multilingual_debiased-0b549669.ckpt",
}
BASE_MODELS = {
    "original": "bert-base-uncased",
    "unbiased": "roberta-base",
    "multilingual": "xlm-roberta-base",
}
# Detoxify renames some classes of its older checkpoints; so do we.
_RENAMED = {
    "toxic": "toxicity",
    "identity_hate": "identity_attack",
    "severe_toxic": "severe_toxicity",
}
FIELDS = ("answer", "question")
ITEM_BATCH_ROWS = 10_000

TOXICITY_SCHEMA = pa.schema(
    [
        ("toxicity_id", pa.string()),  # qa_id|field
        ("qa_id", pa.string()),
        ("field", pa.string()),  # 'answer' or 'question'
        ("text_hash", pa.string()),
        ("toxicity_status", pa.string()),  # 'ok' or 'unavailable'
        *[(label, pa.float64()) for label in LABELS],  # null unless ok (or not in the model)
        ("max_score", pa.float64()),
        ("toxicity_model", pa.string()),  # e.g. 'multilingual@<checkpoint fingerprint>'
        ("unavailable_reason", pa.string()),
        ("scored_at", pa.timestamp("us", tz="UTC")),
    ]
)


class ToxicityUnavailable(SynthlakeError, RuntimeError):
    """Detoxify cannot be loaded here; the message says why.

    Also a ``RuntimeError``, as it was before it joined the tree (public name)."""


@dataclass(frozen=True, slots=True)
class DetoxifySource:
    """Where the Detoxify weights come from, and an id that changes when they do."""

    model_type: str
    checkpoint: Path
    config_dir: Path | None
    fingerprint: str

    @property
    def model_id(self) -> str:
        return f"{self.model_type}@{self.fingerprint}"


def enable_hint(model_type: str = "multilingual") -> str:
    base = BASE_MODELS.get(model_type, "the checkpoint's base model")
    pull = "synthlake models pull detoxify" + (
        "" if model_type == "multilingual" else f" --model {model_type}"
    )
    return (
        f"run `{pull}` (downloads and verifies the weights once per user), or "
        f"set SYNTHLAKE_DETOXIFY_CHECKPOINT to a Detoxify '{model_type}' checkpoint file "
        f"({CHECKPOINT_FILES.get(model_type, '<model>.ckpt')}, from Detoxify's releases) and "
        f"SYNTHLAKE_DETOXIFY_CONFIG_DIR to a directory with the config and tokenizer of {base} "
        "(or put it in torch's hub cache, torch.hub.get_dir()/checkpoints); then rebuild: only the "
        "unscored rows are scored"
    )


def _hub_cache_file(model_type: str) -> Path | None:
    name = CHECKPOINT_FILES.get(model_type)
    if name is None:
        return None
    try:
        import torch
    except ImportError:
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / name
    return path if path.is_file() else None


def _fingerprint(path: Path) -> str:
    """Name, size and the first MiB: cheap, and changes when the file does."""
    digest = hashlib.sha256(f"{path.name}\0{path.stat().st_size}\0".encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:12]


def resolve_source(settings: Settings) -> DetoxifySource:
    """The weights to load, or ``ToxicityUnavailable`` saying what is missing (no loading)."""
    model_type = settings.detoxify_model
    config_dir = settings.detoxify_config_dir
    if config_dir is not None and not Path(config_dir).is_dir():
        raise ToxicityUnavailable(f"SYNTHLAKE_DETOXIFY_CONFIG_DIR={config_dir} is not a directory")
    if settings.detoxify_checkpoint is not None:
        path = Path(settings.detoxify_checkpoint).expanduser()
        if not path.is_file():
            raise ToxicityUnavailable(f"SYNTHLAKE_DETOXIFY_CHECKPOINT={path} does not exist")
        return DetoxifySource(model_type, path, config_dir, _fingerprint(path))
    from synthlake.quality.detoxify_pull import pulled_source

    pulled = pulled_source(settings, model_type)
    if pulled is not None:  # `synthlake models pull detoxify`, in the per-user model cache
        checkpoint, pulled_config = pulled
        return DetoxifySource(
            model_type, checkpoint, config_dir or pulled_config, _fingerprint(checkpoint)
        )
    cached = _hub_cache_file(model_type)
    if cached is not None:
        return DetoxifySource(model_type, cached, config_dir, _fingerprint(cached))
    # never Detoxify's own download: a run fetches no weights (it would also stall offline)
    raise ToxicityUnavailable(
        f"no local Detoxify '{model_type}' checkpoint (SYNTHLAKE_DETOXIFY_CHECKPOINT is not "
        "set, none pulled into the model cache, none in torch's hub cache); runs never "
        "download weights"
    )


_LOADED: dict[str, Any] = {}
_LOAD_LOCK = threading.Lock()


def load_detoxify(source: DetoxifySource) -> Any:
    """A ``detoxify.Detoxify`` for ``source``, loaded once per process."""
    with _LOAD_LOCK:
        model = _LOADED.get(source.model_id + str(source.checkpoint))
        if model is None:
            model = _load(source)
            _LOADED[source.model_id + str(source.checkpoint)] = model
        return model


def _load(source: DetoxifySource) -> Any:
    try:
        import torch
        from detoxify import Detoxify
    except ImportError as exc:
        raise DependencyMissing("detoxify", "toxicity scoring") from exc
    device = "cuda" if torch.cuda.is_available() else "cpu"
    checkpoint = str(source.checkpoint)
    config_dir = str(source.config_dir) if source.config_dir else None
    try:
        return Detoxify(
            source.model_type,
            checkpoint=checkpoint,
            device=device,
            huggingface_config_path=config_dir,
        )
    except Exception as exc:  # noqa: BLE001 - offline downloads, bad files: not available
        if config_dir is None:
            raise ToxicityUnavailable(f"Detoxify could not load: {exc}") from exc
        first_error = exc
    # Detoxify resolves the checkpoint's base model name ('xlm-roberta-base') on the hub
    # even when given a config directory; offline, read the config from that directory.
    try:
        return _load_with_local_base(source, Detoxify, torch, device)
    except Exception as exc:  # noqa: BLE001 - any failure here means "not available"
        raise ToxicityUnavailable(
            f"Detoxify could not load {checkpoint}: {first_error}; with the base model read "
            f"from {config_dir}: {exc}"
        ) from exc


def _load_with_local_base(
    source: DetoxifySource, detoxify_cls: Any, torch: Any, device: str
) -> Any:
    from detoxify.detoxify import get_model_and_tokenizer

    loaded = torch.load(source.checkpoint, map_location=device, weights_only=False)
    if "config" not in loaded or "state_dict" not in loaded:
        raise ValueError("not a Detoxify checkpoint (no 'config' and 'state_dict')")
    args = dict(loaded["config"]["arch"]["args"])
    args["model_type"] = str(source.config_dir)
    model, tokenizer = get_model_and_tokenizer(
        **args, state_dict=loaded["state_dict"], huggingface_config_path=str(source.config_dir)
    )
    classes = loaded["config"]["dataset"]["args"]["classes"]
    instance = detoxify_cls.__new__(detoxify_cls)
    instance.model = model.to(device)
    instance.tokenizer = tokenizer
    instance.class_names = [_RENAMED.get(name, name) for name in classes]
    instance.device = device
    return instance


def score_texts(model: Any, texts: Sequence[str], batch_size: int) -> list[dict[str, float | None]]:
    """The 7 scores of each text, in input order; batches hold texts of similar length.

    A label the checkpoint does not predict (``original`` has no ``sexual_explicit``) is
    None, not 0.
    """
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: list[dict[str, float | None]] = [{} for _ in texts]
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        predicted = model.predict([texts[i] for i in chunk])
        for label in LABELS:
            values = predicted.get(label)
            if values is not None and not isinstance(values, list):
                values = [values]  # Detoxify squeezes a batch of one to a float
            for k, i in enumerate(chunk):
                out[i][label] = None if values is None else float(values[k])
    return out


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(slots=True)
class _Item:
    qa_id: str
    field: str
    text: str | None  # None when only the rows' keys are needed (no model to score with)
    text_hash: str

    @property
    def toxicity_id(self) -> str:
        return f"{self.qa_id}|{self.field}"


def candidate_items(pairs: pa.Table, settings: Settings, *, with_text: bool = True) -> list[_Item]:
    """Every non-blank answer (and question, with ``toxicity_on_questions``); without
    ``with_text`` the items keep only the texts' hashes (a first build without Detoxify's
    weights writes a row per text and needs none of the texts: holding them all was a
    copy of every answer at 730k pairs).

    ``pairs`` holds ``qa_id`` and either the texts or, as ``pairs_to_read`` gives them when
    Detoxify cannot be resolved, their hashes (``answer_hash``...; null for a blank text)."""
    fields = FIELDS if settings.toxicity_on_questions else ("answer",)
    hashed = is_hashed(pairs)
    if hashed and with_text:
        raise ValueError("these pairs hold their texts' hashes, not the texts to score")
    names = [f"{field}_hash" if hashed else field for field in fields]
    items = []
    # batch by batch and only the fields scored: at 760k pairs one dict per row holding
    # every question and answer cost gigabytes beside the items themselves
    for batch in pairs.select(["qa_id", *names]).to_batches(max_chunksize=ITEM_BATCH_ROWS):
        columns = [batch.column(name).to_pylist() for name in ("qa_id", *names)]
        for qa_id, *values in zip(*columns, strict=True):
            for field, value in zip(fields, values, strict=True):
                if hashed:
                    if value is not None:
                        items.append(_Item(qa_id, field, None, value))
                elif value is not None and value.strip():
                    kept = value if with_text else None
                    items.append(_Item(qa_id, field, kept, text_hash(value)))
    return items


def is_hashed(pairs: pa.Table) -> bool:
    """Whether ``pairs`` holds the texts' hashes (``pairs_to_read`` without Detoxify)."""
    return any(f"{field}_hash" in pairs.column_names for field in FIELDS)


@functools.cache
def _blank_pattern() -> str:
    """An RE2 pattern (DuckDB's regexp) for the strings Python's ``str.strip`` empties:
    DuckDB's ``trim`` removes spaces only, and a text blank to Python must be blank here
    too (it has no row). Built from ``str.isspace`` itself, so the two cannot drift."""
    spaces = [c for c in range(0x110000) if chr(c).isspace()]
    ranges: list[list[int]] = []
    for c in spaces:
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    parts = "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges)
    return f"[{parts}]*"


def digest_sql(field: str) -> str:
    """SQL: ``text_hash`` of ``field`` as DuckDB computes it (its SHA-256's first 16 hex digits)."""
    return f"left(sha256({field}), 16)"


def non_blank_sql(field: str) -> str:
    """SQL: ``field`` is a text with something besides whitespace (as Python's strip sees it)."""
    return f"({field} is not null and not regexp_full_match({field}, '{_blank_pattern()}'))"


def pairs_to_read(pairs: Any, settings: Settings) -> Any:
    """What ``int_qa_toxicity`` reads of its pairs (a DuckDB relation with ``qa_id`` and the
    fields scored): the texts when Detoxify can be resolved, else only each text's hash,
    computed by DuckDB as ``text_hash`` computes it (the first 16 hex digits of its
    SHA-256) and null for a blank text. 'unavailable' rows need no text: on a first build
    the 723k answers (822 MiB) read into Arrow took the build 1.4 GB higher, beside the
    language check."""
    fields = FIELDS if settings.toxicity_on_questions else ("answer",)
    try:
        resolve_source(settings)
    except ToxicityUnavailable:
        hashes = ", ".join(
            f"case when {non_blank_sql(f)} then {digest_sql(f)} end as {f}_hash" for f in fields
        )
        return pairs.project(f"qa_id, {hashes}")
    return pairs.project(f"qa_id, {', '.join(fields)}")


def pending_pairs(pairs: Any, stored: Any, settings: Settings) -> tuple[Any, Any]:
    """The pairs ``score_pairs`` may write a row for, and their stored rows: DuckDB relations.

    ``pairs`` is ``qa_id`` and the fields scored (``int_qa_pairs_unioned``), ``stored`` the
    incremental table's rows (with ``qa_id`` and ``toxicity_status``). A pair is left out
    when each of its texts already has a row that ``score_pairs`` would keep: scored by the
    current model, or, while Detoxify cannot be resolved, scored by any model or stored as
    waiting for the weights. The hashes are computed by DuckDB (``text_hash`` is the first
    16 hex digits of the text's SHA-256, as DuckDB's ``sha256`` gives them), so an
    unchanged pair's texts never reach Python. Reading every pair's texts into Arrow and
    Python strings took the model to 3.7 GB at 730k pairs, and the daily refresh to 7.6 GB.
    Blank texts (``non_blank_sql``) have no row and are not candidates."""
    from duckdb import ColumnExpression, ConstantExpression

    try:
        model_id: str | None = resolve_source(settings).model_id
    except ToxicityUnavailable:
        model_id = None
    fields = FIELDS if settings.toxicity_on_questions else ("answer",)
    texts = None
    for field in fields:
        part = pairs.filter(non_blank_sql(field)).project(
            f"qa_id as text_qa_id, qa_id || '|{field}' as text_id, "
            f"{digest_sql(field)} as text_digest"
        )
        texts = part if texts is None else texts.union(part)
    status = ColumnExpression("toxicity_status")
    if model_id is not None:
        # Detoxify may still fail to load; what it keeps then is a superset of this
        keep = (status == ConstantExpression("ok")) & (
            ColumnExpression("toxicity_model") == ConstantExpression(model_id)
        )
    else:
        keep = status.isin(ConstantExpression("ok"), ConstantExpression("unavailable"))
    settled = stored.filter(keep).project("toxicity_id as settled_id, text_hash as settled_hash")
    unsettled = texts.join(
        settled, "text_id = settled_id and text_digest = settled_hash", how="anti"
    )
    pending = unsettled.project("text_qa_id as pending_qa_id").distinct()
    return (
        pairs.join(pending, "qa_id = pending_qa_id", how="semi"),
        stored.join(pending, "qa_id = pending_qa_id", how="semi"),
    )


def score_pairs(
    pairs: pa.Table,
    settings: Settings,
    *,
    done: pa.Table | None = None,
    model: Any = None,
) -> pa.Table:
    """Toxicity rows (``TOXICITY_SCHEMA``) for the pairs of ``int_qa_pairs_unioned``.

    ``done`` holds ``toxicity_id, text_hash, toxicity_model`` of the stored rows, and
    their ``toxicity_status`` (all 'ok' when the column is absent): a text scored by the
    current model is skipped. When Detoxify cannot be loaded, texts with no row at all get
    'unavailable' rows; stored scores are never overwritten by 'unavailable', and texts
    already stored as 'unavailable' are not written again (at 723k pairs that rewrite was
    20 s of every refresh); once the weights are there, they are scored.
    ``model`` (a loaded Detoxify) skips resolving and loading.
    """
    scored: set[tuple[str, str, str]] = set()
    waiting: set[tuple[str, str]] = set()  # stored as 'unavailable'
    if done is not None and done.num_rows:
        cols = [done.column(c).to_pylist() for c in ("toxicity_id", "text_hash", "toxicity_model")]
        statuses = (
            done.column("toxicity_status").to_pylist()
            if "toxicity_status" in done.column_names
            else ["ok"] * done.num_rows
        )
        for key, status in zip(zip(*cols, strict=True), statuses, strict=True):
            if status == "ok":
                scored.add(key)
            elif status == "unavailable":
                waiting.add(key[:2])
    scored_texts = {key[:2] for key in scored}
    error: ToxicityUnavailable | None = None
    source: DetoxifySource | None = None
    try:
        source = resolve_source(settings)
    except ToxicityUnavailable as exc:
        error = exc
    if source is not None and is_hashed(pairs):
        # the weights came after the model read the pairs (pairs_to_read): nothing to score
        # with; the rows stay 'unavailable' and the next build scores them
        source = None
        error = ToxicityUnavailable("Detoxify's weights appeared after this build read the pairs")
    candidates = candidate_items(pairs, settings, with_text=source is not None)
    if source is not None:
        items = [
            i for i in candidates if (i.toxicity_id, i.text_hash, source.model_id) not in scored
        ]
        if items and model is None:
            try:
                model = load_detoxify(source)
            except ToxicityUnavailable as exc:
                error = exc
    if error is not None:
        items = [i for i in candidates if (i.toxicity_id, i.text_hash) not in scored_texts]
        still = sum(1 for i in items if (i.toxicity_id, i.text_hash) in waiting)
        items = [i for i in items if (i.toxicity_id, i.text_hash) not in waiting]
        if still:
            log.warning(
                "toxicity: Detoxify unavailable (%s); %d texts still unscored from earlier "
                "builds. To enable: %s",
                error,
                still,
                enable_hint(settings.detoxify_model),
            )
    if not items:
        log.info("toxicity: nothing new to score")
        return TOXICITY_SCHEMA.empty_table()
    now = datetime.now(UTC)
    if error is not None or source is None:
        log.warning(
            "toxicity: Detoxify unavailable (%s); %d texts left unscored. To enable: %s",
            error,
            len(items),
            enable_hint(settings.detoxify_model),
        )
        return _unavailable_rows(items, now, settings.detoxify_model, str(error))
    base = [
        {
            "toxicity_id": item.toxicity_id,
            "qa_id": item.qa_id,
            "field": item.field,
            "text_hash": item.text_hash,
            "scored_at": now,
        }
        for item in items
    ]
    scores = score_texts(model, [item.text for item in items], settings.toxicity_batch_size)
    rows = []
    for row, score in zip(base, scores, strict=True):
        present = [v for v in score.values() if v is not None]
        rows.append(
            row
            | score
            | {
                "toxicity_status": "ok",
                "max_score": max(present) if present else None,
                "toxicity_model": source.model_id,
            }
        )
    flagged = sum(1 for r in rows if (r["max_score"] or 0) >= settings.toxicity_max_score)
    log.info(
        "toxicity (%s): %d texts scored, %d at or above %.2f",
        source.model_id,
        len(rows),
        flagged,
        settings.toxicity_max_score,
    )
    return pa.Table.from_pylist(rows, schema=TOXICITY_SCHEMA)


def _unavailable_rows(items: list[_Item], now: datetime, model: str, reason: str) -> pa.Table:
    """'unavailable' rows with null scores, built column by column (not a dict per row:
    at 730k texts those dicts were one more copy of every key)."""
    n = len(items)
    columns = {
        "toxicity_id": pa.array([i.toxicity_id for i in items], pa.string()),
        "qa_id": pa.array([i.qa_id for i in items], pa.string()),
        "field": pa.array([i.field for i in items], pa.string()),
        "text_hash": pa.array([i.text_hash for i in items], pa.string()),
        "toxicity_status": pa.repeat(pa.scalar("unavailable"), n),
        "toxicity_model": pa.repeat(pa.scalar(model), n),
        "unavailable_reason": pa.repeat(pa.scalar(reason), n),
        "scored_at": pa.repeat(pa.scalar(now, TOXICITY_SCHEMA.field("scored_at").type), n),
    }
    return pa.Table.from_arrays(
        [columns.get(f.name, pa.nulls(n, f.type)) for f in TOXICITY_SCHEMA],
        schema=TOXICITY_SCHEMA,
    )


def toxicity_status(settings: Settings, lake: Any = None) -> dict[str, Any]:
    """For the run summary: can toxicity be scored here, what the last build did, and how
    to enable it when it cannot. Never loads the model.

    ``status`` is 'ok' (every stored text scored), 'partial', 'unavailable' (Detoxify cannot
    load here, or nothing was scored) or 'not_built' (no toxicity table yet and Detoxify is
    configured).
    """
    info: dict[str, Any] = {"model": settings.detoxify_model}
    try:
        source = resolve_source(settings)
        info["source"] = str(source.checkpoint)
        available, reason = True, None
    except ToxicityUnavailable as exc:
        available, reason = False, str(exc)
    counts = _stored_counts(lake) if lake is not None else None
    if counts is not None:
        info.update(counts)
    if counts is None or counts["scored"] + counts["unavailable"] == 0:
        status = "not_built" if available else "unavailable"
    elif counts["unavailable"] == 0:
        status = "ok"
    elif counts["scored"] == 0:
        status = "unavailable"
    else:
        status = "partial"
    info["status"] = status
    if not available:
        info["reason"] = reason
    if status in {"unavailable", "partial"} or not available:
        info["hint"] = enable_hint(settings.detoxify_model)
    return info


def _stored_counts(lake: Any) -> dict[str, int] | None:
    import duckdb

    warehouse = Path(lake.warehouse)
    if not warehouse.is_file():
        return None
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            rows = con.execute(
                "select toxicity_status, count(*) from int_qa_toxicity group by all"
            ).fetchall()
    except duckdb.Error:
        return None
    counts = dict(rows)
    return {"scored": int(counts.get("ok", 0)), "unavailable": int(counts.get("unavailable", 0))}


__all__ = [
    "LABELS",
    "TOXICITY_SCHEMA",
    "DetoxifySource",
    "ToxicityUnavailable",
    "enable_hint",
    "load_detoxify",
    "resolve_source",
    "score_pairs",
    "score_texts",
    "toxicity_status",
]

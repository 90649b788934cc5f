"""Base model vs fine-tuned adapter on the held-out ``eval`` split.

Answers are generated **through synthlake's LLM layer**: an ``LLMRunner`` (stage
``evaluate``) with a provider built here, ``RunModelProvider``, a subclass of the local
provider (``synthlake/llm/providers/local.py``) whose model is the training run's base with
its adapter loaded by peft. The runner therefore gives what every other LLM call gets:
batched greedy generation with left padding, context checks, the persistent cache (keyed
by a fingerprint of the base weights *and* of the adapter, so base and tuned answers
never mix) and the ``llm_calls`` accounting. The local provider module is not changed:
the subclass only replaces how the model is loaded. Base answers come from the same
object with the adapter switched off (``PeftModel.disable_adapter``), so one copy of the
weights serves both variants.

Metrics per answer (``eval_results``, one row per eval row x variant):

- ``in_prompt_language``: lingua's confident language of the answer equals the row's
  language (null when the answer is too short or lingua is unsure);
- ``judge_score``: the configured judge (``synthlake.quality.judge``, the same prompts,
  strict parser and LLM as the quality stage), mean over the configured dimensions of the
  domain (accuracy for instructions, faithfulness for news by default); ``--no-judge``
  skips it;
- ``length_ratio`` (answer words / reference words) for every row; for news rows also the
  embedding cosine (``synthlake.embeddings``) to the reference answer and to the sources.

The rows go to ``lake/raw/eval_results/`` (Parquet); ``stg_eval__results`` and
``rpt_eval_results`` (base vs tuned per language and domain) read them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from synthlake.train.config import TrainConfig
from synthlake.train.data import ChatExample, read_export, render_chat
from synthlake.train.lora import TrainingError, _peft, load_base, load_run

from synthlake.lake import RAW_EVAL_RESULTS_SCHEMA, Lake, new_run_id
from synthlake.llm.providers.local import LoadedModel, LocalTransformersProvider
from synthlake.model_cache import model_cache_dir
from synthlake.sampling import seeded_selection

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

VARIANTS = ("base", "tuned")
PROMPT_ID = "evaluate"
PROMPT_VERSION = "1"


# --- the model, as an LLM-layer provider ------------------------------------------------------


def _adapter_fingerprint(adapter_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(adapter_dir.glob("adapter_*")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class _SharedAdapterModel:
    """One fresh base model with the run's adapter, loaded on first use."""

    def __init__(
        self, run_dir: Path, config: TrainConfig, info: dict[str, Any], settings: Settings
    ):
        self.run_dir, self.config, self.info, self.settings = run_dir, config, info, settings
        self._loaded: LoadedModel | None = None
        self._lock = threading.Lock()

    def load(self) -> LoadedModel:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> LoadedModel:
        base = load_base(self.config, model_cache_dir(self.settings), quantize=False)
        model = _peft().PeftModel.from_pretrained(base["model"], str(self.run_dir / "adapter"))
        model.eval()
        tokenizer = base["tokenizer"]
        config = model.config
        context = int(getattr(config, "max_position_embeddings", None) or 2048)
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        eos_ids = frozenset([eos] if isinstance(eos, int) else list(eos or []))
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = next(iter(sorted(eos_ids)), 0)
        return LoadedModel(
            model=model,
            tokenizer=tokenizer,
            device=base["device"],
            context_tokens=context,
            pad_id=int(pad),
            eos_ids=eos_ids,
            loaded_from=Path(base["where"]),
        )


class RunModelProvider(LocalTransformersProvider):
    """The local provider for a training run's base model, with or without its adapter."""

    def __init__(self, shared: _SharedAdapterModel, variant: str) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.shared = shared
        self.variant = variant
        base_fp = str(shared.info.get("base_fingerprint") or shared.config.model)
        name = shared.config.model.removeprefix("local:")  # llm_calls: local:<name>
        if variant == "base":
            self.model = name
            self.fingerprint = base_fp
        else:
            self.model = f"{name}+{shared.run_dir.name}"
            adapter = _adapter_fingerprint(shared.run_dir / "adapter")
            self.fingerprint = hashlib.sha256(f"{base_fp}\0{adapter}".encode()).hexdigest()
        self.source = None
        self.cache_root = model_cache_dir(shared.settings)
        self._context_override = None
        self._loaded = None
        self.batches_run = 0

    def __repr__(self) -> str:
        return f"RunModelProvider({self.shared.run_dir.name!r}, {self.variant!r})"

    def load(self) -> LoadedModel:
        if self._loaded is None:
            self._loaded = self.shared.load()
        return self._loaded

    def render(self, messages: Sequence[Any]) -> str:
        # The same rendering as training (train/data.py), system folding included.
        chat = [m.as_dict() for m in messages]
        return render_chat(self.load().tokenizer, chat, generation=True)

    def generate_batch(self, items: Sequence[Any], params: Any) -> list[Any]:
        if self.variant == "tuned":
            return super().generate_batch(items, params)
        with self.load().model.disable_adapter():
            return super().generate_batch(items, params)


# --- metrics ------------------------------------------------------------------------------


def words(text: str | None) -> int:
    return len((text or "").split())


def _language_checks(settings: Settings, answers: list[str | None], labels: list[str]) -> list:
    from synthlake.instructions.langid import LanguageIdentifier

    identifier = LanguageIdentifier.from_settings(settings, extra=set(labels))
    detections = identifier.detect_many([a or "" for a in answers])
    out = []
    for detection, label in zip(detections, labels, strict=True):
        language = detection.language
        out.append((language, None if language is None else language == label))
    return out


def _news_similarities(
    settings: Settings, rows: list[ChatExample], answers: list[str | None]
) -> list:
    """(sim_reference, sim_sources_mean, sim_sources_min) per row; None for non-news rows."""
    from synthlake.embeddings import get_embedder

    out: list[tuple[float | None, float | None, float | None]] = [(None, None, None)] * len(rows)
    news = [i for i, r in enumerate(rows) if r.domain == "news" and answers[i]]
    if not news:
        return out
    embedder = get_embedder(settings=settings)
    texts: list[str] = []
    for i in news:
        texts += [answers[i] or "", rows[i].reference]
        texts += [f"{s.title or ''}\n{s.content or ''}".strip() for s in rows[i].sources]
    vectors = embedder.encode(texts)
    k = 0
    for i in news:
        answer, reference = vectors[k], vectors[k + 1]
        n = len(rows[i].sources)
        sources = vectors[k + 2 : k + 2 + n]
        k += 2 + n
        sims = sources @ answer if n else np.array([])
        out[i] = (
            float(answer @ reference),
            float(sims.mean()) if n else None,
            float(sims.min()) if n else None,
        )
    return out


def _judge(
    settings: Settings, rows: list[ChatExample], answers: list[str | None], tag: str
) -> list[tuple[float | None, str, str]]:
    """(mean score, status, dimensions) per answer, through the configured judge."""
    from synthlake.lake import content_hash
    from synthlake.quality.judge import (
        JudgeTask,
        dimensions_for,
        load_dimensions,
        render_sources,
        run_tasks,
    )

    known = load_dimensions()
    tasks: list[JudgeTask] = []
    owner: list[int] = []
    names: list[str] = []
    for i, (row, answer) in enumerate(zip(rows, answers, strict=True)):
        dims = dimensions_for(settings, row.domain, known)
        names.append(",".join(d.name for d in dims))
        if not answer:
            continue
        question = row.prompt_messages[-1]["content"] if row.prompt_messages else ""
        if row.domain == "news":
            question = question.split("\n\n", 1)[0].strip()
        sources = [s.model_dump() for s in row.sources]
        for dim in dims:
            tasks.append(
                JudgeTask(
                    qa_id=f"eval:{tag}:{row.id}",
                    domain=row.domain,
                    dimension=dim,
                    qa_hash=content_hash(question, answer),
                    question=question,
                    input=None,
                    answer=answer,
                    language=row.language,
                    sources=render_sources(sources, settings.judge_source_chars)
                    if row.domain == "news"
                    else "",
                )
            )
            owner.append(i)
    scores: list[list[float]] = [[] for _ in rows]
    for i, result in zip(owner, run_tasks(tasks, settings), strict=True):
        if result.ok:
            scores[i].append(float(result.value.score))
    out = []
    for i, answer in enumerate(answers):
        if not answer:
            out.append((None, "no_answer", names[i]))
        elif scores[i]:
            out.append((sum(scores[i]) / len(scores[i]), "ok", names[i]))
        else:
            out.append((None, "failed", names[i]))
    return out


# --- the evaluation -----------------------------------------------------------------------


def generate_answers(
    provider: RunModelProvider, rows: list[ChatExample], settings: Settings, run_id: str
) -> list[Any]:
    """One ``LLMResult`` per row, greedy, capped at ``eval_max_new_tokens``."""
    from synthlake.llm.runner import LLMRunner
    from synthlake.llm.types import GenerationParams, LLMRequest

    params = GenerationParams(max_new_tokens=settings.eval_max_new_tokens)
    requests = [
        LLMRequest(
            row_id=row.id,
            messages=row.prompt_messages,
            params=params,
            prompt_id=PROMPT_ID,
            prompt_version=PROMPT_VERSION,
        )
        for row in rows
    ]
    runner = LLMRunner(settings, stage="evaluate", provider=provider, run_id=run_id)
    return runner.run(requests)


def evaluate(
    settings: Settings,
    run_dir: Path,
    *,
    data_dir: Path | None = None,
    judge: bool | None = None,
    max_rows: int | None = None,
    threshold: float | None = None,
    eval_run_id: str | None = None,
    write: bool = True,
) -> pa.Table:
    """Evaluate a finished training run; returns (and writes) its ``eval_results`` rows."""
    config, info = load_run(run_dir)
    data_dir = Path(data_dir or info.get("data_dir") or "")
    export = read_export(data_dir, splits=("eval",), required=("eval",))
    rows = export.split("eval")
    max_rows = max_rows if max_rows is not None else settings.eval_max_rows
    if max_rows is not None and len(rows) > max_rows:
        chosen = set(seeded_selection([r.id for r in rows], max_rows, seed=0))
        rows = [r for r in rows if r.id in chosen]
    if not rows:
        raise TrainingError(f"no eval rows in {data_dir}")
    judge = settings.eval_judge if judge is None else judge
    eval_run_id = eval_run_id or f"eval-{new_run_id()}"
    shared = _SharedAdapterModel(run_dir, config, info, settings)
    now = datetime.now(UTC)
    out: list[dict[str, Any]] = []
    for variant in VARIANTS:
        provider = RunModelProvider(shared, variant)
        results = generate_answers(provider, rows, settings, eval_run_id)
        answers = [r.text if r.ok else None for r in results]
        languages = _language_checks(settings, answers, [r.language for r in rows])
        similarities = _news_similarities(settings, rows, answers)
        if judge:
            judged = _judge(settings, rows, answers, f"{eval_run_id}:{variant}")
        else:
            judged = [(None, "skipped" if a else "no_answer", "") for a in answers]
        for k, row in enumerate(rows):
            result, answer = results[k], answers[k]
            ref_words, ans_words = words(row.reference), words(answer)
            sim_ref, sim_mean, sim_min = similarities[k]
            out.append(
                {
                    "eval_id": f"{eval_run_id}|{variant}|{row.id}",
                    "eval_run_id": eval_run_id,
                    "train_run_id": run_dir.name,
                    "variant": variant,
                    "base_model": config.model,
                    "threshold": threshold,
                    "snapshot_id": export.snapshot_id,
                    "row_id": row.id,
                    "language": row.language,
                    "domain": row.domain,
                    "source_dataset": row.source_dataset,
                    "prompt": row.prompt_messages[-1]["content"],
                    "answer": answer,
                    "reference": row.reference,
                    "generation_status": "ok" if result.ok else result.reason,
                    "tokens_out": result.tokens_out,
                    "answer_language": languages[k][0],
                    "in_prompt_language": languages[k][1],
                    "judge_score": judged[k][0],
                    "judge_status": judged[k][1],
                    "judge_dimensions": judged[k][2],
                    "answer_words": ans_words if answer is not None else None,
                    "reference_words": ref_words,
                    "length_ratio": ans_words / ref_words if answer and ref_words else None,
                    "sim_reference": sim_ref,
                    "sim_sources_mean": sim_mean,
                    "sim_sources_min": sim_min,
                    "evaluated_at": now,
                    "ingest_date": now.strftime("%Y-%m-%d"),
                }
            )
    table = pa.Table.from_pylist(out, schema=RAW_EVAL_RESULTS_SCHEMA)
    if write:
        lake = Lake.from_settings(settings).ensure()
        path = lake.write_raw("eval_results", table, eval_run_id)
        log.info("evaluate %s: %d rows -> %s", run_dir.name, table.num_rows, path)
    _log_summary(table)
    return table


def _log_summary(table: pa.Table) -> None:
    rows = table.to_pylist()
    for variant in VARIANTS:
        mine = [r for r in rows if r["variant"] == variant]
        matched = [r["in_prompt_language"] for r in mine if r["in_prompt_language"] is not None]
        scores = [r["judge_score"] for r in mine if r["judge_score"] is not None]
        log.info(
            "evaluate %s: %d rows, in prompt language %d/%d, judge scored %d (mean %s)",
            variant,
            len(mine),
            sum(matched),
            len(matched),
            len(scores),
            f"{sum(scores) / len(scores):.2f}" if scores else "-",
        )


# --- the threshold sweep ------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class SweepOutcome:
    threshold: float
    run_id: str | None
    eval_rows: int
    skipped: str | None = None


def sweep(
    config: TrainConfig,
    settings: Settings,
    thresholds: Sequence[float],
    *,
    judge: bool | None = None,
    max_rows: int | None = None,
) -> list[SweepOutcome]:
    """One adapter per judge threshold (rows with judge_score >= t; t=0: all rows, unscored
    included), each evaluated; every eval row records its threshold. A threshold that
    leaves no training row is skipped and reported, the others still run."""
    from synthlake.train.lora import train

    sweep_id = new_run_id()
    outcomes: list[SweepOutcome] = []
    for t in thresholds:
        cfg = config.model_copy(
            update={"min_judge_score": t if t > 0 else None, "name": f"{config.name}-t{t:g}"}
        )
        try:
            result = train(cfg, settings, run_id=f"{cfg.name}-{sweep_id}")
        except TrainingError as exc:
            if "no training rows" not in str(exc):
                raise
            log.warning("sweep: threshold %g skipped: %s", t, exc)
            outcomes.append(SweepOutcome(t, None, 0, skipped=str(exc)))
            continue
        table = evaluate(
            settings,
            result.run_dir,
            judge=judge,
            max_rows=max_rows,
            threshold=float(t),
            eval_run_id=f"eval-{result.run_id}",
        )
        outcomes.append(SweepOutcome(t, result.run_id, table.num_rows))
    return outcomes

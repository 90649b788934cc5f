"""Clusters of 2+ articles into one integrated text each, through the LLM runner.

For every story cluster the integration prompt (``synthlake/prompts/news_integrate_<lang>``,
Italian by default, the English template asking for the sources' language otherwise) gets
the titles and contents of the sources; the answer is the summary. The QA pair is
question = the instruction + the formatted sources, answer = the summary.

**Context budget, in tokens.** One call's prompt plus ``news_summary_max_new_tokens`` must
fit in ``news_summary_context_tokens``. Prompts are counted with the provider's own
tokenizer (``provider.encode``: exact for the local model; for remote models the runner's
stated estimate of about 4 UTF-8 bytes per token). Each source is first cut to its lead
within ``news_summary_source_tokens``: the subtitle and whole paragraphs while they fit, then
the next paragraph cut at a word.

**Recursion.** When a cluster's sources do not fit, they are split by similarity, not in
arbitrary halves: the sources are bisected with 2-way agglomerative clustering on their
embeddings (cosine, average linkage), and each side again, until every part fits. Every
part is summarized; the part summaries become the next level's sources (titled by the
titles they cover, with the mean of their sources' vectors), and the same instruction and
output cue are applied again, until one call holds everything. The number of levels is the
``recursion_depth`` (1 = a single call). Levels run in lockstep across clusters so that each
level is one batch through the runner.

**Validation.** Every answer, partial or final, is checked
(``synthlake.news_integration.validate``):
an empty answer, one in the wrong language or one that echoes the prompt is quarantined
in ``llm_failures`` (reason ``invalid_output``, the rule in the detail) and the cluster gets
no row, so the next run retries it. Answers are validated here rather than by the runner's
``validate=`` hook on purpose: the runner does not cache answers that fail its validator, so
every rerun would pay the model again for the same (greedy, hence identical) answer; here
the raw answer stays cached, a rerun costs no model call, and a new prompt version or
model is what makes the retry produce something new.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from synthlake.embeddings import normalize_rows
from synthlake.errors import SettingsError
from synthlake.lake import Lake, short_id
from synthlake.llm.types import (
    GenerationParams,
    LLMFailure,
    LLMRequest,
    Message,
    left_for_next_run,
)
from synthlake.llm.unfinished import record_unfinished
from synthlake.news_integration.language import NAMES, majority_language
from synthlake.news_integration.text import clean_paragraphs
from synthlake.news_integration.validate import check_summary, clean_summary
from synthlake.prompts import Prompt, PromptError, load_prompt
from synthlake.sampling import seeded_selection

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

STAGE = "summarize"
PROMPT_PREFIX = "news_integrate_"
FALLBACK_LANGUAGE = "en"
MAX_DEPTH = 8
TITLE_TOKENS = 48  # a partial summary's title (the titles it covers) is cut to this
LABELS = {
    "it": ("Titolo", "Contenuto"),
    "en": ("Title", "Content"),
    "fr": ("Titre", "Contenu"),
    "de": ("Titel", "Inhalt"),
    "es": ("Título", "Contenido"),
    "pt": ("Título", "Conteúdo"),
}

SUMMARIES_SCHEMA = pa.schema(
    [
        ("qa_id", pa.string()),
        ("cluster_id", pa.string()),
        ("language", pa.string()),
        ("question", pa.string()),
        ("answer", pa.string()),
        ("source_article_ids", pa.list_(pa.string())),
        ("n_sources", pa.int32()),
        ("recursion_depth", pa.int32()),
        ("n_llm_calls", pa.int32()),
        ("tokens_in", pa.int64()),
        ("tokens_out", pa.int64()),
        ("prompt_id", pa.string()),
        ("prompt_version", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("llm", pa.string()),
        ("generated_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(slots=True)
class Source:
    """One article of a cluster, as the summarizer needs it."""

    article_id: str
    title: str
    content: str
    vector: np.ndarray
    subtitle: str | None = None


@dataclass(slots=True)
class Cluster:
    cluster_id: str
    sources: list[Source]  # in time order


@dataclass(frozen=True, slots=True)
class SummaryConfig:
    context_tokens: int = 2048
    source_tokens: int = 256
    max_new_tokens: int = 160
    language: str = "auto"
    max_depth: int = MAX_DEPTH

    @classmethod
    def from_settings(cls, settings: Settings) -> SummaryConfig:
        return cls(
            context_tokens=settings.news_summary_context_tokens,
            source_tokens=settings.news_summary_source_tokens,
            max_new_tokens=settings.news_summary_max_new_tokens,
            language=settings.news_summary_language,
        )


@dataclass(slots=True)
class _Item:
    """One entry of a prompt's sources: an article lead, or a partial summary."""

    title: str
    text: str
    vector: np.ndarray
    article_ids: tuple[str, ...]


@dataclass(slots=True)
class _Job:
    cluster: Cluster
    language: str
    prompt: Prompt
    labels: tuple[str, str]
    items: list[_Item]
    question: str = ""
    depth: int = 0
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    parts: list[list[_Item]] = field(default_factory=list)
    final: bool = False
    answer: str | None = None
    failure: LLMFailure | None = None


@dataclass(slots=True)
class SummaryRun:
    """What one ``summarize`` call produced: rows to store and counters for the log."""

    rows: pa.Table
    failures: list[LLMFailure]
    requests: int = 0
    cached: int = 0
    unfinished: int = 0  # clusters with no answer for a reason a later run may cure


class TokenCounter:
    """Token counts with the provider's tokenizer (exact locally, estimated remotely)."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self._text: dict[str, int] = {}
        self._base: int | None = None

    def prompt(self, messages: Sequence[Message]) -> int:
        return int(self.provider.encode(tuple(messages)).tokens_in)

    def text(self, text: str) -> int:
        """Tokens ``text`` adds to a prompt."""
        if self._base is None:
            self._base = self.prompt((Message("user", ""),))
        count = self._text.get(text)
        if count is None:
            count = max(0, self.prompt((Message("user", text),)) - self._base)
            if len(self._text) < 100_000:
                self._text[text] = count
        return count

    def cut(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` (whole words) within ``max_tokens``."""
        if self.text(text) <= max_tokens:
            return text
        tokens = text.split(" ")
        lo, hi = 0, len(tokens)
        while lo < hi:  # largest n with count(first n words) <= max_tokens
            mid = (lo + hi + 1) // 2
            if self.text(" ".join(tokens[:mid])) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        return " ".join(tokens[:lo])


def load_integration_prompt(language: str) -> tuple[Prompt, tuple[str, str]]:
    """The prompt for ``language``: its own template, else the English one."""
    try:
        return load_prompt(PROMPT_PREFIX + language), LABELS.get(language, LABELS["en"])
    except PromptError:
        return load_prompt(PROMPT_PREFIX + FALLBACK_LANGUAGE), LABELS.get(language, LABELS["en"])


def cluster_language(cluster: Cluster, config: SummaryConfig) -> str:
    if config.language != "auto":
        return config.language
    texts = [f"{s.title}. {' '.join(clean_paragraphs(s.content)[:1])}" for s in cluster.sources]
    return majority_language(texts, default="it")


def qa_id_for(cluster_id: str, prompt: Prompt, llm: str) -> str:
    return short_id("news-qa", cluster_id, prompt.id, prompt.version, llm, length=24)


class Summarizer:
    """Summarizes clusters level by level through one ``LLMRunner`` (stage 'summarize')."""

    def __init__(self, runner: Any, config: SummaryConfig) -> None:
        self.runner = runner
        self.config = config
        self._counter: TokenCounter | None = None
        self.params = GenerationParams(max_new_tokens=config.max_new_tokens, temperature=0.0)

    @property
    def counter(self) -> TokenCounter:
        if self._counter is None:
            self._counter = TokenCounter(self.runner.provider)
        return self._counter

    @property
    def llm(self) -> str:
        return self.runner.spec.identity  # the model, not its URL: see LLMSpec.identity

    # --- prompts -----------------------------------------------------------------------
    def format_sources(self, items: Sequence[_Item], labels: tuple[str, str]) -> str:
        return "\n\n".join(f"{labels[0]}: {it.title}\n{labels[1]}: {it.text}" for it in items)

    def messages(self, job: _Job, items: Sequence[_Item]) -> tuple[Message, ...]:
        return job.prompt.render(
            sources=self.format_sources(items, job.labels),
            language=NAMES.get(job.language, (job.language, job.language))[1],
        )

    def fits(self, job: _Job, items: Sequence[_Item]) -> bool:
        used = self.counter.prompt(self.messages(job, items))
        return used + self.config.max_new_tokens <= self.config.context_tokens

    def room_for_sources(self, job: _Job) -> int:
        """Tokens left for the sources block in one call (the rest is prompt + answer)."""
        overhead = self.counter.prompt(self.messages(job, []))
        return self.config.context_tokens - self.config.max_new_tokens - overhead

    def _lead_within(self, source: Source, budget: int) -> str:
        """The source's subtitle and opening sentences, cut to ``budget`` tokens."""
        pieces = ([source.subtitle] if source.subtitle else []) + clean_paragraphs(source.content)
        kept: list[str] = []
        for piece in pieces:
            candidate = "\n".join([*kept, piece])
            if self.counter.text(candidate) <= budget:
                kept.append(piece)
                continue
            rest = self.counter.cut(candidate, budget)
            if len(rest) > len("\n".join(kept)):
                kept = [rest]
            break
        return "\n".join(kept).strip()

    # --- planning ----------------------------------------------------------------------
    def _new_job(self, cluster: Cluster) -> _Job:
        language = cluster_language(cluster, self.config)
        prompt, labels = load_integration_prompt(language)
        job = _Job(cluster=cluster, language=language, prompt=prompt, labels=labels, items=[])
        room = self.room_for_sources(job)
        item_overhead = self.counter.text(f"{labels[0]}: \n{labels[1]}: ") + 4
        # A level of partial summaries must always fit two of them, or it could not shrink.
        needed = 2 * (self.config.max_new_tokens + TITLE_TOKENS + item_overhead)
        if room < needed:
            raise SettingsError(
                f"SYNTHLAKE_NEWS_SUMMARY_CONTEXT_TOKENS={self.config.context_tokens} is too "
                f"small: the prompt and an answer of SYNTHLAKE_NEWS_SUMMARY_MAX_NEW_TOKENS="
                f"{self.config.max_new_tokens} leave {room} tokens for sources, and two "
                f"partial summaries need {needed}"
            )
        cap = min(self.config.source_tokens, room - item_overhead)
        for source in cluster.sources:
            title = self.counter.cut(" ".join(source.title.split()), TITLE_TOKENS)
            text = self._lead_within(source, max(16, cap - self.counter.text(title)))
            job.items.append(_Item(title, text, source.vector, (source.article_id,)))
        job.question = self.question(job, job.items)
        return job

    def question(self, job: _Job, items: Sequence[_Item]) -> str:
        """The QA pair's question: the user message, without the data tags around sources."""
        user = next(m.content for m in self.messages(job, items) if m.role == "user")
        return user.replace("<sources>\n", "", 1).replace("\n</sources>", "", 1)

    def partition(self, job: _Job, items: list[_Item]) -> list[list[_Item]]:
        """Split ``items`` by similarity until every part fits one call; keep time order."""
        if len(items) <= 1 or self.fits(job, items):
            return [items]
        left, right = bisect_by_similarity(items)
        return self.partition(job, left) + self.partition(job, right)

    # --- running -----------------------------------------------------------------------
    def summarize(self, clusters: Sequence[Cluster]) -> SummaryRun:
        jobs = [self._new_job(cluster) for cluster in clusters if len(cluster.sources) >= 2]
        run = SummaryRun(rows=SUMMARIES_SCHEMA.empty_table(), failures=[])
        active = list(jobs)
        while active:
            requests: list[LLMRequest] = []
            owners: list[tuple[_Job, int]] = []
            for job in active:
                job.depth += 1
                job.final = self.fits(job, job.items)
                job.parts = [job.items] if job.final else self.partition(job, job.items)
                for k, part in enumerate(job.parts):
                    row_id = (
                        job.cluster.cluster_id
                        if job.final
                        else f"{job.cluster.cluster_id}:{job.depth}.{k + 1}"
                    )
                    requests.append(
                        LLMRequest(
                            row_id=row_id,
                            messages=self.messages(job, part),
                            params=self.params,
                            prompt_id=job.prompt.id,
                            prompt_version=job.prompt.version,
                        )
                    )
                    owners.append((job, k))
            results = self.runner.run(requests)
            run.requests += len(requests)
            answers: dict[int, list[str | None]] = {id(j): [None] * len(j.parts) for j in active}
            for request, (job, k), result in zip(requests, owners, results, strict=True):
                job.calls += 1
                if not result.ok:
                    job.failure = job.failure or result  # the runner has recorded it
                    continue
                run.cached += int(result.cached)
                job.tokens_in += result.tokens_in
                job.tokens_out += result.tokens_out
                text, failure = self._validate(job, request, result)
                if failure is not None:
                    # journaled once whether the answer is fresh or cached: a cached one
                    # may come from a run that died before it could journal the verdict
                    run.failures.append(failure)
                    job.failure = job.failure or failure
                    continue
                answers[id(job)][k] = text
            still: list[_Job] = []
            for job in active:
                if job.failure is not None:
                    continue
                texts = answers[id(job)]
                if job.final:
                    job.answer = texts[0]
                elif job.depth >= self.config.max_depth:
                    job.failure = self._failure(
                        job, job.cluster.cluster_id, f"recursion deeper than {job.depth}", None
                    )
                    run.failures.append(job.failure)
                else:
                    job.items = [
                        self._merge(job, part, text)
                        for part, text in zip(job.parts, texts, strict=True)
                    ]
                    still.append(job)
            active = still
        if run.failures:
            self.runner.record_failures(run.failures)
        run.rows = self._rows([j for j in jobs if j.answer is not None])
        failed = [j for j in jobs if j.answer is None]
        run.unfinished = sum(
            1 for j in failed if j.failure is not None and left_for_next_run(j.failure.reason)
        )
        log.info(
            "news summaries: clusters %d, summarized %d, quarantined %d (%s), requests %d "
            "(cached %d), deepest recursion %d",
            len(jobs),
            len(jobs) - len(failed),
            len(failed),
            ", ".join(sorted({_reason_code(j.failure) for j in failed})) or "-",
            run.requests,
            run.cached,
            max((j.depth for j in jobs), default=0),
        )
        return run

    def _merge(self, job: _Job, part: list[_Item], summary: str) -> _Item:
        titles = "; ".join(dict.fromkeys(it.title for it in part))
        vector = normalize_rows(np.mean([it.vector for it in part], axis=0)[None, :])[0]
        ids = tuple(a for it in part for a in it.article_ids)
        return _Item(self.counter.cut(titles, TITLE_TOKENS), summary, vector, ids)

    def _validate(
        self, job: _Job, request: LLMRequest, result: Any
    ) -> tuple[str, LLMFailure | None]:
        """The cleaned answer, and the failure to quarantine when it is not a summary."""
        messages = request.messages
        user = next(m.content for m in messages if m.role == "user")  # type: ignore[union-attr]
        instruction = user.split("\n\n", 1)[0]
        cue = user.rstrip().splitlines()[-1]
        text = clean_summary(result.text, cue)
        verdict = check_summary(
            text,
            instruction=instruction,
            prompt_text=user,
            language=job.language,
            labels=job.labels,
            cue=cue,
        )
        if verdict.ok:
            return text, None
        detail = (
            f"{verdict.code}: cluster {job.cluster.cluster_id!r} (call {request.row_id!r}, level "
            f"{job.depth}): {verdict.detail}; the cluster gets no QA row and is retried next run"
        )
        return text, self._failure(job, request.row_id, detail, result.text)

    def _failure(self, job: _Job, row_id: str, detail: str, raw: str | None) -> LLMFailure:
        return LLMFailure(
            row_id=row_id,
            reason="invalid_output",
            detail=detail,
            raw_text=raw,
            provider=self.runner.spec.provider,
            model=self.runner.spec.model,
            prompt_id=job.prompt.id,
            prompt_version=job.prompt.version,
            attempts=1,
        )

    def _rows(self, jobs: Sequence[_Job]) -> pa.Table:
        now = datetime.now(UTC)
        spec = self.runner.spec
        rows = [
            {
                "qa_id": qa_id_for(j.cluster.cluster_id, j.prompt, self.llm),
                "cluster_id": j.cluster.cluster_id,
                "language": j.language,
                "question": j.question,
                "answer": j.answer,
                "source_article_ids": [s.article_id for s in j.cluster.sources],
                "n_sources": len(j.cluster.sources),
                "recursion_depth": j.depth,
                "n_llm_calls": j.calls,
                "tokens_in": j.tokens_in,
                "tokens_out": j.tokens_out,
                "prompt_id": j.prompt.id,
                "prompt_version": j.prompt.version,
                "provider": spec.provider,
                "model": spec.model,
                "llm": self.llm,
                "generated_at": now,
            }
            for j in jobs
        ]
        return pa.Table.from_pylist(rows, schema=SUMMARIES_SCHEMA)


def bisect_by_similarity(items: Sequence[_Item]) -> tuple[list[_Item], list[_Item]]:
    """Two groups of similar items (2-way average-linkage clustering on cosine distance).

    Each group keeps the items' order. Degenerate inputs (identical vectors) are halved.
    """
    from sklearn.cluster import AgglomerativeClustering

    items = list(items)
    if len(items) < 2:
        return items, []
    if len(items) == 2:
        return items[:1], items[1:]
    x = normalize_rows(np.stack([it.vector for it in items]))
    distance = np.clip(1.0 - (x @ x.T).astype(np.float64), 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    labels = AgglomerativeClustering(
        n_clusters=2, metric="precomputed", linkage="average"
    ).fit_predict(distance)
    first = labels[0]
    left = [it for it, label in zip(items, labels, strict=True) if label == first]
    right = [it for it, label in zip(items, labels, strict=True) if label != first]
    if not right:
        half = len(items) // 2
        return items[:half], items[half:]
    return left, right


def _reason_code(failure: LLMFailure | None) -> str:
    if failure is None:
        return "?"
    if failure.reason == "invalid_output" and ":" in failure.detail:
        return failure.detail.split(":", 1)[0]
    return failure.reason


def clusters_from_sources(sources: pa.Table) -> list[Cluster]:
    """``int_news_cluster_sources`` rows (one per cluster member) -> ``Cluster`` objects."""
    from synthlake.news_integration.embed import vectors_of

    if sources.num_rows == 0:
        return []
    sources = sources.sort_by([("cluster_id", "ascending"), ("source_position", "ascending")])
    vectors = vectors_of(sources)
    data = sources.select(["cluster_id", "article_id", "title", "subtitle", "content"]).to_pydict()
    clusters: dict[str, Cluster] = {}
    for i, cid in enumerate(data["cluster_id"]):
        cluster = clusters.setdefault(cid, Cluster(cid, []))
        cluster.sources.append(
            Source(
                article_id=data["article_id"][i],
                title=data["title"][i] or "",
                content=data["content"][i] or "",
                vector=vectors[i],
                subtitle=data["subtitle"][i],
            )
        )
    return list(clusters.values())


def summarize_cluster_sources(
    sources: pa.Table,
    settings: Settings,
    *,
    skip_qa_ids: set[str] | frozenset[str] = frozenset(),
    runner: Any = None,
) -> pa.Table:
    """The dbt model's work: summarize every multi-article cluster not summarized yet.

    A cluster is skipped when its qa_id (cluster, prompt version, LLM) is already stored,
    so a rerun sends nothing; nothing is loaded at all when every cluster is done.
    """
    config = SummaryConfig.from_settings(settings)
    llm = settings.llm_for(STAGE).identity
    stories = [c for c in clusters_from_sources(sources) if len(c.sources) >= 2]
    chosen = set(
        seeded_selection([c.cluster_id for c in stories], settings.summarize_max_clusters, seed=0)
    )
    if len(chosen) < len(stories):
        log.info(
            "news summaries: %d of %d stories in the seeded selection "
            "(SYNTHLAKE_SUMMARIZE_MAX_CLUSTERS)",
            len(chosen),
            len(stories),
        )
    todo = []
    for cluster in stories:
        if cluster.cluster_id not in chosen:
            continue
        prompt, _ = load_integration_prompt(cluster_language(cluster, config))
        if qa_id_for(cluster.cluster_id, prompt, llm) not in skip_qa_ids:
            todo.append(cluster)
    if not todo:
        log.info("news summaries: nothing new to summarize")
        record_unfinished(Lake.from_settings(settings), STAGE, 0)
        return SUMMARIES_SCHEMA.empty_table()
    if runner is None:
        from synthlake.llm.runner import LLMRunner

        runner = LLMRunner(settings, stage=STAGE)
    run = Summarizer(runner, config).summarize(todo)
    record_unfinished(Lake.from_settings(settings), STAGE, run.unfinished)
    runner.check_health()
    return run.rows


__all__ = [
    "SUMMARIES_SCHEMA",
    "Cluster",
    "Source",
    "SummaryConfig",
    "SummaryRun",
    "Summarizer",
    "TokenCounter",
    "bisect_by_similarity",
    "clusters_from_sources",
    "load_integration_prompt",
    "qa_id_for",
    "summarize_cluster_sources",
]

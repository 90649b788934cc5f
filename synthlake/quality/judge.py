"""The LLM judge: an AlpaGasus-style 0-5 rating of one quality dimension of a QA pair.

The judge reads the instruction, its input and the response (for news, the sources too)
and answers with the score alone on the first line, then an explanation. The answer is
parsed strictly (``parse_judgement``): the first non-blank line must be a score from 0 to
5 (halves allowed) in one of a few unambiguous spellings, or the answer is invalid. A
number is never fished out of the explanation and a malformed first line is never
"repaired" by guessing: a judge that cannot follow the format has not rated the pair. An
invalid answer is sent back once or more (``judge_max_retries``) with the parse error, and
then quarantined through the LLM layer (``llm_failures``, reason ``invalid_output``, the
raw text kept) and stored here with ``judge_status = 'quarantined'`` and no score, so an
incremental rebuild does not pay for it again.

Every row records the judge (provider, model), the prompt id and version and a hash of
what was judged; a pair is judged again only when one of those changes.
"""

from __future__ import annotations

import csv
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from synthlake.errors import InvalidOutput, SettingsError
from synthlake.lake import Lake
from synthlake.llm.types import left_for_next_run
from synthlake.llm.unfinished import record_unfinished
from synthlake.sampling import seeded_selection
from synthlake.settings import PROJECT_DIR

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

SCORE_MIN = 0.0
SCORE_MAX = 5.0
DOMAINS = ("instructions", "news")
PROMPT_FOR_DOMAIN = {"instructions": "judge", "news": "judge_news"}
DIMENSIONS_SEED = PROJECT_DIR / "seeds" / "judge_dimensions.csv"
EXPLANATION_LIMIT = 4000  # characters of explanation kept per row
JUDGE_STATUSES = ("ok", "quarantined")

LANGUAGE_NAMES = {
    "en": "English",
    "it": "Italian",
    "fr": "French",
    "es": "Spanish",
    "de": "German",
    "pt": "Portuguese",
    "nl": "Dutch",
}

JUDGEMENTS_SCHEMA = pa.schema(
    [
        ("judgement_id", pa.string()),  # qa_id|dimension: the grain and the LLM row id
        ("qa_id", pa.string()),
        ("domain", pa.string()),
        ("dimension", pa.string()),
        ("qa_hash", pa.string()),  # what was judged; a changed pair is judged again
        ("judge_status", pa.string()),  # 'ok' or 'quarantined'
        ("score", pa.float64()),  # null unless ok
        ("explanation", pa.string()),
        ("failure_reason", pa.string()),  # llm_failures.reason when quarantined
        ("failure_detail", pa.string()),
        ("raw_text", pa.string()),  # the judge's last answer, as given
        ("repairs", pa.int64()),  # answers sent back with their parse error
        ("judge_provider", pa.string()),
        ("judge_model", pa.string()),
        ("judge_llm", pa.string()),  # provider:model as configured (the incremental key)
        ("prompt_id", pa.string()),
        ("prompt_version", pa.string()),
        ("cached", pa.bool_()),
        ("judged_at", pa.timestamp("us", tz="UTC")),
    ]
)


# --- strict parsing ----------------------------------------------------------------------


class JudgeParseError(InvalidOutput, ValueError):
    """The judge's answer does not start with a score line; the message is sent back.

    Also a ``ValueError``: ``parse_judgement`` is public and callers catch that."""


@dataclass(frozen=True, slots=True)
class Judgement:
    score: float
    explanation: str


# The score lines a judge may start with; a local model is held to them by constrained
# decoding (GenerationParams.answer_prefixes), then writes its explanation freely. Remote
# judges are asked for the same format by the prompt and parsed strictly below.
SCORE_PREFIXES = tuple(f"{half / 2:g}\n" for half in range(11))

_NUMBER = r"[-+]?\d+(?:[.,]\d+)?"
# The whole first line, in one of the unambiguous spellings: "4", "4.5", "Score: 4",
# "Accuracy score = 4/5", "**4**", "4 out of 5", "[4]". Nothing else may share the line.
_SCORE_LINE = re.compile(
    rf"""^
    (?:(?:[a-z][a-z -]{{0,30}}\s)?(?:score|rating)\s*[:=]\s*)?   # optional label
    (?P<open>\*\*|\[|\()?\s*
    (?P<value>{_NUMBER})
    \s*(?P<close>\*\*|\]|\))?
    (?:\s*(?:/|out\s+of)\s*(?P<scale>{_NUMBER}))?
    \s*\.?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_EXPLANATION_LABEL = re.compile(
    r"^\s*(?:\*\*)?explanation\s*(?::\s*\*\*|\*\*\s*:|:)\s*", re.IGNORECASE
)
_PAIRS = {None: None, "**": "**", "[": "]", "(": ")"}


def parse_judgement(text: str | None) -> Judgement:
    """The score on the first non-blank line and the explanation after it; else raise.

    Raises ``JudgeParseError`` with a message written for the judge (it is sent back
    as the repair request) for: no answer, a first line that is not only a score
    ("four", "4 because...", "I would say 4"), a score outside 0-5 ("-1", "7", "4/10")
    or between the halves ("3.7").
    """
    if text is None or not text.strip():
        raise JudgeParseError("the answer is empty; the first line must be the score (0 to 5)")
    lines = text.strip().splitlines()
    first = lines[0].strip().strip("`").strip()
    match = _SCORE_LINE.match(first)
    if match is None or _PAIRS[match.group("open")] != match.group("close"):
        shown = first if len(first) <= 80 else first[:77] + "..."
        raise JudgeParseError(
            f"the first line must be only the score, a number from 0 to 5 such as 4 or 3.5; "
            f"got {shown!r}"
        )
    scale = match.group("scale")
    if scale is not None and _number(scale) != SCORE_MAX:
        raise JudgeParseError(
            f"the score must be on the 0 to 5 scale; got {first!r} (another scale)"
        )
    value = _number(match.group("value"))
    if not SCORE_MIN <= value <= SCORE_MAX:
        raise JudgeParseError(f"the score must be between 0 and 5; got {match.group('value')}")
    if value * 2 != int(value * 2):
        raise JudgeParseError(
            f"the score must be a whole number or a half (e.g. 3 or 3.5); got "
            f"{match.group('value')}"
        )
    explanation = "\n".join(lines[1:]).strip()
    explanation = _EXPLANATION_LABEL.sub("", explanation, count=1).strip()
    return Judgement(score=value, explanation=explanation[:EXPLANATION_LIMIT])


def _number(text: str) -> float:
    return float(text.replace(",", "."))


# --- dimensions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dimension:
    """One quality the judge can rate (a row of ``seeds/judge_dimensions.csv``)."""

    name: str
    domains: frozenset[str]
    criteria: str


def load_dimensions(rows: Iterable[Mapping[str, Any]] | Path | None = None) -> dict[str, Dimension]:
    """Dimensions from the seed rows (the dbt seed table, or the CSV file by default)."""
    if rows is None or isinstance(rows, Path):
        path = rows or DIMENSIONS_SEED
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    out: dict[str, Dimension] = {}
    for row in rows:
        domains = frozenset(d.strip() for d in str(row["domains"]).split(";") if d.strip())
        unknown = domains - set(DOMAINS)
        if unknown:
            raise SettingsError(f"judge dimension {row['dimension']!r}: unknown domains {unknown}")
        out[str(row["dimension"])] = Dimension(str(row["dimension"]), domains, str(row["criteria"]))
    return out


def dimensions_for(
    settings: Settings, domain: str, known: Mapping[str, Dimension]
) -> list[Dimension]:
    """The dimensions configured for ``domain``; a name the seed lacks is a settings error."""
    names = (
        settings.judge_dimensions_news
        if domain == "news"
        else settings.judge_dimensions_instructions
    )
    setting = f"SYNTHLAKE_JUDGE_DIMENSIONS_{domain.upper()}"
    out = []
    for name in names:
        dimension = known.get(name)
        if dimension is None:
            raise SettingsError(
                f"{setting}: unknown judge dimension {name!r}; seeds/judge_dimensions.csv has "
                + ", ".join(sorted(known))
            )
        if domain not in dimension.domains:
            raise SettingsError(f"{setting}: dimension {name!r} does not apply to {domain}")
        out.append(dimension)
    return out


# --- requests -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JudgeTask:
    """One (QA pair, dimension) to rate."""

    qa_id: str
    domain: str
    dimension: Dimension
    qa_hash: str
    question: str
    input: str | None
    answer: str
    language: str | None
    sources: str = ""

    @property
    def judgement_id(self) -> str:
        return f"{self.qa_id}|{self.dimension.name}"


def language_name(code: str | None) -> str:
    if not code:
        return "the language of the instruction"
    return LANGUAGE_NAMES.get(code, code)


def render_sources(sources: Sequence[Mapping[str, Any]] | None, limit_chars: int) -> str:
    """The news sources as the judge reads them: numbered title + (cut) content."""
    parts = []
    for i, source in enumerate(sources or (), start=1):
        title = (source.get("title") or "").strip()
        outlet = (source.get("outlet") or "").strip()
        content = (source.get("content") or "").strip()
        if len(content) > limit_chars:
            cut = content[:limit_chars]
            content = cut[: cut.rfind(" ")] if " " in cut else cut
            content += " [...]"
        head = f"Source {i}" + (f" ({outlet})" if outlet else "") + f": {title}"
        parts.append(f"{head}\n{content}")
    return "\n\n".join(parts)


def build_request(task: JudgeTask, prompt: Any, max_new_tokens: int) -> Any:
    """The ``LLMRequest`` that asks the judge about one task (row id = judgement id)."""
    from synthlake.llm.types import GenerationParams

    values = {
        "dimension": task.dimension.name,
        "criteria": task.dimension.criteria,
        "language": language_name(task.language),
        "instruction": task.question,
        "input": task.input or "(none)",
        "response": task.answer,
    }
    if "sources" in prompt.fields:
        values["sources"] = task.sources or "(no sources)"
    base = prompt.params
    params = GenerationParams(
        max_new_tokens=max_new_tokens,
        temperature=base.temperature,
        top_p=base.top_p,
        stop=base.stop,
        seed=base.seed,
        answer_prefixes=SCORE_PREFIXES,
    )
    return prompt.request(task.judgement_id, values, params=params)


def _judged_question(domain: str, question: str) -> str:
    """What the judge reads as the instruction. A news question is the integration
    instruction followed by the formatted sources; the judge gets the sources on their own
    (cut to their lead), so only the instruction, the first paragraph, is kept here."""
    if domain == "news":
        return question.split("\n\n", 1)[0].strip()
    return question


def judged_pair_ids(qa_ids: Iterable[str], settings: Settings) -> list[str]:
    """The pairs a build judges among ``qa_ids``: at most ``judge_max_pairs``, seeded.

    It needs the ids alone: the model reads every pair's id, then the texts of these pairs
    only (at 760k pairs, every text as Python objects cost gigabytes for 2,000 judged)."""
    return seeded_selection(qa_ids, settings.judge_max_pairs, seed=0)


def plan_tasks(
    pairs: pa.Table,
    known: Mapping[str, Dimension],
    settings: Settings,
    *,
    done: pa.Table | None = None,
    judge_llm: str,
    prompt_versions: Mapping[str, str],
) -> list[JudgeTask]:
    """Tasks for every pair x configured dimension that has no current judgement.

    ``done`` holds ``judgement_id, qa_hash, judge_llm, prompt_version`` of stored rows;
    a stored row counts only if the pair, the judge and the prompt version are unchanged.
    """
    current: set[tuple[str, str, str, str]] = set()
    if done is not None and done.num_rows:
        cols = [
            done.column(c).to_pylist()
            for c in ("judgement_id", "qa_hash", "judge_llm", "prompt_version")
        ]
        current = set(zip(*cols, strict=True))
    per_domain = {domain: dimensions_for(settings, domain, known) for domain in DOMAINS}
    tasks: list[JudgeTask] = []
    if settings.judge_max_pairs is not None:  # only the chosen pairs become Python objects
        chosen = judged_pair_ids(pairs.column("qa_id").to_pylist(), settings)
        wanted = pa.array(chosen, pa.string())
        pairs = pairs.filter(pc.is_in(pairs.column("qa_id"), value_set=wanted))
    for row in pairs.to_pylist():
        domain = row["domain"]
        for dimension in per_domain.get(domain, []):
            task = JudgeTask(
                qa_id=row["qa_id"],
                domain=domain,
                dimension=dimension,
                qa_hash=row["qa_hash"],
                question=_judged_question(domain, row.get("question") or ""),
                input=row.get("input"),
                answer=row.get("answer") or "",
                language=row.get("language"),
                sources=render_sources(row.get("sources"), settings.judge_source_chars)
                if domain == "news"
                else "",
            )
            key = (task.judgement_id, task.qa_hash, judge_llm, prompt_versions[domain])
            if key not in current:
                tasks.append(task)
    limit = settings.judge_limit
    if limit is not None and len(tasks) > limit:
        log.info(
            "judge: %d pairs to judge, %d this build (SYNTHLAKE_JUDGE_LIMIT)", len(tasks), limit
        )
        tasks = tasks[:limit]
    return tasks


# --- running --------------------------------------------------------------------------


def run_tasks(
    tasks: Sequence[JudgeTask],
    settings: Settings,
    *,
    runner: Any = None,
    stage: str = "judge",
    spec: Any = None,
) -> list[Any]:
    """Ask the judge about every task: one ``StructuredOutput`` or ``LLMFailure`` each."""
    from synthlake.llm.structured import complete_structured
    from synthlake.prompts import load_prompt

    if not tasks:
        return []
    prompts = {domain: load_prompt(name) for domain, name in PROMPT_FOR_DOMAIN.items()}
    requests = [
        build_request(task, prompts[task.domain], settings.judge_max_new_tokens) for task in tasks
    ]
    if runner is None:
        from synthlake.llm.runner import LLMRunner

        runner = LLMRunner(settings, stage=stage, spec=spec)
    results = complete_structured(
        requests, parse_judgement, runner=runner, max_repairs=settings.judge_max_retries
    )
    runner.check_health()
    return results


def judge_pairs(
    pairs: pa.Table,
    dimension_rows: Iterable[Mapping[str, Any]] | None,
    settings: Settings,
    *,
    done: pa.Table | None = None,
    runner: Any = None,
) -> pa.Table:
    """Judge the pairs of ``int_qa_pairs_unioned`` that have no current judgement.

    Returns rows of ``JUDGEMENTS_SCHEMA``: scored (``ok``) and quarantined rows; pairs
    whose request failed transiently (rate limit, timeout, budget...) are left out, so
    the next build asks again. Nothing is loaded or sent when there is nothing to judge.
    """
    from synthlake.prompts import load_prompt

    known = load_dimensions(dimension_rows)
    judge_llm = settings.llm_for("judge").identity
    versions = {d: load_prompt(name).version for d, name in PROMPT_FOR_DOMAIN.items()}
    tasks = plan_tasks(
        pairs, known, settings, done=done, judge_llm=judge_llm, prompt_versions=versions
    )
    if not tasks:
        log.info("judge: nothing new to judge (0 LLM calls)")
        record_unfinished(Lake.from_settings(settings), "judge", 0)
        return JUDGEMENTS_SCHEMA.empty_table()
    started, cpu_started = time.perf_counter(), time.process_time()
    results = run_tasks(tasks, settings, runner=runner)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    now = datetime.now(UTC)
    rows = []
    transient = 0
    for task, result in zip(tasks, results, strict=True):
        row = result_row(
            task, result, judge_llm=judge_llm, judged_at=now, repairs=settings.judge_max_retries
        )
        if row is None:
            transient += 1
        else:
            rows.append(row)
    counts = {s: sum(1 for r in rows if r["judge_status"] == s) for s in JUDGE_STATUSES}
    log.info(
        "judge (%s): %d tasks in %.1f s (process CPU %.1f s): %d scored, %d quarantined, "
        "%d left for the next build",
        judge_llm,
        len(tasks),
        seconds,
        cpu_seconds,
        counts["ok"],
        counts["quarantined"],
        transient,
    )
    record_unfinished(Lake.from_settings(settings), "judge", transient)
    return pa.Table.from_pylist(rows, schema=JUDGEMENTS_SCHEMA)


def result_row(
    task: JudgeTask, result: Any, *, judge_llm: str, judged_at: datetime, repairs: int
) -> dict[str, Any] | None:
    """The stored row of one task's outcome (None when the judge gave no answer for a
    reason a later run may cure: transient or configuration failure).

    ``repairs`` is how many times an invalid answer was sent back before quarantine.
    """
    base = {
        "judgement_id": task.judgement_id,
        "qa_id": task.qa_id,
        "domain": task.domain,
        "dimension": task.dimension.name,
        "qa_hash": task.qa_hash,
        "judge_llm": judge_llm,
        "judged_at": judged_at,
    }
    if result.ok:
        response = result.response
        return base | {
            "judge_status": "ok",
            "score": float(result.value.score),
            "explanation": result.value.explanation,
            "raw_text": response.text,
            "repairs": int(result.repairs),
            "judge_provider": response.provider,
            "judge_model": response.model,
            "prompt_id": response.prompt_id,
            "prompt_version": response.prompt_version,
            "cached": bool(response.cached),
        }
    if left_for_next_run(result.reason):
        return None
    return base | {
        "judge_status": "quarantined",
        "failure_reason": result.reason,
        "failure_detail": result.detail,
        "raw_text": result.raw_text,
        "repairs": repairs if result.reason == "invalid_output" else 0,
        "judge_provider": result.provider,
        "judge_model": result.model,
        "prompt_id": result.prompt_id,
        "prompt_version": result.prompt_version,
        "cached": False,
    }


__all__ = [
    "JUDGEMENTS_SCHEMA",
    "Dimension",
    "JudgeParseError",
    "JudgeTask",
    "Judgement",
    "build_request",
    "dimensions_for",
    "judge_pairs",
    "load_dimensions",
    "parse_judgement",
    "plan_tasks",
    "run_tasks",
]

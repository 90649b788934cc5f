"""How far the configured judge can be trusted: its agreement with labelled scores.

The labelled set (``SYNTHLAKE_JUDGE_CALIBRATION_FILE``, JSONL) holds instruction/response
pairs (and news summaries with their sources) with the score a careful person gives them,
including the classic failures: a wrong answer stated confidently, an answer in the wrong
language, a list that ignores the asked length, a refusal, a summary that invents facts.
``calibrate`` sends them through the same prompts and strict parser as the pipeline's
judge and reports:

- coverage: how many answers parsed (the rest are quarantined, as in the pipeline);
- agreement with the labels on the parsed ones: exact, within 1 point, Cohen's kappa
  (unweighted, and quadratic-weighted, which credits near misses on an ordinal scale);
- length bias: the correlation of the judge's score with the response length, beside the
  same correlation for the human scores (a judge that likes long answers shows a larger
  one than the labels justify);
- for each candidate threshold, the precision and recall of "judge >= t" at finding the
  pairs a person rated usable (>= 4): the figures ``SYNTHLAKE_JUDGE_MIN_SCORE`` is chosen
  from;
- optionally a second judge, and the agreement between the two.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthlake.errors import SettingsError
from synthlake.quality.judge import JudgeTask, load_dimensions, render_sources, run_tasks

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

USABLE = 4.0  # a labelled score at or above this is a pair worth training on
THRESHOLDS = (2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)
CATEGORIES = tuple(range(6))


@dataclass(frozen=True, slots=True)
class CalibrationItem:
    id: str
    domain: str
    dimension: str
    language: str
    instruction: str
    input: str | None
    response: str
    human_score: float
    case: str
    sources: tuple[dict[str, Any], ...] = ()


def load_items(path: Path) -> list[CalibrationItem]:
    """The labelled set; a malformed line is an error naming the file and line."""
    if not path.is_file():
        raise SettingsError(f"SYNTHLAKE_JUDGE_CALIBRATION_FILE={path} does not exist")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            items.append(
                CalibrationItem(
                    id=str(data["id"]),
                    domain=data.get("domain", "instructions"),
                    dimension=data.get("dimension", "accuracy"),
                    language=data.get("language", "en"),
                    instruction=data["instruction"],
                    input=data.get("input"),
                    response=data["response"],
                    human_score=float(data["human_score"]),
                    case=data.get("case", ""),
                    sources=tuple(data.get("sources") or ()),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise SettingsError(f"{path}:{number}: not a calibration item ({exc})") from None
    if not items:
        raise SettingsError(f"{path} holds no calibration item")
    return items


# --- statistics -----------------------------------------------------------------------


def _category(score: float) -> int:
    """0-5 category of a score; halves go up (3.5 -> 4), as a person would round."""
    return int(math.floor(score + 0.5))


def cohen_kappa(
    a: Sequence[float], b: Sequence[float], *, weights: str | None = None
) -> float | None:
    """Cohen's kappa of two raters over the categories 0-5 (None when undefined).

    ``weights='quadratic'`` gives the weighted kappa: a disagreement of d points costs
    (d/5)^2 instead of 1.
    """
    if len(a) != len(b) or not a:
        return None
    n = len(a)
    ca, cb = [_category(x) for x in a], [_category(x) for x in b]
    k = len(CATEGORIES)

    def cost(i: int, j: int) -> float:
        if weights == "quadratic":
            return ((i - j) / (k - 1)) ** 2
        return 0.0 if i == j else 1.0

    observed = sum(cost(i, j) for i, j in zip(ca, cb, strict=True)) / n
    count_a, count_b = Counter(ca), Counter(cb)
    expected = sum(cost(i, j) * count_a[i] * count_b[j] for i in CATEGORIES for j in CATEGORIES) / (
        n * n
    )
    if expected == 0:
        return None  # both raters constant and equal: agreement by construction
    return 1.0 - observed / expected


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    if len(x) != len(y) or len(x) < 3:
        return None
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxx = sum((v - mx) ** 2 for v in x)
    syy = sum((v - my) ** 2 for v in y)
    if sxx == 0 or syy == 0:
        return None
    return sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / math.sqrt(sxx * syy)


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    return pearson(_ranks(x), _ranks(y)) if len(x) == len(y) else None


@dataclass(slots=True)
class Agreement:
    n: int
    exact: float | None
    within_1: float | None
    kappa: float | None
    weighted_kappa: float | None
    mean_difference: float | None  # judge - reference: > 0 means the judge is lenient

    @classmethod
    def of(cls, judge: Sequence[float], reference: Sequence[float]) -> Agreement:
        n = len(judge)
        if n == 0:
            return cls(0, None, None, None, None, None)
        return cls(
            n=n,
            exact=sum(1 for j, r in zip(judge, reference, strict=True) if j == r) / n,
            within_1=sum(1 for j, r in zip(judge, reference, strict=True) if abs(j - r) <= 1) / n,
            kappa=cohen_kappa(judge, reference),
            weighted_kappa=cohen_kappa(judge, reference, weights="quadratic"),
            mean_difference=sum(j - r for j, r in zip(judge, reference, strict=True)) / n,
        )


@dataclass(slots=True)
class ThresholdRow:
    threshold: float
    kept: int  # scored items with judge >= threshold
    precision: float | None  # of the kept, the share a person rated usable
    recall: float | None  # of the usable (scored) items, the share kept
    f1: float | None


@dataclass(slots=True)
class JudgeRun:
    """One judge's answers on the labelled set."""

    llm: str
    scores: list[float | None]  # per item, None when quarantined
    explanations: list[str | None]
    failures: dict[str, int]
    repaired: int  # items whose answer parsed only after a repair request
    agreement: Agreement | None = None
    length_bias: float | None = None  # Spearman(judge score, response chars)
    thresholds: list[ThresholdRow] = field(default_factory=list)
    recommended_threshold: float | None = None

    @property
    def n_scored(self) -> int:
        return sum(1 for s in self.scores if s is not None)


@dataclass(slots=True)
class CalibrationReport:
    path: str
    n_items: int
    human_scores: list[float]
    human_length_bias: float | None
    judge: JudgeRun
    second: JudgeRun | None = None
    inter_judge: Agreement | None = None
    items: list[CalibrationItem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("items")
        return data

    # --- rendering --------------------------------------------------------------------
    def lines(self) -> list[str]:
        """The report as plain text lines (logs, files, terminals without rich)."""
        out = [f"judge calibration on {self.n_items} labelled items ({self.path})"]
        out.append(
            f"human labels: mean {_mean(self.human_scores):.2f}; "
            f"Spearman(score, length) {_fmt(self.human_length_bias)}"
        )
        for run in filter(None, (self.judge, self.second)):
            out.append("")
            out.extend(_run_lines(run, self.n_items))
        if self.inter_judge is not None and self.second is not None:
            a = self.inter_judge
            out.append("")
            out.append(
                f"inter-judge ({self.judge.llm} vs {self.second.llm}) on {a.n} items both scored: "
                f"exact {_pct(a.exact)}, within 1 {_pct(a.within_1)}, kappa {_fmt(a.kappa)}, "
                f"weighted kappa {_fmt(a.weighted_kappa)}"
            )
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.table import Table

        yield f"[bold]judge calibration[/] on {self.n_items} labelled items ({self.path})"
        runs = [r for r in (self.judge, self.second) if r is not None]
        table = Table(title="agreement with the labels (scored items)")
        table.add_column("figure")
        for run in runs:
            table.add_column(run.llm, justify="right")
        rows = [
            ("scored / items", lambda r: f"{r.n_scored}/{self.n_items}"),
            ("parsed after a repair", lambda r: str(r.repaired)),
            ("quarantined", lambda r: _fmt_counts(r.failures)),
            ("exact", lambda r: _pct(r.agreement.exact if r.agreement else None)),
            ("within 1", lambda r: _pct(r.agreement.within_1 if r.agreement else None)),
            ("Cohen's kappa", lambda r: _fmt(r.agreement.kappa if r.agreement else None)),
            (
                "weighted kappa (quadratic)",
                lambda r: _fmt(r.agreement.weighted_kappa if r.agreement else None),
            ),
            (
                "mean judge - label",
                lambda r: _fmt(r.agreement.mean_difference if r.agreement else None),
            ),
            ("Spearman(score, length)", lambda r: _fmt(r.length_bias)),
            ("recommended threshold", lambda r: _fmt(r.recommended_threshold, ".1f")),
        ]
        for name, getter in rows:
            table.add_row(name, *[getter(run) for run in runs])
        table.add_row(
            "labels: Spearman(score, length)", *[_fmt(self.human_length_bias)] * len(runs)
        )
        yield table
        thresholds = Table(title=f"'judge >= t' as a filter for usable pairs (label >= {USABLE:g})")
        thresholds.add_column("t", justify="right")
        for run in runs:
            thresholds.add_column(f"{run.llm}: kept / precision / recall", justify="right")
        for i, t in enumerate(THRESHOLDS):
            cells = []
            for run in runs:
                row = run.thresholds[i] if i < len(run.thresholds) else None
                cells.append(
                    "-"
                    if row is None
                    else f"{row.kept} / {_pct(row.precision)} / {_pct(row.recall)}"
                )
            thresholds.add_row(f"{t:g}", *cells)
        yield thresholds
        if self.inter_judge is not None:
            a = self.inter_judge
            yield (
                f"inter-judge agreement on {a.n} items both scored: exact {_pct(a.exact)}, "
                f"within 1 {_pct(a.within_1)}, kappa {_fmt(a.kappa)}, "
                f"weighted kappa {_fmt(a.weighted_kappa)}"
            )

    def render(self, console: Any = None) -> None:
        """Print the report with rich (tables)."""
        from rich.console import Console

        (console or Console()).print(self)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _fmt_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items())) or "0"


def _run_lines(run: JudgeRun, n_items: int) -> list[str]:
    a = run.agreement
    lines = [
        f"judge {run.llm}: {run.n_scored}/{n_items} answers parsed "
        f"({run.repaired} after a repair); quarantined: {_fmt_counts(run.failures)}"
    ]
    if a is not None and a.n:
        lines.append(
            f"  agreement on {a.n} scored: exact {_pct(a.exact)}, within 1 {_pct(a.within_1)}, "
            f"kappa {_fmt(a.kappa)}, weighted kappa {_fmt(a.weighted_kappa)}, "
            f"mean judge - label {_fmt(a.mean_difference)}"
        )
        lines.append(
            f"  length bias: Spearman(judge score, response length) {_fmt(run.length_bias)}"
        )
        lines.append(
            f"  threshold t: kept / precision / recall of 'judge >= t' "
            f"(usable: label >= {USABLE:g})"
        )
        for row in run.thresholds:
            lines.append(
                f"    {row.threshold:g}: {row.kept} / {_pct(row.precision)} / {_pct(row.recall)}"
            )
        lines.append(f"  recommended threshold (best F1): {_fmt(run.recommended_threshold, '.1f')}")
    else:
        lines.append("  no answer parsed: agreement cannot be computed")
    return lines


# --- running --------------------------------------------------------------------------


def _tasks(items: Sequence[CalibrationItem], settings: Settings) -> list[JudgeTask]:
    known = load_dimensions()
    tasks = []
    for item in items:
        dimension = known.get(item.dimension)
        if dimension is None:
            raise SettingsError(f"calibration item {item.id}: unknown dimension {item.dimension!r}")
        tasks.append(
            JudgeTask(
                qa_id=f"calibration:{item.id}",
                domain=item.domain,
                dimension=dimension,
                qa_hash="",
                question=item.instruction,
                input=item.input,
                answer=item.response,
                language=item.language,
                sources=render_sources(item.sources, settings.judge_source_chars),
            )
        )
    return tasks


def threshold_table(
    judge: Sequence[float], human: Sequence[float]
) -> tuple[list[ThresholdRow], float | None]:
    """Precision/recall of 'judge >= t' at finding usable pairs, and the best-F1 t."""
    rows = []
    usable = sum(1 for h in human if h >= USABLE)
    for t in THRESHOLDS:
        kept = [h for j, h in zip(judge, human, strict=True) if j >= t]
        hits = sum(1 for h in kept if h >= USABLE)
        precision = hits / len(kept) if kept else None
        recall = hits / usable if usable else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision is not None and recall is not None and precision + recall > 0
            else None
        )
        rows.append(ThresholdRow(t, len(kept), precision, recall, f1))
    scored = [row for row in rows if row.f1 is not None]
    best = max(scored, key=lambda row: (row.f1, row.threshold)) if scored else None
    return rows, best.threshold if best else None


def judge_run(
    items: Sequence[CalibrationItem], settings: Settings, llm: str, *, runner: Any = None
) -> JudgeRun:
    """Ask the judge ``llm`` (provider:model[@url]) about every labelled item."""
    from synthlake.settings import LLMSpec

    spec = LLMSpec.parse(llm)
    results = run_tasks(
        _tasks(items, settings), settings, runner=runner, stage="judge_calibration", spec=spec
    )
    scores: list[float | None] = []
    explanations: list[str | None] = []
    failures: Counter[str] = Counter()
    repaired = 0
    for result in results:
        if result.ok:
            scores.append(float(result.value.score))
            explanations.append(result.value.explanation)
            repaired += result.repairs > 0
        else:
            scores.append(None)
            explanations.append(None)
            failures[result.reason] += 1
    run = JudgeRun(str(spec), scores, explanations, dict(failures), repaired)
    pairs = [(s, i) for s, i in zip(scores, items, strict=True) if s is not None]
    judged = [s for s, _ in pairs]
    human = [i.human_score for _, i in pairs]
    run.agreement = Agreement.of(judged, human)
    run.length_bias = spearman(judged, [float(len(i.response)) for _, i in pairs])
    run.thresholds, run.recommended_threshold = threshold_table(judged, human)
    return run


def calibrate(
    settings: Settings,
    judge: str | None = None,
    second_judge: str | None = None,
    *,
    path: Path | None = None,
) -> CalibrationReport:
    """Compare the judge (default: ``settings.llm_for('judge')``) with the labelled set.

    ``second_judge`` (provider:model[@url]) runs the same items through a second judge and
    adds the inter-judge agreement. Answers go through the LLM layer (cache, accounting:
    stage ``judge_calibration``), so a rerun costs nothing.
    """
    path = Path(path or settings.judge_calibration_file)
    items = load_items(path)
    first = judge_run(items, settings, judge or str(settings.llm_for("judge")))
    human = [item.human_score for item in items]
    report = CalibrationReport(
        path=str(path),
        n_items=len(items),
        human_scores=human,
        human_length_bias=spearman(human, [float(len(i.response)) for i in items]),
        judge=first,
        items=list(items),
    )
    if second_judge:
        report.second = judge_run(items, settings, second_judge)
        both = [
            (a, b)
            for a, b in zip(first.scores, report.second.scores, strict=True)
            if a is not None and b is not None
        ]
        report.inter_judge = Agreement.of([a for a, _ in both], [b for _, b in both])
    log.info("judge calibration: %s", "; ".join(report.lines()[2:4]))
    return report


__all__ = [
    "Agreement",
    "CalibrationItem",
    "CalibrationReport",
    "JudgeRun",
    "calibrate",
    "cohen_kappa",
    "load_items",
    "pearson",
    "spearman",
    "threshold_table",
]

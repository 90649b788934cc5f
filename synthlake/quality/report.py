"""``synthlake report``: one self-contained HTML file drawn from the analytics marts.

Sections: headline figures, language distribution, judge score by language, the score
histogram, the faithfulness (summary-source similarity) density, the toxicity distribution,
the outlet mix of news clusters, the funnel from raw rows to QA pairs, and the worst-scored
examples with the judge's explanation. Plots are matplotlib figures embedded as PNG (base64),
so the file opens anywhere with nothing beside it. A mart that is missing or empty shows a
short note saying why instead of an empty plot. Every text from the data is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthlake.errors import LakeError

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

PALETTE = ["#2f6690", "#d1495b", "#edae49", "#66a182", "#8d6a9f", "#00798c", "#3a3a3a"]
GOOD, BAD, NEUTRAL = "#66a182", "#d1495b", "#9aa5b1"


def default_report_path(settings: Settings, lake: Any) -> Path:
    return (
        Path(settings.report_path)
        if settings.report_path
        else Path(lake.root) / "reports" / "quality.html"
    )


@dataclass(slots=True)
class Section:
    title: str
    caption: str
    body: str  # HTML (an <img>, a table or a note)


@dataclass(slots=True)
class _Data:
    """Read-only access to the warehouse: rows of a mart, or None when it does not exist."""

    con: Any
    present: set[str] = field(default_factory=set)

    def rows(self, sql: str, table: str) -> list[dict[str, Any]] | None:
        if table not in self.present:
            return None
        cursor = self.con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def write_report(settings: Settings, lake: Any, path: Path | None = None) -> Path:
    """Write the HTML report of the lake's warehouse; returns its path.

    Raises ``LakeError`` when the warehouse does not exist yet (run ``synthlake run``).
    """
    import duckdb

    warehouse = Path(lake.warehouse)
    if not warehouse.is_file():
        raise LakeError(
            f"no warehouse at {warehouse}: run `synthlake run` (or `synthlake build`) first"
        )
    target = Path(path) if path else default_report_path(settings, lake)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        present = {
            row[0]
            for row in con.execute("select table_name from information_schema.tables").fetchall()
        }
        data = _Data(con, present)
        sections = [builder(data) for builder in SECTIONS]
        headline = _headline(data)
    from synthlake.quality.toxicity import toxicity_status

    toxicity = toxicity_status(settings, lake)
    page = _page(sections, headline, toxicity, lake_root=str(lake.root), settings=settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)
    log.info("report: wrote %s (%d sections)", target, len(sections))
    return target


# --- figures ----------------------------------------------------------------------------


def _figure(width: float = 7.5, height: float = 3.4) -> Any:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    return figure


def _png(figure: Any, alt: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def _style(ax: Any, *, counts: str | None = None) -> None:
    """Light frame; ``counts='x'|'y'``: that axis counts rows (integer ticks from 0)."""
    from matplotlib.ticker import MaxNLocator

    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    if counts is not None:
        axis = ax.xaxis if counts == "x" else ax.yaxis
        axis.set_major_locator(MaxNLocator(integer=True))
        low, high = ax.get_xlim() if counts == "x" else ax.get_ylim()
        (ax.set_xlim if counts == "x" else ax.set_ylim)(0, max(high, 1))


def _bar_labels(ax: Any, bars: Any, labels: Sequence[str]) -> None:
    ax.bar_label(bars, labels=list(labels), padding=2, fontsize=8, color="#333333")


# --- sections ---------------------------------------------------------------------------


def _headline(data: _Data) -> list[tuple[str, str]]:
    rows = data.rows(
        """
        select
            count(*) as pairs,
            count(*) filter (where domain = 'instructions') as instructions,
            count(*) filter (where domain = 'news') as news,
            count(distinct language) as languages,
            count(*) filter (where judge_status = 'scored') as scored,
            count(*) filter (where judge_status in ('quarantined', 'partial')) as quarantined,
            count(*) filter (where is_kept) as kept,
            any_value(judge_llm) as judge_llm,
            any_value(judge_threshold) as judge_threshold,
            any_value(toxicity_threshold) as toxicity_threshold,
        from qa_pairs""",
        "qa_pairs",
    )
    if not rows:
        return [("QA pairs", "qa_pairs not built yet")]
    r = rows[0]
    return [
        ("QA pairs", f"{r['pairs']} ({r['instructions']} instructions, {r['news']} news)"),
        ("languages", str(r["languages"])),
        ("judged (every configured dimension scored)", f"{r['scored']} of {r['pairs']}"),
        ("judge answers quarantined (no score)", str(r["quarantined"])),
        ("kept after quality filters", f"{r['kept']} of {r['pairs']}"),
        ("judge", f"{r['judge_llm'] or 'not run'}; pass at score >= {r['judge_threshold']}"),
        ("toxic at", f"any Detoxify score >= {r['toxicity_threshold']}"),
    ]


def _languages(data: _Data) -> Section:
    title, caption = "Language distribution", "QA pairs per language and domain (qa_pairs)."
    rows = data.rows(
        "select language, domain, count(*) as n from qa_pairs group by all order by all",
        "qa_pairs",
    )
    if not rows:
        return Section(title, caption, _note("No QA pairs yet."))
    languages = sorted({r["language"] for r in rows}, key=lambda code: (code != "en", code))
    domains = sorted({r["domain"] for r in rows})
    counts = {(r["language"], r["domain"]): r["n"] for r in rows}
    figure = _figure(7.5, 3.0)
    ax = figure.subplots()
    bottom = [0] * len(languages)
    for k, domain in enumerate(domains):
        values = [counts.get((lang, domain), 0) for lang in languages]
        ax.bar(languages, values, bottom=bottom, label=domain, color=PALETTE[k % len(PALETTE)])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for x, total in enumerate(bottom):
        ax.annotate(str(total), (x, total), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("QA pairs")
    ax.legend(frameon=False, fontsize=8)
    _style(ax, counts="y")
    return Section(title, caption, _png(figure, "QA pairs per language"))


def _score_by_language(data: _Data) -> Section:
    title = "Judge score by language"
    caption = (
        "Mean judge score per language for each domain and dimension (rpt_quality_by_language); "
        "labels give the pairs scored / in the group and the share at or above the threshold."
    )
    rows = data.rows(
        "select * from rpt_quality_by_language order by domain, dimension, language",
        "rpt_quality_by_language",
    )
    if not rows:
        return Section(
            title, caption, _note("rpt_quality_by_language is empty: nothing judged yet.")
        )
    groups = sorted({(r["domain"], r["dimension"]) for r in rows})
    figure = _figure(7.5, 2.6 * len(groups))
    axes = figure.subplots(len(groups), 1, squeeze=False)[:, 0]
    for ax, (domain, dimension) in zip(axes, groups, strict=True):
        group = [r for r in rows if (r["domain"], r["dimension"]) == (domain, dimension)]
        names = [r["language"] for r in group]
        means = [r["mean_score"] if r["mean_score"] is not None else 0 for r in group]
        colors = [NEUTRAL if r["mean_score"] is None else PALETTE[0] for r in group]
        bars = ax.bar(names, means, color=colors)
        labels = [
            f"{r['n_scored']}/{r['n_pairs']}"
            + (
                f", {100 * r['share_at_or_above_threshold']:.0f}% >= {r['judge_threshold']:g}"
                if r["share_at_or_above_threshold"] is not None
                else ", none scored"
            )
            for r in group
        ]
        _bar_labels(ax, bars, labels)
        ax.axhline(group[0]["judge_threshold"], color=BAD, linestyle="--", linewidth=1)
        ax.set_ylim(0, 5.6)
        ax.set_ylabel("mean score")
        ax.set_title(f"{domain}: {dimension}", fontsize=9, loc="left")
        _style(ax)
    return Section(title, caption, _png(figure, "mean judge score per language"))


def _score_histogram(data: _Data) -> Section:
    title = "Score histogram"
    caption = (
        "Scored pairs per judge score (rpt_score_distribution); the dashed line is "
        "SYNTHLAKE_JUDGE_MIN_SCORE. Quarantined answers have no score and are not counted."
    )
    rows = data.rows(
        "select * from rpt_score_distribution order by domain, dimension, score",
        "rpt_score_distribution",
    )
    threshold_rows = data.rows(
        "select judge_min_score from int_quality_thresholds", "int_quality_thresholds"
    )
    if not rows or sum(r["n_pairs"] for r in rows) == 0:
        return Section(
            title,
            caption,
            _note("No judge score yet (nothing scored, or every answer quarantined)."),
        )
    groups = [
        g
        for g in sorted({(r["domain"], r["dimension"]) for r in rows})
        if sum(r["n_pairs"] for r in rows if (r["domain"], r["dimension"]) == g)
    ]
    figure = _figure(7.5, 2.4 * len(groups))
    axes = figure.subplots(len(groups), 1, squeeze=False)[:, 0]
    threshold = threshold_rows[0]["judge_min_score"] if threshold_rows else None
    for ax, (domain, dimension) in zip(axes, groups, strict=True):
        group = [r for r in rows if (r["domain"], r["dimension"]) == (domain, dimension)]
        scores = [float(r["score"]) for r in group]
        counts = [r["n_pairs"] for r in group]
        colors = [GOOD if threshold is not None and s >= threshold else BAD for s in scores]
        bars = ax.bar(scores, counts, width=0.4, color=colors)
        _bar_labels(ax, bars, [str(c) if c else "" for c in counts])
        if threshold is not None:
            ax.axvline(threshold - 0.25, color="#333333", linestyle="--", linewidth=1)
        ax.set_xticks([s / 2 for s in range(11)])
        ax.set_xlabel("judge score")
        ax.set_ylabel("pairs")
        ax.set_title(f"{domain}: {dimension} ({sum(counts)} scored)", fontsize=9, loc="left")
        _style(ax, counts="y")
    return Section(title, caption, _png(figure, "histogram of judge scores"))


def _faithfulness(data: _Data) -> Section:
    title = "Faithfulness: summary-source similarity"
    caption = (
        "Density of the news summaries' similarity to their sources (rpt_faithfulness): mean "
        "over the sources and spread (standard deviation). Red: pairs flagged as possible "
        "hallucinations."
    )
    rows = data.rows(
        "select * from rpt_faithfulness where measure in ('similarity_mean', 'similarity_std') "
        "order by measure, bucket_lower",
        "rpt_faithfulness",
    )
    if not rows or sum(r["n_pairs"] for r in rows) == 0:
        return Section(title, caption, _note("No news QA pair with similarity scores yet."))
    figure = _figure(7.5, 3.0)
    axes = figure.subplots(1, 2)
    for ax, measure, label in zip(
        axes,
        ("similarity_mean", "similarity_std"),
        ("mean similarity", "spread (std)"),
        strict=True,
    ):
        group = [r for r in rows if r["measure"] == measure and r["n_pairs"] > 0]
        total = sum(r["n_pairs"] for r in rows if r["measure"] == measure) or 1
        if not group:
            ax.text(0.5, 0.5, "no data", ha="center", transform=ax.transAxes)
            continue
        lefts = [float(r["bucket_lower"]) for r in group]
        density = [r["n_pairs"] / total / 0.1 for r in group]
        flagged = [r["n_flagged"] / total / 0.1 for r in group]
        ax.bar(lefts, density, width=0.1, align="edge", color=PALETTE[0], label="all")
        ax.bar(lefts, flagged, width=0.1, align="edge", color=BAD, label="flagged")
        low = min(lefts) - 0.1
        ax.set_xlim(max(-1.0, low), 1.0)
        ax.set_xlabel(label)
        ax.set_ylabel("density")
        _style(ax)
    axes[0].legend(frameon=False, fontsize=8)
    return Section(title, caption, _png(figure, "density of summary-source similarity"))


TOXICITY_BANDS = (
    ("n_below_0_001", "< 0.001"),
    ("n_0_001_to_0_01", "0.001-0.01"),
    ("n_0_01_to_0_1", "0.01-0.1"),
    ("n_0_1_to_0_5", "0.1-0.5"),
    ("n_0_5_and_above", ">= 0.5"),
)


def _toxicity(data: _Data) -> Section:
    title = "Toxicity (Detoxify)"
    caption = (
        "Answers per score band for each Detoxify label (rpt_toxicity, all domains). "
        "Scores pile up near 0, so the bands are logarithmic."
    )
    rows = data.rows(
        "select label, sum(n_texts) as n_texts, sum(n_scored) as n_scored, "
        "sum(n_unavailable) as n_unavailable, "
        + ", ".join(f"sum({column}) as {column}" for column, _ in TOXICITY_BANDS)
        + " from rpt_toxicity where field = 'answer' group by label order by label",
        "rpt_toxicity",
    )
    if not rows:
        return Section(title, caption, _note("rpt_toxicity not built yet."))
    if sum(r["n_scored"] for r in rows) == 0:
        unavailable = max(r["n_unavailable"] for r in rows)
        return Section(
            title,
            caption,
            _note(
                f"Toxicity unavailable: Detoxify's weights are not on this machine, so "
                f"{unavailable} answers are unscored (null, not zero). See the note at the top "
                "for how to enable it."
            ),
        )
    labels = [r["label"] for r in rows]
    figure = _figure(7.5, 3.2)
    ax = figure.subplots()
    left = [0] * len(rows)
    colors = [GOOD, "#a7c957", "#edae49", "#f4845f", BAD]
    for (column, name), color in zip(TOXICITY_BANDS, colors, strict=True):
        values = [r[column] for r in rows]
        ax.barh(labels, values, left=left, label=name, color=color)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel("answers")
    ax.legend(frameon=False, fontsize=8, ncols=5, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    _style(ax, counts="x")
    return Section(title, caption, _png(figure, "toxicity score bands per label"))


def _outlets(data: _Data) -> Section:
    title = "Outlet mix of news clusters"
    caption = (
        "News clusters (stories) per combination of outlets covering them (rpt_news_by_outlet); "
        "labels give the mean articles per cluster."
    )
    rows = data.rows(
        "select * from rpt_news_by_outlet order by n_clusters desc, outlet_combination",
        "rpt_news_by_outlet",
    )
    if not rows:
        return Section(
            title,
            caption,
            _note("No news clusters yet (rpt_news_by_outlet is empty or not built)."),
        )
    figure = _figure(7.5, 0.45 * len(rows) + 1.0)
    ax = figure.subplots()
    names = [r["outlet_combination"] for r in rows][::-1]
    counts = [r["n_clusters"] for r in rows][::-1]
    colors = [PALETTE[0] if r["n_outlets"] > 1 else NEUTRAL for r in rows][::-1]
    bars = ax.barh(names, counts, color=colors)
    _bar_labels(
        ax, bars, [f"{r['mean_articles_per_cluster']:.1f} art./cluster" for r in rows][::-1]
    )
    ax.set_xlabel("clusters")
    _style(ax, counts="x")
    return Section(title, caption, _png(figure, "clusters per outlet combination"))


def _funnel(data: _Data) -> Section:
    title = "Funnel: raw rows to QA pairs"
    caption = (
        "Rows kept after each stage (rpt_funnel); the table below lists, per stage, the rows "
        "in and kept, what was dropped and why, and what was kept but flagged."
    )
    rows = data.rows("select * from rpt_funnel order by domain, stage_order", "rpt_funnel")
    if not rows:
        return Section(title, caption, _note("rpt_funnel not built yet."))
    domains = sorted({r["domain"] for r in rows})
    figure = _figure(7.5, 2.3 * len(domains))
    axes = figure.subplots(len(domains), 1, squeeze=False)[:, 0]
    notes: list[str] = []
    for ax, domain in zip(axes, domains, strict=True):
        group = [r for r in rows if r["domain"] == domain]
        stages = sorted({(r["stage_order"], r["stage"]) for r in group})
        kept = []
        for _order, stage in stages:
            entry = {(r["measure"], r["reason"]): r["n_rows"] for r in group if r["stage"] == stage}
            kept.append(entry.get(("rows_kept", None), 0))
            dropped = [
                f"{r['reason']}: {r['n_rows']}"
                for r in group
                if r["stage"] == stage and r["measure"] == "rows_dropped" and r["n_rows"]
            ]
            flagged = [
                f"{r['reason']}: {r['n_rows']}"
                for r in group
                if r["stage"] == stage and r["measure"] == "rows_flagged" and r["n_rows"]
            ]
            notes.append(
                "<tr><td>{}</td><td>{}</td><td class='num'>{}</td><td class='num'>{}</td>"
                "<td>{}</td><td>{}</td></tr>".format(
                    html.escape(domain),
                    html.escape(stage),
                    entry.get(("rows_in", None), 0),
                    entry.get(("rows_kept", None), 0),
                    html.escape(", ".join(dropped) or "-"),
                    html.escape(", ".join(flagged) or "-"),
                )
            )
        names = [stage for _, stage in stages][::-1]
        bars = ax.barh(names, kept[::-1], color=PALETTE[3])
        _bar_labels(ax, bars, [str(k) for k in kept[::-1]])
        ax.set_title(domain, fontsize=9, loc="left")
        ax.set_xlabel("rows kept")
        _style(ax, counts="x")
    table = (
        "<table><thead><tr><th>domain</th><th>stage</th><th>in</th><th>kept</th>"
        "<th>dropped (reason: rows)</th><th>kept but flagged</th></tr></thead><tbody>"
        + "".join(notes)
        + "</tbody></table>"
    )
    return Section(title, caption, _png(figure, "funnel") + table)


def _shorten(text: str | None, limit: int = 280) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _worst_examples(data: _Data) -> Section:
    title = "Lowest-scored examples"
    caption = (
        "The worst judged pairs with the judge's explanation (rpt_zero_score_examples), "
        "worst first; texts are shortened."
    )
    rows = data.rows(
        "select * from rpt_zero_score_examples order by domain, dimension, worst_rank limit 30",
        "rpt_zero_score_examples",
    )
    if not rows:
        return Section(title, caption, _note("No pair scored under the threshold."))
    body = "".join(
        "<tr><td class='num'>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td></tr>".format(
            f"{r['score']:g}",
            html.escape(f"{r['domain']} / {r['dimension']} / {r['language']}"),
            html.escape(_shorten(r["question"])),
            html.escape(_shorten(r["answer"])),
            html.escape(_shorten(r["explanation"]) or "(no explanation)"),
            html.escape(r["qa_id"]),
        )
        for r in rows
    )
    table = (
        "<table class='examples'><thead><tr><th>score</th><th>domain / dimension / lang</th>"
        "<th>question</th><th>answer</th><th>judge's explanation</th><th>qa_id</th></tr>"
        f"</thead><tbody>{body}</tbody></table>"
    )
    return Section(title, caption, table)


SECTIONS: tuple[Callable[[_Data], Section], ...] = (
    _languages,
    _score_by_language,
    _score_histogram,
    _faithfulness,
    _toxicity,
    _outlets,
    _funnel,
    _worst_examples,
)

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto;
       max-width: 60rem; color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd;
     padding-bottom: 0.2rem; }
.meta, .caption { color: #666; font-size: 0.85rem; }
.note { background: #fff8e5; border-left: 4px solid #edae49; padding: 0.6rem 0.8rem; }
.warning { background: #fdecee; border-left: 4px solid #d1495b; padding: 0.6rem 0.8rem; }
img { max-width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.8rem; margin-top: 0.6rem; }
th, td { border: 1px solid #ddd; padding: 0.3rem 0.45rem; vertical-align: top; text-align: left; }
th { background: #f3f5f7; }
td.num { text-align: right; white-space: nowrap; }
dl.headline { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
dl.headline dt { color: #555; }
dl.headline dd { margin: 0; font-weight: 600; }
"""


def _page(
    sections: Sequence[Section],
    headline: Sequence[tuple[str, str]],
    toxicity: dict[str, Any],
    *,
    lake_root: str,
    settings: Settings,
) -> str:
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    items = "".join(
        f"<dt>{html.escape(name)}</dt><dd>{html.escape(value)}</dd>" for name, value in headline
    )
    warning = ""
    if toxicity.get("status") in {"unavailable", "partial"}:
        warning = "<p class='warning'><b>Toxicity {}</b>: {}. To enable it: {}.</p>".format(
            html.escape(toxicity["status"]),
            html.escape(str(toxicity.get("reason") or "some answers are unscored")),
            html.escape(str(toxicity.get("hint", ""))),
        )
    body = "".join(
        f"<section><h2>{html.escape(s.title)}</h2><p class='caption'>{html.escape(s.caption)}</p>"
        f"{s.body}</section>"
        for s in sections
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>synthlake quality report</title><style>{CSS}</style></head><body>"
        "<h1>synthlake quality report</h1>"
        f"<p class='meta'>lake {html.escape(lake_root)} · generated {generated} · "
        f"Detoxify model {html.escape(settings.detoxify_model)}</p>"
        f"{warning}<dl class='headline'>{items}</dl>{body}</body></html>"
    )


__all__ = ["default_report_path", "write_report"]

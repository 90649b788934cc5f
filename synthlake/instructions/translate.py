"""Translate instruction examples into target languages, and verify every translation.

For each (row, target language) the texts of the row (system, instruction, input, output
for a single exchange; every turn for a multi-turn conversation) are protected
(``protect.py``: code, URLs, numbers, placeholders become ``⟦n⟧`` tokens; layout is kept
out of the model's sight), cut into units that fit the model's output budget (at line
ends, then at sentence ends, never inside a sentence), and each unit becomes one request
to the LLM runner (``synthlake.llm``: cache, batching, retries, accounting). Answers are
put back into the untouched skeleton, spans restored, and the row is verified:

- every protected token came back exactly once (``protected_span_lost`` /
  ``..._repeated`` / ``..._invented``), line structure unchanged (``line_breaks_changed``),
  no answer cut by the token limit (``truncated_output``), none empty
  (``empty_translation``) or an echo of its source (``not_translated``);
- lingua's best guess is the target language for every field long enough to judge, and
  for the row's text as a whole (``wrong_language``; ``too_short_to_verify`` when nothing
  is long enough), and no single piece is confidently in another language
  (``partly_wrong_language``: one line left in English inside a translated answer);
- the prose length ratio translation/source lies in [1/r, r] (``length_ratio``).

A row that passes is ``verified`` and labelled with the target language; one that fails
is ``quarantined`` with its reasons and the text it got, and its ``language`` stays null:
a failed translation is never labelled as the target language. A row that is mostly code
(``mostly_code``), has no prose (``nothing_to_translate``) or holds a sentence too long
for the model (``sentence_too_long``) is ``untranslatable``, with no LLM call.

Transient LLM failures (rate limits, timeouts, 5xx, budget) leave the row out: the next
build retries it. Everything the model sees is first stripped of what it must not touch,
which is why this is hand-written rather than a translation library's wrapper (those send
whole documents and hope the markup survives).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from synthlake.instructions.langid import (
    BATCH_ROWS,
    LanguageIdentifier,
    check_languages,
    end_child_process,
)
from synthlake.instructions.protect import (
    TOKEN,
    Layout,
    Protected,
    fit_layout,
    letters,
    prose,
    protect,
    restore,
    split_layout,
)
from synthlake.lake import Lake, short_id
from synthlake.llm.types import left_for_next_run
from synthlake.llm.unfinished import record_unfinished
from synthlake.sampling import seeded_order, seeded_selection

if TYPE_CHECKING:
    from synthlake.settings import Settings

log = logging.getLogger(__name__)

PROMPT_ID = "translate_instruction"
SOURCE_COLUMNS = "id, source_dataset, language, shape, system, instruction, input, output, turns"
STATUSES = ("verified", "quarantined", "untranslatable")
CHARS_PER_TOKEN = 3.5  # BPE on Latin-script prose: ~4 (English) to ~3.5 (accented text)
EXPANSION = 1.3  # Romance/German translations run up to ~1.3x the English length
TOKEN_MARGIN = 8
PROMPT_OVERHEAD_TOKENS = 220  # system + user template + chat markup
MIN_FIELD_CHARS_FOR_RATIO = 40
TOKEN_BUCKETS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
STOP = ("\n\n", "</text>")
ONE_LINE_STOP = ("\n", "</text>")
_WRAPPER = re.compile(r"^\s*<text>\s*|\s*</text>\s*$")

TURN = pa.struct([("role", pa.string()), ("content", pa.string())])
TRANSLATED_SCHEMA = pa.schema(
    [
        ("translation_id", pa.string()),
        ("id", pa.string()),  # the source row (stg_hf__instructions.id)
        ("source_dataset", pa.string()),
        ("source_language", pa.string()),
        ("target_language", pa.string()),
        ("language", pa.string()),  # = target_language when verified, else null
        ("status", pa.string()),
        ("reasons", pa.list_(pa.string())),
        ("detected_language", pa.string()),  # lingua's best guess for the whole row
        ("field_languages", pa.list_(pa.string())),  # "<field>:<code>" per judged field
        ("language_ok", pa.bool_()),
        ("spans_ok", pa.bool_()),
        ("length_ok", pa.bool_()),
        ("length_ratio", pa.float64()),
        ("code_fraction", pa.float64()),
        ("system", pa.string()),
        ("instruction", pa.string()),
        ("input", pa.string()),
        ("output", pa.string()),
        ("turns", pa.list_(TURN)),
        ("n_units", pa.int64()),
        ("prompt_id", pa.string()),
        ("prompt_version", pa.string()),
        ("llm", pa.string()),
        ("translated_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True, slots=True)
class TranslateConfig:
    mode: str = "one"  # 'one' (seeded language per row) or 'all'
    seed: int = 42
    max_length_ratio: float = 2.0
    max_new_tokens: int = 192
    max_code_fraction: float = 0.85
    limit: int | None = None
    max_rows: int | None = None
    context_tokens: int | None = None

    @classmethod
    def from_settings(cls, settings) -> TranslateConfig:  # noqa: ANN001 - any Settings
        return cls(
            mode=settings.translate_languages_mode,
            seed=settings.translate_seed,
            max_length_ratio=settings.translate_max_length_ratio,
            max_new_tokens=settings.translate_max_new_tokens,
            max_code_fraction=settings.translate_max_code_fraction,
            limit=settings.translate_limit,
            max_rows=settings.translate_max_rows,
            context_tokens=settings.llm_context_tokens,
        )

    @property
    def max_unit_chars(self) -> int:
        """Longest unit whose translation fits ``max_new_tokens`` (and the context)."""
        budget = (self.max_new_tokens - TOKEN_MARGIN) / EXPANSION
        if self.context_tokens:
            room = self.context_tokens - PROMPT_OVERHEAD_TOKENS - self.max_new_tokens
            budget = min(budget, room)
        return max(16, int(budget * CHARS_PER_TOKEN))


# --- which rows go to which language ------------------------------------------------------
def assign_languages(
    row_ids: Iterable[str], languages: Sequence[str], *, mode: str, seed: int
) -> list[tuple[str, str]]:
    """(row id, language) pairs: every language ('all') or one per row, by a seeded hash.

    The hash (SHA-256 of seed and id) makes the assignment stable when rows are added or
    removed, unlike drawing from an RNG in row order.
    """
    codes = sorted(languages)
    if not codes:
        return []
    if mode == "all":
        return [(row_id, code) for row_id in row_ids for code in codes]
    if mode != "one":
        raise ValueError(f"translate mode must be 'one' or 'all', got {mode!r}")
    pairs = []
    for row_id in row_ids:
        digest = hashlib.sha256(f"{seed}:{row_id}".encode()).digest()
        pairs.append((row_id, codes[int.from_bytes(digest[:8], "big") % len(codes)]))
    return pairs


def translation_id(row_id: str, language: str, prompt_version: str, llm: str) -> str:
    return short_id(row_id, language, prompt_version, llm)


# --- one row's texts ------------------------------------------------------------------------
@dataclass(slots=True)
class _Text:
    name: str  # 'system', 'instruction', 'input', 'output' or 'turn_<k>'
    source: str
    protected: Protected
    layout: Layout


@dataclass(slots=True)
class _Job:
    row: dict[str, Any]
    language: str
    translation_id: str
    texts: list[_Text] = field(default_factory=list)
    untranslatable: str | None = None
    code_fraction: float = 0.0
    first_request: int = 0  # index of its first unit's request


def row_texts(row: dict[str, Any]) -> list[tuple[str, str]]:
    """The named texts of a row to translate (field mode or turn mode)."""
    turns = row.get("turns") or []
    roles = [t["role"] for t in turns]
    single = (
        row.get("shape") == "alpaca"
        or (roles.count("user") == 1 and roles.count("assistant") == 1)
        and roles.count("system") <= 1
    )
    if single and row.get("instruction") is not None and row.get("output") is not None:
        names = ("system", "instruction", "input", "output")
        return [(n, row[n]) for n in names if row.get(n)]
    return [(f"turn_{k}", t["content"] or "") for k, t in enumerate(turns)]


def _prepare(job: _Job, config: TranslateConfig) -> None:
    total = code = 0
    for name, text in row_texts(job.row):
        protected = protect(text)
        total += len(text)
        code += protected.code_chars
        layout = fit_layout(split_layout(protected.masked), config.max_unit_chars)
        if layout is None:
            job.untranslatable = "sentence_too_long"
            return
        job.texts.append(_Text(name, text, protected, layout))
    job.code_fraction = round(code / total, 4) if total else 0.0
    if total and job.code_fraction > config.max_code_fraction:
        job.untranslatable = "mostly_code"
    elif not any(t.layout.units for t in job.texts):
        job.untranslatable = "nothing_to_translate"


def _max_new_tokens(unit_text: str, cap: int) -> int:
    wanted = math.ceil(len(unit_text) / CHARS_PER_TOKEN * EXPANSION) + TOKEN_MARGIN
    for bucket in TOKEN_BUCKETS:  # few distinct values: the local provider batches by them
        if wanted <= bucket:
            return min(bucket, cap)
    return cap


def clean_answer(answer: str, source: str) -> str:
    """The translation without wrapper tags or quotes the model added around it."""
    text = _WRAPPER.sub("", answer.strip()).strip()
    for quote in ('"', "'", "“", "«"):
        closing = {"“": "”", "«": "»"}.get(quote, quote)
        if (
            len(text) > 1
            and text.startswith(quote)
            and text.endswith(closing)
            and not source.startswith(quote)
        ):
            text = text[1:-1].strip()
    return text


# --- the whole step -------------------------------------------------------------------------
def language_names(codes: Iterable[str]) -> dict[str, str]:
    from lingua import IsoCode639_1, Language

    names = {}
    for code in codes:
        try:
            names[code] = Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())).name
        except AttributeError:
            names[code] = code
        names[code] = names[code].title()
    return names


def translation_sources(ids: Iterable[str], config: TranslateConfig) -> list[str]:
    """The ids of the rows to translate among ``ids`` (at most ``max_rows``, seeded).

    It needs the ids alone: the model reads the ids of every translation source, then the
    texts of these rows only (at 760k rows, all the texts as Python objects took ~4 GB
    for the 2,000 rows a run translated)."""
    return seeded_selection(ids, config.max_rows, seed=config.seed)


def checked_translation_sources(
    kept_ids: Iterable[str],
    read_rows: Callable[[list[str]], pa.Table | pa.RecordBatchReader],
    identifier: LanguageIdentifier,
    config: TranslateConfig,
) -> list[str]:
    """``translation_sources`` among the kept (not duplicate) rows written in the language
    of their label, language-checked only as far as the selection needs.

    ``int_instructions_checked.is_translation_source`` says the same of every row, but it
    waits for the check of all of them (~25 min at 760k rows on 2 cores), and the
    translation's LLM calls, bounded by the provider's rate limit, waited with it. The
    selection takes the first ``max_rows`` of ``seeded_order``: so the rows are read
    (``read_rows``: id, language, turns) and checked in that order, a little more than is
    still missing at a time, until ``max_rows`` pass. Same ``check_languages``, same
    identifier (the language check model's languages), so the same verdicts and the same
    rows as the full table's. Without ``max_rows`` every kept row is checked here too: the
    check is then small beside translating them all.
    """
    order = seeded_order(kept_ids, seed=config.seed)
    wanted = len(order) if config.max_rows is None else config.max_rows
    chosen: list[str] = []
    start = 0
    try:
        while start < len(order) and len(chosen) < wanted:
            missing = wanted - len(chosen)
            chunk = order[start : start + min(BATCH_ROWS, missing + missing // 10 + 16)]
            start += len(chunk)
            # one language ID child for all the chunks (its start is ~6 s)
            verdicts = check_languages(read_rows(chunk), identifier, end_child=False)
            ok = pc.filter(verdicts.column("id"), pc.invert(verdicts.column("language_mismatch")))
            passing = set(ok.to_pylist())
            chosen.extend(i for i in chunk if i in passing)
    finally:
        end_child_process()
    return sorted(chosen[:wanted])


def plan_jobs(
    rows: pa.Table,
    languages: Sequence[str],
    config: TranslateConfig,
    *,
    prompt_version: str,
    llm: str,
    done: set[str] | None = None,
) -> list[_Job]:
    """The (row, language) pairs still to translate, in a stable order, capped by limit."""
    chosen = translation_sources(rows.column("id").to_pylist(), config)
    if len(chosen) < rows.num_rows:  # only the chosen rows become Python objects
        rows = rows.filter(pc.is_in(rows.column("id"), value_set=pa.array(chosen, pa.string())))
    by_id = {r["id"]: r for r in rows.to_pylist()}
    pairs = assign_languages(chosen, languages, mode=config.mode, seed=config.seed)
    jobs = []
    for row_id, language in pairs:
        tid = translation_id(row_id, language, prompt_version, llm)
        if done and tid in done:
            continue
        if config.limit is not None and len(jobs) >= config.limit:
            break
        jobs.append(_Job(by_id[row_id], language, tid))
    return jobs


def translate_rows(
    rows: pa.Table,
    languages: Sequence[str],
    settings: Settings,
    *,
    done: Iterable[str] = (),
    runner: Any = None,
    identifier: LanguageIdentifier | None = None,
) -> pa.Table:
    """Translate and verify ``rows`` (columns of stg_hf__instructions) into ``languages``.

    ``done`` holds translation ids already stored (an incremental build skips them);
    ``runner`` defaults to ``LLMRunner(settings, stage="translate")`` and is only built
    when there is something to send.
    """
    from synthlake.prompts import load_prompt

    config = TranslateConfig.from_settings(settings)
    prompt = load_prompt(PROMPT_ID)
    llm = settings.llm_for("translate").identity
    jobs = plan_jobs(
        rows, languages, config, prompt_version=prompt.version, llm=llm, done=set(done)
    )
    if not jobs:
        log.info("translate: nothing new to translate (0 LLM calls)")
        record_unfinished(Lake.from_settings(settings), "translate", 0)
        return TRANSLATED_SCHEMA.empty_table()
    names = language_names({*languages, *(j.row["language"] for j in jobs)})
    requests = []
    for job in jobs:
        _prepare(job, config)
        if job.untranslatable:
            continue
        job.first_request = len(requests)
        for text in job.texts:
            for k, unit in enumerate(text.layout.units):
                cap = _max_new_tokens(unit.text, config.max_new_tokens)
                params = _params(prompt.params, cap, one_line="\n" not in unit.text)
                requests.append(
                    prompt.request(
                        f"{job.row['id']}:{job.language}:{text.name}:{k}",
                        {
                            "source_language": names[job.row["language"]],
                            "target_language": names[job.language],
                            "text": unit.text,
                        },
                        params=params,
                    )
                )
    results: list[Any] = []
    if requests:
        if runner is None:
            from synthlake.llm import LLMRunner

            runner = LLMRunner(settings, stage="translate")
        results = runner.run(requests)
        runner.check_health()
    identifier = identifier or LanguageIdentifier.from_settings(
        settings, extra=[*languages, *(j.row["language"] for j in jobs)]
    )
    now = datetime.now(UTC)
    assembled = [_assemble(job, results, identifier.min_letters) for job in jobs]
    try:
        _detect_all(assembled, identifier)
    finally:
        end_child_process()  # if the verification needed one (thousands of texts)
    out, skipped = [], 0
    for job, done_job in zip(jobs, assembled, strict=True):
        if done_job is None:
            skipped += 1
            continue
        out.append(_record(job, done_job, config, prompt.version, llm, now))
    counts = {s: sum(1 for r in out if r["status"] == s) for s in STATUSES}
    log.info(
        "translate: %d pairs, %d requests, %s, %d left for the next build (no LLM answer)",
        len(jobs),
        len(requests),
        counts,
        skipped,
    )
    record_unfinished(Lake.from_settings(settings), "translate", skipped)
    return pa.Table.from_pylist(out, schema=TRANSLATED_SCHEMA)


def _params(base: Any, max_new_tokens: int, *, one_line: bool) -> Any:
    """The prompt's params with this unit's token cap and where generation stops.

    The translation of a one-line unit is one line, and a unit never holds a blank line
    (paragraphs are separate units): an answer that goes on past that has started to
    explain or repeat itself, and one that closes the ``</text>`` wrapper is done.
    Stopping there saves the tokens (small models loop until the cap); what was cut off
    could only have failed the line-break check.
    """
    from synthlake.llm import GenerationParams

    stops = ONE_LINE_STOP if one_line else STOP
    return GenerationParams(
        max_new_tokens=max_new_tokens,
        temperature=base.temperature,
        top_p=base.top_p,
        stop=tuple(dict.fromkeys([*base.stop, *stops])),
        seed=base.seed,
    )


@dataclass(slots=True)
class _Assembled:
    """One job's answers put back together, before the language and length checks."""

    translated: dict[str, str]
    reasons: list[str]
    src_prose: dict[str, str] = field(default_factory=dict)
    out_prose: dict[str, str] = field(default_factory=dict)
    unit_prose: list[str] = field(default_factory=list)  # each answer, spans removed
    detections: list[Any] = field(default_factory=list)  # per field, then the whole row
    unit_detections: list[Any] = field(default_factory=list)


def _assemble(job: _Job, results: list[Any], min_letters: int) -> _Assembled | None:
    """Restore spans and layout around the answers; None when an answer is missing for a
    reason a later run may cure (transient or configuration failure)."""
    if job.untranslatable:
        return _Assembled({}, [job.untranslatable])
    reasons: list[str] = []
    unit_prose: list[str] = []
    translated: dict[str, str] = {}
    index = job.first_request
    for text in job.texts:
        answers = []
        for unit in text.layout.units:
            result = results[index]
            index += 1
            if not result.ok:
                if left_for_next_run(result.reason):
                    return None  # no answer (transient/configuration): the next build asks
                reasons.append(f"llm_failure:{result.reason}")
                answers.append("")
                continue
            if result.finish_reason == "length":
                reasons.append("truncated_output")
            answer = clean_answer(result.text, unit.text)
            if answer.count("\n") != unit.text.count("\n"):
                reasons.append("line_breaks_changed")
            if not TOKEN.sub("", answer).strip():
                reasons.append("empty_translation")
            elif answer == unit.text and letters(TOKEN.sub("", answer)) >= min_letters:
                reasons.append("not_translated")  # echoed: only names and numbers may stay
            unit_prose.append(TOKEN.sub(" ", answer))
            check = restore(answer, text.protected.spans, expected=unit.tokens)
            if check.missing:
                reasons.append("protected_span_lost")
            if check.repeated:
                reasons.append("protected_span_repeated")
            if check.unknown:
                reasons.append("protected_span_invented")
            answers.append(answer)
        translated[text.name] = restore(text.layout.assemble(answers), text.protected.spans).text
    done = _Assembled(translated, reasons, unit_prose=unit_prose)
    done.src_prose = {t.name: prose(t.source) for t in job.texts}
    done.out_prose = {name: prose(value) for name, value in translated.items()}
    return done


def _detect_all(assembled: list[_Assembled | None], identifier: LanguageIdentifier) -> None:
    """Language ID of every translated field, row and piece, in one call to lingua."""
    texts: list[str] = []
    for done in assembled:
        if done is not None and done.translated:
            fields = list(done.out_prose.values())
            texts += [*fields, "\n".join(fields), *done.unit_prose]
    detections = identifier.detect_many(texts, is_prose=True)
    k = 0
    for done in assembled:
        if done is None or not done.translated:
            continue
        n_fields = len(done.out_prose) + 1
        done.detections = detections[k : k + n_fields]
        done.unit_detections = detections[k + n_fields : k + n_fields + len(done.unit_prose)]
        k += n_fields + len(done.unit_prose)


def _record(
    job: _Job,
    done: _Assembled,
    config: TranslateConfig,
    prompt_version: str,
    llm: str,
    now: datetime,
) -> dict[str, Any]:
    row = job.row
    record: dict[str, Any] = {
        "translation_id": job.translation_id,
        "id": row["id"],
        "source_dataset": row.get("source_dataset"),
        "source_language": row["language"],
        "target_language": job.language,
        "language": None,
        "code_fraction": job.code_fraction,
        "prompt_id": PROMPT_ID,
        "prompt_version": prompt_version,
        "llm": llm,
        "translated_at": now,
        "n_units": sum(len(t.layout.units) for t in job.texts),
    }
    if job.untranslatable:
        return record | {"status": "untranslatable", "reasons": done.reasons}
    reasons = list(done.reasons)
    record.update(_verify(job, done, config, reasons))
    record.update(_columns(job, done.translated))
    reasons = sorted(set(reasons))
    record["reasons"] = reasons
    record["spans_ok"] = not any(r.startswith("protected_span") for r in reasons)
    record["status"] = "quarantined" if reasons else "verified"
    record["language"] = None if reasons else job.language
    return record


def _verify(
    job: _Job, done: _Assembled, config: TranslateConfig, reasons: list[str]
) -> dict[str, Any]:
    """Language and length checks; appends failure reasons, returns the flag columns."""
    names = list(done.out_prose)
    *per_field, overall = done.detections
    judged = [(n, d) for n, d in zip(names, per_field, strict=True) if d.top is not None]
    field_languages = [f"{n}:{d.top}" for n, d in judged]
    if overall.top is None and not judged:
        reasons.append("too_short_to_verify")
        language_ok = None
    else:
        language_ok = all(d.top == job.language for _, d in judged) and overall.top in (
            None,
            job.language,
        )
        if not language_ok:
            reasons.append("wrong_language")
    # a piece confidently in another language (an untranslated line in a translated text)
    if any(d.contradicts(job.language) for d in done.unit_detections):
        reasons.append("partly_wrong_language")
        language_ok = False
    src_len = sum(len(s.strip()) for s in done.src_prose.values())
    out_len = sum(len(s.strip()) for s in done.out_prose.values())
    ratio = round(out_len / src_len, 4) if src_len else None
    bound = config.max_length_ratio
    length_ok = ratio is None or 1 / bound <= ratio <= bound
    for name in names:
        s, o = len(done.src_prose[name].strip()), len(done.out_prose[name].strip())
        if s >= MIN_FIELD_CHARS_FOR_RATIO and not 1 / bound <= o / s <= bound:
            length_ok = False
    if not length_ok:
        reasons.append("length_ratio")
    return {
        "detected_language": overall.top,
        "field_languages": field_languages,
        "language_ok": language_ok,
        "length_ok": length_ok,
        "length_ratio": ratio,
    }


def _columns(job: _Job, translated: dict[str, str]) -> dict[str, Any]:
    """The translated row in the staging model's columns (turns rebuilt by role)."""
    row = job.row
    turns = row.get("turns") or []
    if any(name.startswith("turn_") for name in translated):
        new_turns = [
            {"role": t["role"], "content": translated.get(f"turn_{k}", t["content"])}
            for k, t in enumerate(turns)
        ]
        systems = [t["content"] for t in new_turns if t["role"] == "system"]
        return {
            "system": systems[0] if systems else None,
            "instruction": None,
            "input": None,
            "output": None,
            "turns": new_turns,
        }
    fields = {
        n: translated.get(n, row.get(n)) for n in ("system", "instruction", "input", "output")
    }
    if row.get("shape") == "alpaca":
        user = fields["instruction"] + (f"\n\n{fields['input']}" if fields["input"] else "")
        new_turns = [
            {"role": "user", "content": user},
            {"role": "assistant", "content": fields["output"]},
        ]
    else:
        by_role = {
            "system": fields["system"],
            "user": fields["instruction"],
            "assistant": fields["output"],
        }
        new_turns = [{"role": t["role"], "content": by_role[t["role"]]} for t in turns]
    return fields | {"turns": new_turns}

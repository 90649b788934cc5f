"""Language identification of instruction texts with lingua, and the label check.

Every turn of every row is identified on its *prose*: code, URLs, numbers and placeholders
are removed first (``protect.prose``), since a Python block "looks" like no language and
drags short answers towards random guesses. Texts with fewer than ``langid_min_letters``
letters are not judged (lingua itself is unreliable there) and count neither for nor
against the label. A row is flagged when a turn, or the row's text as a whole, is
*confidently* another language: the winner has at least ``CONFIDENT`` of lingua's relative
confidence and the label at most ``LABEL_ABSENT``. Both bounds were set on the sample's
hard cases: a list of names ("Peru, Portugal, Poland") or of words ending in -tion scores
0.1-0.5 for several languages including English and must not be flagged, while a real
Italian sentence scores ~1.0 Italian and ~0.0 English.

Incremental (``int_instructions_language_checked``): a row is checked again only when its
content (``content_hash``), its label or the check itself (``LanguageIdentifier.config``:
languages, minimum letters, bounds) changed; at 760k rows a full check is ~30 minutes on
2 cores, which a daily refresh of a few thousand rows must not pay.

lingua is built once per process for a fixed set of languages (settings plus labels and
targets): the full 75-language detector takes ~6 s and ~1.3 GB to load, a dozen European
languages ~5 s and ~350 MB, and restricting the set is what makes "is this Italian?" a
sharp question.

lingua holds the GIL for the whole of each parallel call (its threads are Rust's; checked
with a Python thread counting beside a call on 6,000 texts: it ran at 0.4% of its usual
rate). In the dbt build's process that stalled every other Python model for the ~25
minutes of a 760k-row check, the LLM stages' clients with them: a rate-limited translation
could not send while the check ran beside it. So large batches (``WORKER_MIN_TEXTS``
distinct texts or more) are detected in one child process that holds the detector
(``_Worker``), and the build's threads go on while it works; small ones (a test, a
translation's verification) stay in process, where the child's start (~1 s plus the
detector's ~5 s) would cost more than the detection. Both paths call the same
``_confidences``, so a verdict does not depend on where it was computed. The child ends
with the ``check_languages`` pass that started it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import pickle
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from synthlake.errors import SettingsError, SynthlakeError
from synthlake.instructions.protect import letters, prose

log = logging.getLogger(__name__)

CONFIDENT = 0.5  # relative confidence above which a detection is reported
LABEL_ABSENT = 0.1  # ... and below which the label's language counts as absent
MAX_CHARS = 2000  # lingua's verdict is settled long before; longer texts only cost time
BATCH_ROWS = 10_000  # rows whose texts and detections are in memory at once (two batches)
# What a large check holds outside DuckDB while it runs: the child with lingua's models
# (460-530 MiB for the default 11 languages after its first batches), the parent's two
# batches of texts (the one detected, the next; ~50 MB each) and a pickle of one (~0.1-0.2
# GB in all) and the verdicts so far (~260 bytes a row: 0.2 GB
# at 760k rows). dbt's Python model lends DuckDB's memory limit this much for the check
# (``synthlake.lake.duckdb_memory_lent``).
CHECK_FOOTPRINT_BYTES = 1_000_000_000
WORKER_MIN_TEXTS = 2_000  # distinct texts from which a batch goes to the child process

LANGID_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("language", pa.string()),  # the dataset's label
        ("detected_language", pa.string()),  # of the row's text as a whole (None: too short)
        ("language_confidence", pa.float64()),
        ("turn_roles", pa.list_(pa.string())),
        ("turn_languages", pa.list_(pa.string())),  # per turn; None where too short
        ("mismatched_roles", pa.list_(pa.string())),
        ("language_mismatch", pa.bool_()),
        ("content_hash", pa.string()),  # of the checked version of the row
        ("langid_config", pa.string()),  # the check that judged it (LanguageIdentifier.config)
    ]
)


@dataclass(frozen=True, slots=True)
class Detection:
    top: str | None  # lingua's best guess (ISO 639-1); None when the text is too short
    confidence: float | None  # its relative confidence (0-1)
    scores: dict[str, float] | None = None  # every candidate language's confidence

    @property
    def language(self) -> str | None:
        """The best guess when it is confident, else None."""
        if self.top is None or (self.confidence or 0) < CONFIDENT:
            return None
        return self.top

    def score(self, code: str) -> float:
        return (self.scores or {}).get(code, 0.0)

    def contradicts(self, label: str) -> bool:
        """Confidently another language than ``label``, which is (almost) absent."""
        return self.language not in (None, label) and self.score(label) <= LABEL_ABSENT


_UNDECIDED = Detection(None, None)  # too short to judge, or scored by no language


@functools.lru_cache(maxsize=4)
def _detector(codes: tuple[str, ...]):  # noqa: ANN202 - lingua's type
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = []
    for code in codes:
        try:
            languages.append(Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())))
        except AttributeError:
            raise SettingsError(f"lingua does not know the language code {code!r}") from None
    if len(languages) < 2:
        raise SettingsError(f"language ID needs at least two languages, got {list(codes)}")
    return LanguageDetectorBuilder.from_languages(*languages).build()


def _confidences(codes: tuple[str, ...], texts: list[str]) -> list[dict[str, float]]:
    """Every candidate language's relative confidence, per text (in process or the child)."""
    values = _detector(codes).compute_language_confidence_values_in_parallel(texts)
    return [
        {c.language.iso_code_639_1.name.lower(): round(float(c.value), 4) for c in confidences}
        for confidences in values
    ]


class _Worker:
    """One child Python (``python -m synthlake.instructions.langid``) that runs
    ``_confidences`` on what it reads from its stdin and answers on its stdout, as pickles.

    A plain subprocess rather than ``multiprocessing``: its "spawn" start re-runs the
    parent's main script, which a script without a ``__main__`` guard (a notebook cell, a
    bench) does not survive. One request at a time; a child that dies is started again at
    the next batch. When the parent dies, the child reads EOF and exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None

    def run(self, codes: tuple[str, ...], texts: list[str]) -> list[dict[str, float]]:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE
                )
            proc = self._proc
            try:
                pickle.dump((codes, texts), proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                proc.stdin.flush()
                ok, answer = pickle.load(proc.stdout)
            except (OSError, EOFError, pickle.UnpicklingError) as exc:
                code = self._discard()
                how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
                raise SynthlakeError(
                    f"language ID: the child process detecting {len(texts)} texts died "
                    f"({how}: {exc!r}); nothing of this batch was stored: run "
                    f"again to check it (killed for memory? lower BATCH_ROWS, now {BATCH_ROWS})"
                ) from exc
            except BaseException:
                # interrupted (Ctrl-C, a cancelled task) between the request and its answer:
                # the answer still coming would be read as the next batch's
                self._discard()
                raise
        if not ok:
            raise answer
        return answer

    def _discard(self) -> int:
        """Kill the child (the lock is held); its exit status."""
        assert self._proc is not None
        self._proc.kill()
        code = self._proc.wait()
        self._proc = None
        return code

    def close(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.stdin.close()  # EOF: the child exits
                try:
                    self._proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
            self._proc = None


_WORKER = _Worker()
atexit.register(_WORKER.close)


def _serve() -> None:
    """The child's loop: (codes, texts) in, (ok, confidences or the exception) out."""
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answers
    while True:
        try:
            codes, texts = pickle.load(requests)
        except EOFError:
            return
        try:
            answer = (True, _confidences(codes, texts))
        except Exception as exc:  # noqa: BLE001 - sent back and raised in the parent
            answer = (False, exc)
        pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()


class LanguageIdentifier:
    """Detect languages among a fixed set; texts under ``min_letters`` get None."""

    def __init__(self, codes: Iterable[str], *, min_letters: int = 20) -> None:
        self.codes = tuple(sorted({c.lower() for c in codes}))
        self.min_letters = min_letters

    @property
    def config(self) -> str:
        """What a verdict depends on besides the text: a row judged under another config is
        judged again."""
        return (
            f"lingua:{','.join(self.codes)};min_letters={self.min_letters};"
            f"confident={CONFIDENT};absent={LABEL_ABSENT};max_chars={MAX_CHARS}"
        )

    @classmethod
    def from_settings(cls, settings, extra: Iterable[str] = ()) -> LanguageIdentifier:  # noqa: ANN001
        return cls([*settings.langid_languages, *extra], min_letters=settings.langid_min_letters)

    @classmethod
    def for_instructions(cls, settings, instructions) -> LanguageIdentifier:  # noqa: ANN001
        """The instruction check's identifier: the settings' languages and every label of
        ``instructions`` (a DuckDB relation with ``language``). The language check model
        and the translation's own check must use the same one, to reach the same verdicts."""
        labels = {row[0] for row in instructions.project("language").distinct().fetchall()}
        return cls.from_settings(settings, extra=labels)

    def texts_to_detect(
        self, texts: Sequence[str], *, is_prose: bool = False
    ) -> tuple[list[str], list[str]]:
        """(each text as lingua reads it, the distinct ones long enough to judge): what
        ``detect_many`` sends to lingua."""
        cleaned = [(t if is_prose else prose(t))[:MAX_CHARS] for t in texts]
        # Each distinct text is detected once (SlimOrca repeats a few dozen system prompts
        # over 518k rows; duplicates repeat whole turns); equal texts share one Detection.
        distinct = [t for t in dict.fromkeys(cleaned) if letters(t) >= self.min_letters]
        return cleaned, distinct

    def detect_many(self, texts: Sequence[str], *, is_prose: bool = False) -> list[Detection]:
        """One detection per text (in parallel inside lingua)."""
        cleaned, distinct = self.texts_to_detect(texts, is_prose=is_prose)
        found = self.detect_distinct(distinct)
        return [found.get(text, _UNDECIDED) for text in cleaned]

    def detect_distinct(self, distinct: Sequence[str]) -> dict[str, Detection]:
        """The detection of each of ``distinct`` (cleaned texts, as ``texts_to_detect``
        gives them) that lingua scores at all: in the child process for a large batch."""
        if not distinct:
            return {}
        if len(distinct) >= WORKER_MIN_TEXTS:
            values = _WORKER.run(self.codes, list(distinct))
        else:
            values = _confidences(self.codes, list(distinct))
        found: dict[str, Detection] = {}
        for text, scores in zip(distinct, values, strict=True):
            if not scores or max(scores.values()) <= 0:
                continue
            top = max(scores, key=scores.__getitem__)
            found[text] = Detection(top, scores[top], scores)
        return found

    def detect(self, text: str) -> Detection:
        return self.detect_many([text])[0]


def check_languages(
    rows: pa.Table | Iterable[pa.RecordBatch],
    identifier: LanguageIdentifier,
    *,
    batch_rows: int = BATCH_ROWS,
    on_batch: Callable[[pa.Table], None] | None = None,
    end_child: bool = True,
) -> pa.Table:
    """Detect every turn's language and the row's; flag rows that disagree with the label.

    ``rows`` holds ``id``, ``language``, ``turns`` (list of {role, content}) and, optionally,
    ``content_hash`` (passed through): a table, or
    a stream of record batches (a relation's ``to_arrow_reader``), so that only two batches
    of texts (the one lingua detects, the next) are in memory as Python objects at a time;
    the result (no text) is small.
    ``on_batch`` gets each batch's verdicts as soon as they are made (``CheckProgress``).
    The child process the call started (if any) ends with it, unless ``end_child`` is False
    (a caller making many calls in a row, which then calls ``end_child_process``).
    """
    batches = rows.to_batches(max_chunksize=batch_rows) if isinstance(rows, pa.Table) else rows
    parts = []

    def finish(batch: _PreparedBatch, detections: Future[dict[str, Detection]]) -> None:
        part = batch.verdicts(detections.result())
        if on_batch is not None:
            on_batch(part)
        parts.append(part)

    # One batch ahead: while lingua (in the child) detects batch k, this thread makes batch
    # k-1's verdicts and batch k+1's texts, work that left a core idle while it ran alone
    # (``bench/langid_floor.py --rows 100000``: 11% beyond lingua's own time, 5% overlapped).
    pool = ThreadPoolExecutor(1, thread_name_prefix="langid")
    queued: deque[tuple[_PreparedBatch, Future[dict[str, Detection]]]] = deque()
    finishing = False  # a failure while finishing a batch (its detection, on_batch) ...
    try:
        for batch in batches:
            # a reader's batches may be larger than batch_rows: cut them too
            for start in range(0, batch.num_rows, batch_rows):
                prepared = _prepare_batch(batch.slice(start, batch_rows), identifier)
                queued.append(
                    (prepared, pool.submit(identifier.detect_distinct, prepared.distinct))
                )
                if len(queued) > 1:
                    finishing = True
                    finish(*queued.popleft())
                    finishing = False
        finishing = True
        while queued:
            finish(*queued.popleft())
    except BaseException:
        # ... stops the check there; one before it (the stream, the next batch's texts)
        # first keeps the batch lingua already has, so a resumed check starts after it
        if queued and not finishing:
            with contextlib.suppress(Exception):
                finish(*queued.popleft())
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if end_child:
            end_child_process()
    result = pa.concat_tables(parts) if parts else LANGID_SCHEMA.empty_table()
    flagged = pc.sum(result.column("language_mismatch")).as_py() or 0
    log.info("langid: read %d, language_mismatch %d", result.num_rows, flagged)
    return result


def end_child_process() -> None:
    """End the child process, if one runs. It holds lingua's models (~430 MiB for the
    default 11 languages): left to the process's exit, it sat in the build's memory
    through every model after the check. The next detection that needs it starts one
    again (~1 s plus the detector's load); one child serves every thread, so a pass that
    ends it while another thread's check still runs costs that check one such start."""
    _WORKER.close()


def turn_and_row_texts(turns: list[list[dict] | None]) -> tuple[list[str], list[int], list[str]]:
    """What the check detects of rows' ``turns``: every turn's text, the row each belongs
    to, and each row's text as a whole (its turns joined by newlines)."""
    texts: list[str] = []
    owner: list[int] = []
    for i, row_turns in enumerate(turns):
        for turn in row_turns or []:
            texts.append(turn["content"] or "")
            owner.append(i)
    whole = ["\n".join(t["content"] or "" for t in row_turns or []) for row_turns in turns]
    return texts, owner, whole


@dataclass(slots=True)
class _PreparedBatch:
    """One batch of rows as the check needs them, their texts cleaned and deduplicated
    (``distinct``: what lingua is asked, turns and whole rows in one request)."""

    ids: list[str]
    labels: list[str]
    hashes: list[str | None]
    roles: list[list[str]]
    owner: list[int]  # the row of each turn text
    turn_texts: list[str]
    row_texts: list[str]
    distinct: list[str]
    config: str

    def verdicts(self, found: dict[str, Detection]) -> pa.Table:
        """The batch's verdicts (``LANGID_SCHEMA``) from ``found``'s detections."""
        per_turn = [found.get(text, _UNDECIDED) for text in self.turn_texts]
        per_row = [found.get(text, _UNDECIDED) for text in self.row_texts]
        ids, labels, roles = self.ids, self.labels, self.roles
        turn_languages: list[list[str | None]] = [[] for _ in ids]
        mismatched: list[list[str]] = [[] for _ in ids]
        for k, i in enumerate(self.owner):
            role = roles[i][len(turn_languages[i])]
            turn_languages[i].append(per_turn[k].language)
            if per_turn[k].contradicts(labels[i]) and role not in mismatched[i]:
                mismatched[i].append(role)
        flags = [bool(mismatched[i]) or per_row[i].contradicts(labels[i]) for i in range(len(ids))]
        return pa.table(
            {
                "id": ids,
                "language": labels,
                "detected_language": [d.language for d in per_row],
                "language_confidence": [d.confidence for d in per_row],
                "turn_roles": roles,
                "turn_languages": turn_languages,
                "mismatched_roles": mismatched,
                "language_mismatch": flags,
                "content_hash": self.hashes,
                "langid_config": [self.config] * len(ids),
            },
            schema=LANGID_SCHEMA,
        )


def _prepare_batch(rows: pa.RecordBatch, identifier: LanguageIdentifier) -> _PreparedBatch:
    ids = rows.column("id").to_pylist()
    names = rows.schema.names
    # a copy: an array of the batch DuckDB exported keeps the whole batch (its texts) alive
    hashes = (
        rows.column("content_hash").to_pylist() if "content_hash" in names else [None] * len(ids)
    )
    turns = rows.column("turns").to_pylist()
    texts, owner, whole = turn_and_row_texts(turns)
    turn_texts, turn_distinct = identifier.texts_to_detect(texts)
    row_texts, row_distinct = identifier.texts_to_detect(whole)
    return _PreparedBatch(
        ids=ids,
        labels=rows.column("language").to_pylist(),
        hashes=hashes,
        roles=[[t["role"] for t in row_turns or []] for row_turns in turns],
        owner=owner,
        turn_texts=turn_texts,
        row_texts=row_texts,
        distinct=list(dict.fromkeys([*turn_distinct, *row_distinct])),
        config=identifier.config,
    )


if __name__ == "__main__":
    _serve()

"""The run's display of its stages, for a person watching ``synthlake run``.

``RunDisplay`` is what ``synthlake run`` shows while it works: one row per stage (name,
done/total, rate, elapsed and time left) and one per LLM stage inside the dbt build
(requests answered/cached/failed, from ``synthlake.llm.runner.PROGRESS_LISTENERS``). At a
terminal it is a live rich display, with warnings and errors printed above it, gone when
the run ends (the summary follows). Anywhere else (CI, a redirected output, a Prefect
worker, a test's subprocess) a live display would print one line per refresh, so it
degrades to plain lines: one per finished stage, one per LLM stage at the end of the
build, and a "still running" line every ``heartbeat_s`` during a long stage.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

from rich.console import Console

T = TypeVar("T")
log = logging.getLogger(__name__)


@cache
def terminal_console() -> Console:
    """The one console on stderr that log lines (``synthlake/pipeline/run_log.py``) and the live
    display share, so that a line logged during the display lands above it."""
    return Console(stderr=True)


def is_live(console: Console) -> bool:
    """Whether ``console`` can redraw a live display in place (a real terminal)."""
    return console.is_terminal and not console.is_dumb_terminal


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


@dataclass(slots=True)
class _Stage:
    name: str
    unit: str
    total: int | None
    done: int = 0
    started: float = field(default_factory=time.perf_counter)
    task_id: Any = None


@dataclass(slots=True)
class LLMCounts:
    """Requests of one LLM stage (``what`` of the runner), summed over its batches."""

    total: int = 0
    answered: int = 0
    cached: int = 0
    failed: int = 0

    @property
    def done(self) -> int:
        return self.answered + self.cached + self.failed

    def describe(self) -> str:
        return f"{self.answered} answered, {self.cached} cached, {self.failed} failed"


class RunDisplay:
    """The stages of one run, shown live at a terminal or as a few plain lines otherwise.

    >>> with RunDisplay() as display:
    ...     display.begin("dbt build", unit="nodes")
    ...     display.advance(total=485)
    ...     seconds = display.end()
    """

    def __init__(
        self, console: Console | None = None, *, live: bool | None = None, heartbeat_s: float = 120
    ) -> None:
        self.console = console or terminal_console()
        self.live = is_live(self.console) if live is None else live
        self.heartbeat_s = heartbeat_s
        self._lock = threading.RLock()
        self._stage: _Stage | None = None
        self._llm: dict[str, dict[int, Any]] = {}  # what -> batches (runner's Progress)
        self._llm_tasks: dict[str, Any] = {}
        self._progress: Any = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    # --- lifetime ------------------------------------------------------------------------
    def __enter__(self) -> RunDisplay:
        from synthlake.llm.runner import PROGRESS_LISTENERS

        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=self.console,
                transient=True,  # the summary that follows says it all
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._progress.start()
        elif self.heartbeat_s > 0:
            self._heartbeat = threading.Thread(
                target=self._beat, name="run-display-heartbeat", daemon=True
            )
            self._heartbeat.start()
        PROGRESS_LISTENERS.append(self.on_llm_progress)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop showing progress (the summary follows); later stages print nothing live."""
        from synthlake.llm.runner import PROGRESS_LISTENERS

        if self.on_llm_progress in PROGRESS_LISTENERS:
            PROGRESS_LISTENERS.remove(self.on_llm_progress)
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None

    # --- stages --------------------------------------------------------------------------
    def begin(self, name: str, *, unit: str = "", total: int | None = None) -> None:
        with self._lock:
            self._stage = stage = _Stage(name=name, unit=unit, total=total)
            if self._progress is not None:
                stage.task_id = self._progress.add_task(name, total=total, unit=unit, info="")

    def advance(self, steps: int = 1, *, total: int | None = None) -> None:
        """Count ``steps`` more done in the current stage (and set its total if known)."""
        with self._lock:
            stage = self._stage
            if stage is None:
                return
            stage.done += steps
            if total is not None:
                stage.total = total
            if self._progress is not None:
                self._progress.update(stage.task_id, completed=stage.done, total=stage.total)

    def end(self, note: str = "") -> float:
        """Close the current stage; returns its wall seconds. ``note`` replaces the counts
        in its line (``dbt build skipped: ...``)."""
        with self._lock:
            stage, self._stage = self._stage, None
            if stage is None:
                return 0.0
            seconds = time.perf_counter() - stage.started
            if self._progress is not None:
                self._progress.remove_task(stage.task_id)
                for task_id in self._llm_tasks.values():
                    self._progress.remove_task(task_id)
            line = f"{stage.name}: {note or self._counts(stage)} ({format_seconds(seconds)})"
            self.print(line)
            for what, counts in self._llm_totals().items():
                self.print(f"  {what}: {counts.done}/{counts.total} requests ({counts.describe()})")
            self._llm.clear()
            self._llm_tasks.clear()
            return seconds

    def print(self, text: str) -> None:
        """A line for the person: above the live display, or a plain line."""
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    # --- LLM stages (synthlake.llm.runner) -----------------------------------------------
    def on_llm_progress(self, progress: Any) -> None:
        """A ``PROGRESS_LISTENERS`` callback: one batch's counts, summed per stage."""
        try:
            with self._lock:
                # held (not copied) until the stage ends: its id stays its own
                self._llm.setdefault(progress.what, {})[id(progress)] = progress
                if self._progress is None:
                    return
                counts = self._llm_totals()[progress.what]
                task_id = self._llm_tasks.get(progress.what)
                if task_id is None:
                    task_id = self._progress.add_task(
                        f"  {progress.what}", total=counts.total, unit="requests", info=""
                    )
                    self._llm_tasks[progress.what] = task_id
                self._progress.update(
                    task_id, completed=counts.done, total=counts.total, info=counts.describe()
                )
        except Exception:  # noqa: BLE001 - a display problem never fails an LLM stage
            log.debug("run display: LLM progress not shown", exc_info=True)

    def _llm_totals(self) -> dict[str, LLMCounts]:
        totals: dict[str, LLMCounts] = {}
        for what, batches in self._llm.items():
            counts = totals[what] = LLMCounts()
            for batch in batches.values():
                counts.total += batch.total
                counts.answered += batch.answered
                counts.cached += batch.cached
                counts.failed += batch.failed
        return totals

    # --- plain mode ----------------------------------------------------------------------
    @staticmethod
    def _counts(stage: _Stage) -> str:
        if stage.total is None and not stage.done:
            return "done"
        total = f"/{stage.total}" if stage.total is not None else ""
        return f"{stage.done}{total} {stage.unit}".rstrip()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            with self._lock:
                stage = self._stage
                if stage is None:
                    continue
                elapsed = format_seconds(time.perf_counter() - stage.started)
                parts = [f"{stage.name}: {self._counts(stage)}, running for {elapsed}"]
                parts += [
                    f"{what} {c.done}/{c.total} requests" for what, c in self._llm_totals().items()
                ]
                self.print("... " + "; ".join(parts))


# dbt's node lines, as the build logs them: "12 of 485 START sql table model main.x",
# "12 of 485 OK created sql table model main.x", "13 of 485 PASS not_null_x_id"; not the
# hooks' ("1 of 1 OK hook: synthlake.on-run-end.0"), numbered on their own.
DBT_NODE_LINE = re.compile(r"^(\d+) of (\d+) (\S+) (?!hook:)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class DbtNodeCounter(logging.Handler):
    """Advances the display's stage by one for each dbt node that finished.

    The build logs dbt's node lines on ``prefect.task_runs`` (its own task's logger, or
    one task per node with ``SYNTHLAKE_DBT_NODE_TASKS``); a line
    "N of M <status>" other than START is a node done, and M the number of nodes."""

    def __init__(self, display: RunDisplay) -> None:
        super().__init__(logging.INFO)
        self.display = display

    def emit(self, record: logging.LogRecord) -> None:
        try:
            match = DBT_NODE_LINE.match(ANSI.sub("", record.getMessage()))
            if match and match.group(3) != "START":
                self.display.advance(total=int(match.group(2)))
        except Exception:  # noqa: BLE001 - a display problem never fails the build
            self.handleError(record)

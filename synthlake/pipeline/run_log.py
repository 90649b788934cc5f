"""Where log lines go: a quiet terminal, the full log in the run folder.

- **terminal** (stderr): warnings and errors only, printed through the same rich console
  as the run's live display (``synthlake/pipeline/run_display.py``), so they land above it. With
  ``synthlake -v`` every line (dbt's node lines included) is shown.
- **run log**: ``lake/runs/<run_id>/run.log`` gets every line of the run at INFO (DEBUG with
  ``-v``): synthlake's, the LLM runner's progress, dbt's node lines (which the build task logs
  on ``prefect.task_runs``) and Prefect's own.
- **Prefect**: its per-task lines ("Finished in state Completed()") stay in Prefect (the UI,
  ``prefect flow-run logs``): the API handler Prefect puts on ``prefect.flow_runs`` and
  ``prefect.task_runs`` is left alone, and they never reach the terminal, ``-v`` or not.

Prefect's logging config puts its console handler on the root logger only when the root has
no handler of the application's (``prefect.logging.configuration.setup_logging``), so the
handler installed here, before Prefect is imported, is the one the root keeps.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from synthlake.pipeline.run_display import ANSI, terminal_console

FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TERMINAL_FORMAT = "%(levelname)s %(name)s: %(message)s"
# Libraries that log every request or step at INFO: their lines go to the run log only
# when -v asks for DEBUG.
NOISY = ("httpx", "httpcore", "urllib3", "asyncio", "filelock")


def is_prefect_engine_line(record: logging.LogRecord) -> bool:
    """Prefect's own lines about its flow and task runs ("Finished in state Completed()",
    a failed task's traceback), as opposed to what a task logged itself (synthlake's
    tasks, dbt's node lines the build forwards): those come from Prefect's package."""
    return record.name in ("prefect.task_runs", "prefect.flow_runs") and (
        f"{os.sep}prefect{os.sep}" in record.pathname
    )


class TerminalHandler(logging.Handler):
    """Log lines on the terminal console: above the live display when there is one."""

    def __init__(self, console: Console, *, verbose: bool = False) -> None:
        super().__init__(logging.DEBUG if verbose else logging.WARNING)
        self.console = console
        self.verbose = verbose
        self.setFormatter(logging.Formatter(TERMINAL_FORMAT))

    def filter(self, record: logging.LogRecord) -> bool:
        if is_prefect_engine_line(record) and (
            record.levelno < logging.WARNING or not self.verbose
        ):
            # Prefect's states of the runs, and a failed task's traceback, which the
            # command line's one error line says again: in Prefect's UI and the run log
            return False
        if not getattr(record, "terminal", True):
            return False  # a line for the run log only (extra={"terminal": False})
        if record.name == "py.warnings" and not self.verbose:
            return False  # libraries' deprecations: in the run log; a user cannot act on them
        return super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = ANSI.sub("", self.format(record))
            style = "bold red" if record.levelno >= logging.ERROR else None
            if record.levelno == logging.WARNING:
                style = "yellow"
            self.console.print(text, markup=False, highlight=False, style=style, soft_wrap=True)
        except Exception:  # noqa: BLE001 - logging never raises
            self.handleError(record)


class PlainFormatter(logging.Formatter):
    """The run log's lines: no terminal colour codes (dbt colours its node statuses), the
    Prefect task run a line comes from (the dbt node's name)."""

    def format(self, record: logging.LogRecord) -> str:
        text = ANSI.sub("", super().format(record))
        task = getattr(record, "task_run_name", None)
        if task and record.name == "prefect.task_runs":
            name = f"{record.name}: "
            text = text.replace(name, f"{record.name} [{task}]: ", 1)
        return text


def configure_logging(verbose: bool = False, console: Console | None = None) -> None:
    """Set up the root logger of a command-line process (``synthlake``'s main callback)."""
    root = logging.getLogger()
    for handler in root.handlers[:]:
        # ours from an earlier call, or Prefect's console handler if Prefect came first
        if isinstance(handler, TerminalHandler) or type(handler).__name__ == (
            "PrefectConsoleHandler"
        ):
            root.removeHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.addHandler(TerminalHandler(console or terminal_console(), verbose=verbose))
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.captureWarnings(True)  # Python warnings become log lines (py.warnings)


@contextmanager
def run_log_file(path: Path) -> Iterator[Path]:
    """Write every log line of the block to ``path`` (appending: a retried run adds to it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    level = root.level
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG if level == logging.DEBUG else logging.INFO)
    handler.setFormatter(PlainFormatter(FILE_FORMAT))
    root.addHandler(handler)
    if level > logging.INFO:
        root.setLevel(logging.INFO)  # a Prefect worker's root is at WARNING
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


def quiet_progress_bars() -> None:
    """Turn off the libraries' own progress bars (tqdm: transformers converting the GGUF
    weights, the Hugging Face hub) for a run whose display shows the progress: on a
    terminal they break the live display, elsewhere each refresh is a line. Kept with
    ``-v`` (the root logger at DEBUG). Only defaults: a variable already set wins. Call it
    before tqdm is imported (it reads ``TQDM_*`` then)."""
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        return
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

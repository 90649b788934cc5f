"""Where log lines go: warnings on the terminal, everything in the run's run.log."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from synthlake.pipeline.run_log import configure_logging, run_log_file

NODE_LINE = "12 of 485 \x1b[32mOK\x1b[0m created sql table model main.news_qa [OK in 0.41s]"


@pytest.fixture
def root_logger() -> Iterator[None]:
    """configure_logging changes the process's root logger: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def emit(name: str, level: int, message: str, *, source: str = __file__, **extra: object) -> None:
    """A record as ``name``'s logger makes it, as if logged from the file ``source``."""
    logger = logging.getLogger(name)
    if not logger.isEnabledFor(level):
        return
    record = logger.makeRecord(name, level, source, 1, message, None, None, extra=extra or None)
    logger.handle(record)


def dbt_node_line() -> None:
    # prefect-dbt logs dbt's node lines from its runner, on prefect.task_runs
    emit(
        "prefect.task_runs",
        logging.INFO,
        NODE_LINE,
        source="/venv/site-packages/prefect_dbt/core/runner.py",
        task_run_name="model news_qa",
    )


def prefect_state_line() -> None:
    emit(
        "prefect.task_runs",
        logging.INFO,
        "Finished in state Completed()",
        source="/venv/site-packages/prefect/task_engine.py",
        task_run_name="model news_qa",
    )


def prefect_task_failure() -> None:
    emit(
        "prefect.task_runs",
        logging.ERROR,
        "Task run failed with exception: DbtError('dbt build failed')\nTraceback (most recent",
        source="/venv/site-packages/prefect/task_engine.py",
        task_run_name="build_warehouse-942",
    )


def own_task_warning() -> None:
    # a synthlake task's get_run_logger() line: on prefect.task_runs too, from our code
    emit(
        "prefect.task_runs",
        logging.WARNING,
        "ansa: robots.txt disallows /archivio",
        source="/work/synthlake/pipeline/flows.py",
        task_run_name="crawl_news_sites-0e9",
    )


def run(tmp_path: Path, *, verbose: bool) -> tuple[str, str]:
    out = io.StringIO()
    configure_logging(verbose, console=Console(file=out, width=200))
    with run_log_file(tmp_path / "runs" / "r1" / "run.log") as path:
        emit("synthlake.pipeline.flows", logging.INFO, "ingest news: 12 read, 12 new")
        dbt_node_line()
        prefect_state_line()
        own_task_warning()
        prefect_task_failure()
        emit("synthlake.llm.runner", logging.WARNING, "llm judge: 3 answers without a score")
        emit("synthlake.pipeline.flows", logging.ERROR, "run r1 failed: boom", terminal=False)
        emit("httpx", logging.INFO, "HTTP Request: POST http://127.0.0.1:4200/api/logs/")
    emit("synthlake.pipeline.flows", logging.WARNING, "after the run")
    return out.getvalue(), path.read_text(encoding="utf-8")


def test_the_terminal_gets_warnings_and_the_run_log_everything(
    tmp_path: Path, root_logger: None
) -> None:
    terminal, log = run(tmp_path, verbose=False)
    assert terminal.splitlines() == [
        "WARNING prefect.task_runs: ansa: robots.txt disallows /archivio",
        "WARNING synthlake.llm.runner: llm judge: 3 answers without a score",
        "WARNING synthlake.pipeline.flows: after the run",
    ]
    assert "INFO synthlake.pipeline.flows: ingest news: 12 read, 12 new" in log
    # dbt's node line with the node it belongs to, without the terminal colour codes
    assert (
        "INFO prefect.task_runs [model news_qa]: 12 of 485 OK created sql table model "
        "main.news_qa [OK in 0.41s]" in log
    )
    assert "\x1b[" not in log
    assert "Finished in state Completed()" in log  # the full log
    # a failed task's traceback: the command line's error line says it, once
    assert "ERROR prefect.task_runs [build_warehouse-942]: Task run failed" in log
    assert "run r1 failed: boom" in log
    assert "llm judge: 3 answers without a score" in log
    assert "HTTP Request" not in log  # a request per log line sent to Prefect: noise
    assert "after the run" not in log  # the file is the run's only


def test_verbose_brings_the_node_lines_to_the_terminal_but_not_prefects_states(
    tmp_path: Path, root_logger: None
) -> None:
    terminal, _ = run(tmp_path, verbose=True)
    assert "12 of 485 OK created sql table model main.news_qa" in terminal
    assert "ingest news: 12 read, 12 new" in terminal
    assert "Finished in state" not in terminal  # stays in Prefect (UI) and the run log
    assert "Task run failed with exception" in terminal  # -v: Prefect's errors too
    assert "run r1 failed" not in terminal  # the command line prints its own error


def test_library_warnings_go_to_the_run_log_not_the_terminal(
    tmp_path: Path, root_logger: None
) -> None:
    import warnings

    out = io.StringIO()
    configure_logging(False, console=Console(file=out, width=200))
    with run_log_file(tmp_path / "run.log") as path:
        warnings.warn("`foo` is deprecated, use `bar`", FutureWarning, stacklevel=1)
    assert out.getvalue() == ""
    assert "FutureWarning: `foo` is deprecated" in path.read_text(encoding="utf-8")


def test_a_prefect_worker_root_at_warning_still_fills_the_run_log(
    tmp_path: Path, root_logger: None
) -> None:
    logging.getLogger().setLevel(logging.WARNING)  # Prefect's logging config sets this
    with run_log_file(tmp_path / "run.log") as path:
        emit("synthlake.pipeline.flows", logging.INFO, "ingest news: 12 read, 12 new")
    assert "ingest news: 12 read, 12 new" in path.read_text(encoding="utf-8")
    assert logging.getLogger().level == logging.WARNING


LIBRARY_BAR = """
import logging, sys
from synthlake.pipeline.run_log import configure_logging, quiet_progress_bars
configure_logging(sys.argv[1] == "verbose")
quiet_progress_bars()
from tqdm.auto import tqdm  # as transformers does, after the command line started
for _ in tqdm(range(50), desc="Converting and de-quantizing GGUF tensors..."):
    pass
"""


@pytest.mark.parametrize(("mode", "bar_shown"), [("quiet", False), ("verbose", True)])
def test_a_run_turns_off_the_libraries_progress_bars_unless_verbose(
    mode: str, bar_shown: bool
) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TQDM_", "HF_HUB_DISABLE"))}
    done = subprocess.run(
        [sys.executable, "-c", LIBRARY_BAR, mode],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert ("de-quantizing GGUF tensors" in done.stderr) is bar_shown

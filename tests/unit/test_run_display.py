"""The run's progress display: live at a terminal, a few plain lines anywhere else."""

from __future__ import annotations

import io
import logging
import time

from rich.console import Console

from synthlake.llm.runner import PROGRESS_LISTENERS
from synthlake.llm.work import Progress
from synthlake.pipeline.run_display import DbtNodeCounter, RunDisplay


def console(*, terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=100), out


def llm_batch(what: str, *, answered: int, cached: int, failed: int) -> None:
    """What the LLM runner does with its progress: count, report after each unit of work."""
    progress = Progress(answered + cached + failed, what)
    progress.notify()
    for ok, from_cache, n in (
        (True, False, answered),
        (True, True, cached),
        (False, False, failed),
    ):
        for _ in range(n):
            progress.step(ok=ok, cached=from_cache)
            progress.report()
    progress.notify()


def test_without_a_terminal_each_stage_is_one_line_however_many_steps() -> None:
    term, out = console(terminal=False)
    with RunDisplay(term, heartbeat_s=0) as display:
        assert not display.live
        display.begin("ingest", unit="files")
        display.advance(4)
        display.end()
        display.begin("dbt build", unit="nodes")
        for _ in range(485):
            display.advance(total=485)
        llm_batch("llm summarize (local:smollm2)", answered=5, cached=2, failed=1)
        llm_batch("llm summarize (local:smollm2)", answered=3, cached=0, failed=1)  # 2nd batch
        llm_batch("llm judge (local:smollm2)", answered=20, cached=0, failed=0)
        display.end()
        display.begin("dbt build")
        display.end("skipped, nothing changed since the build of 2026-12-05T10:00:00")
    lines = out.getvalue().splitlines()
    assert len(lines) == 5, lines
    assert lines[0].startswith("ingest: 4 files (")
    assert lines[1].startswith("dbt build: 485/485 nodes (")
    assert lines[2] == (
        "  llm summarize (local:smollm2): 12/12 requests (8 answered, 2 cached, 2 failed)"
    )
    assert (
        lines[3] == "  llm judge (local:smollm2): 20/20 requests (20 answered, 0 cached, 0 failed)"
    )
    assert lines[4].startswith("dbt build: skipped, nothing changed since the build of")
    assert display.on_llm_progress not in PROGRESS_LISTENERS  # gone with the display


def test_without_a_terminal_a_long_stage_says_it_is_still_running() -> None:
    term, out = console(terminal=False)
    with RunDisplay(term, heartbeat_s=0.05) as display:
        display.begin("dbt build", unit="nodes")
        display.advance(7, total=485)
        deadline = time.monotonic() + 30
        while "running for" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        display.end()
    beats = [line for line in out.getvalue().splitlines() if line.startswith("...")]
    assert beats and beats[0].startswith("... dbt build: 7/485 nodes, running for")


def test_at_a_terminal_the_display_is_live_and_the_stage_lines_stay() -> None:
    term, out = console(terminal=True)
    with RunDisplay(term) as display:
        assert display.live
        display.begin("dbt build", unit="nodes")
        display.advance(3, total=10)
        llm_batch("llm translate (local:smollm2)", answered=2, cached=1, failed=0)
        display._progress.refresh()
        drawn = out.getvalue()
        assert "dbt build" in drawn and "3/10" in drawn
        assert "llm translate (local:smollm2)" in drawn and "2 answered, 1 cached" in drawn
        display.end()
    assert "dbt build: 3/10 nodes (" in out.getvalue()


def test_dbt_node_lines_advance_the_stage() -> None:
    term, out = console(terminal=False)
    logger = logging.getLogger("tests.prefect.task_runs")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    with RunDisplay(term, heartbeat_s=0) as display:
        display.begin("dbt build", unit="nodes")
        counter = DbtNodeCounter(display)
        logger.addHandler(counter)
        try:
            logger.info("Found 3 models, 1 data test, 420 macros")
            logger.info("1 of 4 START sql view model main.stg_news__articles ..... [RUN]")
            logger.info(
                "1 of 4 \x1b[32mOK\x1b[0m created sql view model main.stg_news__articles "
                "[\x1b[32mOK\x1b[0m in 0.05s]"
            )
            logger.info("2 of 4 START test not_null_stg_news__articles_url ....... [RUN]")
            logger.info("1 of 1 START hook: synthlake.on-run-end.0 ........ [RUN]")
            logger.info("1 of 1 OK hook: synthlake.on-run-end.0 ........ [OK in 0.17s]")
            logger.info("2 of 4 PASS not_null_stg_news__articles_url ....... [PASS in 0.02s]")
            logger.info("3 of 4 ERROR creating sql table model main.news_qa ..... [ERROR in 1s]")
        finally:
            logger.removeHandler(counter)
        display.end()
    assert out.getvalue().startswith("dbt build: 3/4 nodes (")

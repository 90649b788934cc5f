"""The progress line of a long LLM batch counts the requests finished, not the calls to it."""

from __future__ import annotations

import logging
import time

from synthlake.llm.work import Progress as _Progress


def test_a_batch_of_answers_is_reported_once_with_its_count(caplog) -> None:
    progress = _Progress(51, "llm summarize (local:smollm2)")
    progress._last = time.monotonic() - 60  # the last line was a minute ago
    with caplog.at_level(logging.INFO, logger="synthlake.llm.runner"):
        # one forward pass of 8 answered requests (2 of them from the cache), 1 failure
        for k in range(8):
            progress.step(cached=k < 2)
        progress.step(ok=False)
        progress.report()
        progress.report()  # within 30 s of the last line: nothing more
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "llm summarize (local:smollm2): 9/51 requests done (6 answered, 2 cached, 1 failed)"
    ]

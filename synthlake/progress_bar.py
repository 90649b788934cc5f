"""A long loop's progress: a rich bar at a terminal, a log line every ``log_every`` items
otherwise (a scheduled run, a redirected output). The run's own display of its stages is
``synthlake/pipeline/run_display.py``."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def progress(
    items: Iterable[T], description: str, *, total: int | None = None, log_every: int = 1000
) -> Iterator[T]:
    if sys.stderr.isatty():
        from rich.progress import track

        yield from track(items, description=description, total=total, transient=True)
        return
    count = 0
    for count, item in enumerate(items, start=1):
        if count % log_every == 0:
            log.info("%s: %d%s", description, count, f"/{total}" if total else "")
        yield item
    log.info("%s: done, %d items", description, count)

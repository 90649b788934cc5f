"""Progress for long loops: a rich bar for a person at a terminal, log lines otherwise.

Under Prefect workers, CI or a redirected output a live bar is noise, so when stderr is not
a terminal the loop logs its count every ``log_every`` items and at the end.
"""

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

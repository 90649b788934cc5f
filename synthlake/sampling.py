"""Seeded, stable selections of rows: the same rows on every build.

Used where a run does only part of the work by design (the sample profile translates and
judges a subset, so the local 135M model finishes in minutes). A row is in when the hash of
``seed:id`` ranks among the ``size`` smallest: the same input gives the same rows in any
order, so an incremental rerun has nothing new to do; added rows can take the place of some
old ones but never bring in an old row that was out. Not
``random.sample``: its choice depends on the order and number of the rows it is given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def seeded_selection(ids: Iterable[str], size: int | None, *, seed: int) -> list[str]:
    """At most ``size`` of ``ids`` (all when ``size`` is None), sorted."""
    unique = sorted(set(ids))
    if size is None or size >= len(unique):
        return unique
    rank = {i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest() for i in unique}
    return sorted(sorted(unique, key=rank.__getitem__)[:size])

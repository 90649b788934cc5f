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


def _rank(seed: int, row_id: str) -> str:
    return hashlib.sha256(f"{seed}:{row_id}".encode()).hexdigest()


def seeded_selection(ids: Iterable[str], size: int | None, *, seed: int) -> list[str]:
    """At most ``size`` of ``ids`` (all when ``size`` is None), sorted."""
    unique = sorted(set(ids))
    if size is None or size >= len(unique):
        return unique
    return sorted(seeded_order(unique, seed=seed)[:size])


def seeded_order(ids: Iterable[str], *, seed: int) -> list[str]:
    """Every distinct id, in the order ``seeded_selection`` takes them: its first ``size``
    are the selection. Walking it lets a caller select among the ids that pass a check it
    makes as it goes (translation sources: language-checked only as far as needed)."""
    return sorted(set(ids), key=lambda i: _rank(seed, i))

"""The build freezes the heap dbt parsed (gc.freeze) while its nodes run, and thaws it after:
full collections then walk only what the build's models allocate (see HeapFreezer)."""

from __future__ import annotations

import collections
import gc
import threading
import time
from types import SimpleNamespace

import pytest

from synthlake.pipeline.dbt_runner import HeapFreezer, run_dbt
from synthlake.settings import Settings


def event(name: str) -> SimpleNamespace:
    return SimpleNamespace(info=SimpleNamespace(name=name))


@pytest.fixture(autouse=True)
def _thawed() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0


def test_the_heap_is_frozen_from_the_run_of_the_nodes_until_thawed() -> None:
    kept = [[i] for i in range(1000)]  # tracked objects alive when the nodes start
    freezer = HeapFreezer()
    freezer(event("MainReportVersion"))  # parsing: not yet
    assert gc.get_freeze_count() == 0
    freezer(event("ConcurrencyLine"))
    frozen = gc.get_freeze_count()
    assert frozen >= len(kept)
    freezer(event("ConcurrencyLine"))  # once per invocation
    assert gc.get_freeze_count() == frozen
    freezer.thaw()
    assert gc.get_freeze_count() == 0


def test_two_builds_at_once_thaw_when_the_last_ends() -> None:
    first, second = HeapFreezer(), HeapFreezer()
    first(event("ConcurrencyLine"))
    second(event("ConcurrencyLine"))
    first.thaw()
    assert gc.get_freeze_count() > 0  # the second build still runs
    second.thaw()
    assert gc.get_freeze_count() == 0
    second.thaw()  # a second thaw is harmless
    assert gc.get_freeze_count() == 0


def test_a_build_freezes_the_heap_while_it_runs_and_leaves_it_thawed(settings: Settings) -> None:
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:  # what the build's own threads would see
        while not done.is_set():
            seen.append(gc.get_freeze_count())
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = run_dbt(["build", "--select", "int_quality_thresholds"], settings)
    finally:
        done.set()
        watcher.join()
    assert result.success
    assert max(seen) > 100_000  # dbt's parsed project and the libraries, at least
    assert gc.get_freeze_count() == 0


def test_full_collections_still_run_for_what_the_build_allocates_after_the_freeze() -> None:
    """Cycles that live long enough to reach the oldest generation (an LLM stage's
    requests) must be collected during the build, not wait for a quarter of the frozen
    heap's size in new long-lived objects."""
    kept = [[i] for i in range(1_000_000)]  # dbt's manifest and the libraries, in small
    full = []

    def count(phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(info["collected"])

    freezer = HeapFreezer()
    freezer(event("ConcurrencyLine"))
    gc.callbacks.append(count)
    try:
        recent: collections.deque = collections.deque(maxlen=20_000)
        for i in range(60_000):
            stage = {"row": [i]}
            stage["self"] = stage  # a cycle, alive for a while: it reaches the oldest generation
            recent.append(stage)
    finally:
        gc.callbacks.remove(count)
        freezer.thaw()
    assert len(kept) == 1_000_000
    assert full, "no full collection ran while the heap was frozen"
    assert sum(full) > 0  # and it freed the stages' cycles

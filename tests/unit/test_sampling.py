from __future__ import annotations

import random

import pytest

from synthlake.sampling import seeded_order, seeded_selection

IDS = [f"row-{i:03d}" for i in range(200)]


def test_none_or_a_large_size_keeps_everything_once() -> None:
    assert seeded_selection(IDS + IDS[:5], None, seed=1) == sorted(IDS)
    assert seeded_selection(IDS, 500, seed=1) == sorted(IDS)


def test_the_choice_does_not_depend_on_the_order_of_the_input() -> None:
    shuffled = IDS[:]
    random.Random(7).shuffle(shuffled)
    chosen = seeded_selection(IDS, 20, seed=3)
    assert len(chosen) == 20
    assert seeded_selection(shuffled, 20, seed=3) == chosen
    assert chosen != sorted(IDS)[:20]  # not simply the first ids


def test_added_rows_never_bring_in_an_old_row_that_was_out() -> None:
    before = set(seeded_selection(IDS[:150], 30, seed=5))
    after = set(seeded_selection(IDS, 30, seed=5))
    assert after & set(IDS[:150]) <= before


@pytest.mark.parametrize("size", [0, 1, 10])
def test_size_and_seed_matter(size: int) -> None:
    assert len(seeded_selection(IDS, size, seed=1)) == size
    if size:
        assert seeded_selection(IDS, 10, seed=1) != seeded_selection(IDS, 10, seed=2)


def test_the_first_ids_of_the_seeded_order_are_the_selection() -> None:
    order = seeded_order(IDS + IDS[:7], seed=4)
    assert sorted(order) == sorted(IDS)  # each id once
    for size in (1, 20, 199):
        assert sorted(order[:size]) == seeded_selection(IDS, size, seed=4)
    # selecting among the ids that pass a check, walking the order, is selecting among
    # the passing ids
    passing = [i for i in IDS if int(i[-3:]) % 3]
    walked = [i for i in order if i in set(passing)][:25]
    assert sorted(walked) == seeded_selection(passing, 25, seed=4)

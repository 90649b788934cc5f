"""The requests pacer keeps the slots of waiters that wake up late (issue 17).

With a one-request leaky bucket, every slot a waiter woke up late for was lost, so a
client on a busy event loop sent well under its requests-per-minute (80% of 3,000/min
measured on a loaded 2-core machine). The pacer hands out a fixed schedule instead; times
here are given explicitly, so nothing depends on the machine's speed.
"""

from __future__ import annotations

import pytest

from synthlake.llm.limits import CATCH_UP_S, ProviderLimiter, RequestPacer


def test_slots_are_one_period_apart_from_the_first_request():
    pacer = RequestPacer(per_second=50)  # a slot every 20 ms
    assert [pacer.reserve(10.0) for _ in range(4)] == pytest.approx([10.0, 10.02, 10.04, 10.06])


def test_a_late_reservation_keeps_its_slot_so_the_rate_is_not_lost():
    pacer = RequestPacer(per_second=50)
    assert pacer.reserve(10.0) == 10.0
    # the next waiter only got to run 50 ms later: its slot (10.02) is still its own,
    # and the ones after it follow the schedule, not the late wake-up
    late = 10.0 + 0.05
    assert late - 10.02 < CATCH_UP_S
    assert [pacer.reserve(late) for _ in range(3)] == pytest.approx([10.02, 10.04, 10.06])
    assert pacer.reserve(late) == pytest.approx(10.08)  # in the future: that one waits


def test_after_an_idle_spell_there_is_no_burst():
    pacer = RequestPacer(per_second=50)
    pacer.reserve(10.0)
    # a second later nobody asked meanwhile: the missed slots are not owed
    assert [pacer.reserve(11.0) for _ in range(3)] == pytest.approx([11.0, 11.02, 11.04])


def test_at_most_catch_up_worth_of_requests_leave_together():
    pacer = RequestPacer(per_second=100, catch_up_s=0.1)
    pacer.reserve(0.0)
    now = 0.095  # far behind: 9 slots (0.01 ... 0.09) are in the past but within reach
    slots = [pacer.reserve(now) for _ in range(15)]
    due_now = [s for s in slots if s <= now]
    assert len(due_now) == 9 <= 0.1 * 100
    assert slots[len(due_now)] > now


def test_by_default_at_most_two_late_slots_are_caught_up():
    pacer = RequestPacer(per_second=10)  # a slot every 100 ms
    pacer.reserve(0.0)
    slots = [pacer.reserve(0.35) for _ in range(3)]
    # 0.1 and 0.2 are more than the catch-up behind: the schedule restarts at 0.35
    assert slots == pytest.approx([0.35, 0.45, 0.55])
    assert pacer.catch_up_s == pytest.approx(CATCH_UP_S)
    assert RequestPacer(per_second=50).catch_up_s == pytest.approx(0.04)


def test_the_provider_limiter_paces_with_it():
    limiter = ProviderLimiter(requests_per_minute=3000, tokens_per_minute=1_000_000)
    assert isinstance(limiter._requests, RequestPacer)
    assert limiter._requests.period == pytest.approx(0.02)

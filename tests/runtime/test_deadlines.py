"""The watchdog (``runtime.deadlines``): what it expires, and that arming costs no thread switch when idle."""

from __future__ import annotations

import threading
import time

import pytest

from runtime import deadlines


class Item:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.expired = threading.Event()

    def expire(self) -> None:
        self.expired.set()


@pytest.fixture
def watchdog() -> deadlines._Watchdog:
    """A watchdog of its own (its daemon thread idles out of the way once the test is over)."""
    return deadlines._Watchdog()


def _notifies(watchdog: deadlines._Watchdog) -> list[int]:
    counted = [0]
    notify = watchdog._cond.notify

    def counting(n: int = 1) -> None:
        counted[0] += 1
        notify(n)

    watchdog._cond.notify = counting  # type: ignore[method-assign]
    return counted


def _idle(watchdog: deadlines._Watchdog) -> None:
    for _ in range(200):  # bounded: 2 s
        if watchdog._wake_at is not None and not watchdog._armed:
            return
        time.sleep(0.01)
    raise AssertionError("the watchdog thread never went idle")


def test_far_out_items_are_armed_and_disarmed_without_waking_the_thread(
    watchdog: deadlines._Watchdog,
) -> None:
    first = Item(30)
    watchdog.arm(first)
    watchdog.disarm(first)
    _idle(watchdog)
    notifies = _notifies(watchdog)
    for _ in range(100):  # an invocation without database calls: its timeout warning, seconds away
        item = Item(5 * deadlines.IDLE_WAKE_SECONDS)
        watchdog.arm(item)
        watchdog.disarm(item)
    assert notifies[0] == 0


def test_an_item_due_before_the_idle_wake_is_expired_on_time(watchdog: deadlines._Watchdog) -> None:
    first = Item(30)
    watchdog.arm(first)
    watchdog.disarm(first)
    _idle(watchdog)
    notifies = _notifies(watchdog)
    soon = Item(0.05)
    started = time.monotonic()
    watchdog.arm(soon)
    assert soon.expired.wait(deadlines.IDLE_WAKE_SECONDS)
    assert time.monotonic() - started < 0.5 * deadlines.IDLE_WAKE_SECONDS
    assert notifies[0] == 1


def test_a_disarmed_item_is_never_expired(watchdog: deadlines._Watchdog) -> None:
    item = Item(0.05)
    watchdog.arm(item)
    watchdog.disarm(item)
    assert not item.expired.wait(0.3)

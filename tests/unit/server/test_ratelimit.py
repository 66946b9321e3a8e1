"""The sliding window behind the stranger and registration limits, on a fake clock."""

from __future__ import annotations

import pytest

from ironwall.server.ratelimit import SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limit_per_key_and_the_window_slides() -> None:
    clock = Clock()
    window: SlidingWindow[str] = SlidingWindow(3, 60, clock=clock)
    for _ in range(3):
        assert window.allow("a")
        clock.now += 10
    assert not window.allow("a")  # at 1030: three events since 1000
    assert window.allow("b")  # every key has its own events
    assert window.retry_after("a") == 30
    # Sliding, not fixed buckets: each event leaves exactly one window after it happened.
    clock.now = 1060
    assert window.allow("a")
    assert not window.allow("a")
    clock.now = 1070
    assert window.allow("a")
    assert window.retry_after("b") == 0


def test_undo_gives_an_event_back() -> None:
    window: SlidingWindow[str] = SlidingWindow(1, 60, clock=Clock())
    assert window.allow("a")
    window.undo("a")
    assert window.allow("a")
    assert not window.allow("a")
    window.undo("nobody")


def test_zero_allows_nothing_and_negative_is_refused() -> None:
    window: SlidingWindow[str] = SlidingWindow(0, 60, clock=Clock())
    assert not window.allow("a")
    assert window.retry_after("a") == 60
    with pytest.raises(ValueError, match="negative"):
        SlidingWindow(-1, 60)


def test_idle_keys_are_forgotten() -> None:
    clock = Clock()
    window: SlidingWindow[int] = SlidingWindow(5, 10, clock=clock)
    for key in range(1024):
        window.allow(key)
    clock.now += 11
    # The next new key sweeps the table: only keys with events in the window stay.
    window.allow(-1)
    assert len(window) == 1
    for key in range(5000):
        window.allow(key)
    assert len(window) == 5001

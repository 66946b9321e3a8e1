"""Sliding-window rate limits: at most N events per key in any W seconds.

Each key keeps the times of its events inside the window (at most N of them), so a limit
is exact, not an estimate from fixed buckets. Keys whose events have all left the window
are dropped from time to time, so memory follows the keys active in the last window.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SlidingWindow"]

_Key = TypeVar("_Key", bound=Hashable)


class SlidingWindow(Generic[_Key]):
    """At most ``limit`` events per key within any ``window`` seconds."""

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 0 or window < 0:
            raise ValueError("a rate limit and its window must not be negative")
        self._limit = limit
        self._window = window
        self._clock = clock
        self._events: dict[_Key, collections.deque[float]] = {}
        # Sweep idle keys when the table has doubled since the last sweep: amortised O(1).
        self._sweep_at = 1024

    def allow(self, key: _Key) -> bool:
        """Count an event for ``key`` and return True, or return False if it is over."""
        now = self._clock()
        events = self._events.get(key)
        if events is None:
            if self._limit == 0:
                return False
            if len(self._events) >= self._sweep_at:
                self._sweep(now)
            events = self._events[key] = collections.deque()
        else:
            self._expire(events, now)
            if len(events) >= self._limit:
                return False
        events.append(now)
        return True

    def undo(self, key: _Key) -> None:
        """Take back the last event counted for ``key`` (it did not happen after all)."""
        events = self._events.get(key)
        if events:
            events.pop()
            if not events:
                del self._events[key]

    def retry_after(self, key: _Key) -> float:
        """Seconds until ``key`` may have another event (0 if it may now)."""
        events = self._events.get(key)
        if events is None:
            return 0.0 if self._limit else self._window
        now = self._clock()
        self._expire(events, now)
        if len(events) < self._limit:
            return 0.0
        return max(0.0, events[0] + self._window - now)

    def __len__(self) -> int:
        """How many keys are remembered."""
        return len(self._events)

    def _expire(self, events: collections.deque[float], now: float) -> None:
        horizon = now - self._window
        while events and events[0] <= horizon:
            events.popleft()

    def _sweep(self, now: float) -> None:
        horizon = now - self._window
        idle = [key for key, events in self._events.items() if not events or events[-1] <= horizon]
        for key in idle:
            del self._events[key]
        self._sweep_at = max(1024, 2 * len(self._events))

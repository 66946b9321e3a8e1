"""Garbage collection kept out of the way of drawing and typing.

CPython's full collection walks every object the process tracks; in the chat (Textual's
widgets and render caches, the open history, slixmpp's stanzas) that is 70-160 ms in
one go, long enough to see and to feel while typing. So once the chat is up, what exists
then (and lives as long as the app) is frozen out of every collection, the automatic
full collections are switched off, and one runs when the chat has been quiet for a
moment (no key, no message), or after `LONGEST_WITHOUT` seconds whatever happens, which
bounds the memory cyclic garbage can hold. The young generations are still collected
as usual: each of those takes a few milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time

__all__ = ["LONGEST_WITHOUT", "QuietCollector"]

#: Seconds without input or events that count as quiet.
QUIET_FOR = 1.0
#: Least time between two full collections (s).
SHORTEST_BETWEEN = 30.0
#: Most time without a full collection, quiet or not (s).
LONGEST_WITHOUT = 300.0
#: How often the collector looks (s).
_LOOK_EVERY = 0.5
#: A third threshold no count reaches: CPython then never starts a full collection itself.
_NEVER = 1 << 30


class QuietCollector:
    """Runs CPython's full garbage collections when the app is quiet (one per process)."""

    def __init__(
        self,
        *,
        quiet_for: float = QUIET_FOR,
        shortest_between: float = SHORTEST_BETWEEN,
        longest_without: float = LONGEST_WITHOUT,
    ) -> None:
        self.quiet_for = quiet_for
        self.shortest_between = shortest_between
        self.longest_without = longest_without
        #: Full collections run so far.
        self.collections = 0
        self._last_busy = time.monotonic()
        self._last_full = time.monotonic()
        self._thresholds: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Freeze what exists now, stop automatic full collections, and start looking."""
        if self._task is not None:
            return
        gc.collect()
        gc.freeze()
        self._thresholds = gc.get_threshold()
        first, second, _third = self._thresholds
        gc.set_threshold(first, second, _NEVER)
        self._last_full = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Give collection back to CPython as it was (idempotent)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
        gc.unfreeze()

    def busy(self) -> None:
        """Something happened (a key, a message): not a moment to collect."""
        self._last_busy = time.monotonic()

    def due(self, now: float) -> bool:
        """Whether a full collection should run at ``now`` (a `time.monotonic` value)."""
        since_full = now - self._last_full
        if since_full >= self.longest_without:
            return True
        return since_full >= self.shortest_between and now - self._last_busy >= self.quiet_for

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(_LOOK_EVERY)
            if self.due(time.monotonic()):
                gc.collect()
                self.collections += 1
                self._last_full = time.monotonic()

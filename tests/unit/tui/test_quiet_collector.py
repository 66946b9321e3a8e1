"""The chat's quiet garbage collector: no automatic full collection while it runs, one
when the app is quiet, CPython's settings back when it stops."""

from __future__ import annotations

import asyncio
import gc
import weakref

from ironwall.tui.quiet_collector import QuietCollector


class _Cycle:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def _old_garbage() -> weakref.ref[_Cycle]:
    """Cyclic garbage in the oldest generation (a young collection does not free it)."""
    cycle = _Cycle()
    gc.collect(1)  # survives the young generations: moved to the oldest
    ref = weakref.ref(cycle)
    del cycle
    gc.collect(1)
    assert ref() is not None
    return ref


async def test_full_collections_wait_for_a_quiet_moment_and_settings_come_back() -> None:
    thresholds = gc.get_threshold()
    collector = QuietCollector(quiet_for=0.3, shortest_between=0.0, longest_without=60.0)
    collector.start()
    try:
        assert gc.get_threshold()[:2] == thresholds[:2]
        assert gc.get_threshold()[2] > 10**8  # CPython never starts one itself
        assert gc.get_freeze_count() > 0  # what existed at start is out of every collection

        garbage = _old_garbage()
        for _ in range(16):  # busy for 1.6 s: no full collection
            collector.busy()
            await asyncio.sleep(0.1)
        assert garbage() is not None
        assert collector.collections == 0

        for _ in range(40):  # quiet: collected within a few looks
            if garbage() is None:
                break
            await asyncio.sleep(0.1)
        assert garbage() is None
        assert collector.collections >= 1
    finally:
        await collector.stop()
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == 0
    await collector.stop()  # idempotent


def test_a_full_collection_is_due_when_quiet_and_never_later_than_the_longest_wait() -> None:
    collector = QuietCollector(quiet_for=1.0, shortest_between=30.0, longest_without=300.0)
    start = 1000.0
    collector._last_full = start
    collector._last_busy = start + 20.0
    assert not collector.due(start + 25.0)  # quiet for 5 s, but the last one was 25 s ago
    assert collector.due(start + 31.0)  # 30 s since, quiet for 11 s
    collector._last_busy = start + 30.5
    assert not collector.due(start + 31.0)  # busy half a second ago
    collector._last_busy = start + 299.9
    assert collector.due(start + 300.0)  # busy all along: the longest wait is up

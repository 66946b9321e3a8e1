"""The replay cache: which (sender, message id) pairs have already been accepted.

`open_message` asks the cache last, after every other check passed, so only authentic
messages are recorded and a forged message cannot poison the cache. The client persists the
pairs (its local SQLite state); `MemoryReplayCache` is the in-memory implementation for
tests and for sessions that keep no state.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["MemoryReplayCache", "ReplayCache"]


class ReplayCache(Protocol):
    """Remembers accepted messages per sender."""

    def add(self, sender: str, message_id: str) -> bool:
        """Record that `sender` (a bare JID) sent `message_id`.

        Return True if the pair is new, False if it was recorded before (a replay). Check
        and record must be one atomic step.
        """
        ...


class MemoryReplayCache:
    """A `ReplayCache` held in memory for the life of the object."""

    def __init__(self) -> None:
        """Start empty."""
        self._seen: set[tuple[str, str]] = set()

    def add(self, sender: str, message_id: str) -> bool:
        """Record the pair; False if it was already there."""
        pair = (sender, message_id)
        if pair in self._seen:
            return False
        self._seen.add(pair)
        return True

    def __len__(self) -> int:
        return len(self._seen)

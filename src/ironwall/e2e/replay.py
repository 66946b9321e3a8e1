"""The replay cache: which (sender, message id) pairs have already been accepted.

`open_message` asks the cache last, after every other check passed, so only authentic
messages are recorded and a forged message cannot poison the cache. The cache only needs
to remember a message for `REPLAY_WINDOW` after its signed time: a live message older than
that is refused as stale anyway (spec/e2e.md §4.4), so a cache that forgets older entries
stays bounded without letting a replay through. The client persists the pairs (its local
state); `MemoryReplayCache` is the in-memory implementation for tests and for sessions
that keep no state.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

__all__ = ["REPLAY_WINDOW", "MemoryReplayCache", "ReplayCache"]

REPLAY_WINDOW = dt.timedelta(days=30)
"""How long the replay cache must remember a message, counted from its signed time."""


class ReplayCache(Protocol):
    """Remembers accepted messages per sender."""

    def add(self, sender: str, message_id: str, sent_at: dt.datetime) -> bool:
        """Record that `sender` (a bare JID) sent `message_id`, signed at `sent_at`.

        Return True if the pair is new, False if it was recorded before (a replay). Check
        and record must be one atomic step. Entries whose `sent_at` is older than
        `REPLAY_WINDOW` may be forgotten.
        """
        ...


class MemoryReplayCache:
    """A `ReplayCache` held in memory for the life of the object."""

    def __init__(self) -> None:
        """Start empty."""
        self._seen: set[tuple[str, str]] = set()

    def add(self, sender: str, message_id: str, sent_at: dt.datetime) -> bool:
        """Record the pair; False if it was already there."""
        pair = (sender, message_id)
        if pair in self._seen:
            return False
        self._seen.add(pair)
        return True

    def __len__(self) -> int:
        return len(self._seen)

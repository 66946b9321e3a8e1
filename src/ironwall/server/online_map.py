"""A map store whose owners' entries stay in memory while they are online.

A login reads the roster three times (the roster get, the initial presence broadcast,
and the probes of contacts) and the subscription requests once; a presence or
subscription later reads single items again. For an online account those reads are
served from memory; every write goes to storage first and then drops the memory copy,
so the next read loads what storage holds.
"""

from __future__ import annotations

from collections.abc import Callable

from ironwall.storage import JSONValue, MapStore

__all__ = ["OnlineMap"]


class OnlineMap:
    """A ``MapStore`` in front of another, caching whole owners while ``is_online``."""

    def __init__(self, store: MapStore, is_online: Callable[[str], bool]) -> None:
        self._store = store
        self._is_online = is_online
        self._owners: dict[str, dict[str, JSONValue]] = {}
        # Counts writes begun: a read that overlapped one may hold stale data, so it is
        # returned but not kept.
        self._writes = 0

    async def get(self, owner: str, key: str) -> JSONValue | None:
        """The value under ``key``, or None."""
        cached = self._owners.get(owner)
        if cached is not None:
            return cached.get(key)
        return await self._store.get(owner, key)

    async def get_all(self, owner: str) -> dict[str, JSONValue]:
        """Every key and value of the owner (a copy: callers may change it)."""
        cached = self._owners.get(owner)
        if cached is None:
            writes = self._writes
            cached = await self._store.get_all(owner)
            if writes == self._writes and self._is_online(owner):
                self._owners[owner] = cached
            else:
                return cached
        return dict(cached)

    async def set(self, owner: str, key: str, value: JSONValue | None) -> None:
        """Store durably (None deletes), then forget the owner's memory copy."""
        self._writes += 1
        self._owners.pop(owner, None)
        try:
            await self._store.set(owner, key, value)
        finally:
            self._owners.pop(owner, None)

    async def clear(self, owner: str) -> None:
        """Delete every key of the owner."""
        self._writes += 1
        self._owners.pop(owner, None)
        try:
            await self._store.clear(owner)
        finally:
            self._owners.pop(owner, None)

    def forget(self, owner: str) -> None:
        """The owner went offline (or was deleted): drop the memory copy."""
        self._owners.pop(owner, None)

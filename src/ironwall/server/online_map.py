"""Per-account data kept in memory while the account is online.

A login reads the roster three times (the roster get, the initial presence broadcast,
and the probes of contacts) and the subscription requests once; every archived message
reads both parties' archiving preferences, and every message to an account looks the
sender up in its roster (is it a stranger?). For online accounts those reads are served
from memory. Every write goes to storage first and then drops the memory copy, so the
next read loads what storage holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from ironwall.storage import JSONValue, MapStore

__all__ = ["OnlineCache", "OnlineMap"]

_Owner = TypeVar("_Owner")
_Value = TypeVar("_Value")


class OnlineCache(Generic[_Owner, _Value]):
    """One value per owner, kept after a read while ``is_online(owner)``."""

    def __init__(self, is_online: Callable[[_Owner], bool]) -> None:
        self._is_online = is_online
        self._values: dict[_Owner, _Value] = {}
        # Counts writes begun: a read that overlapped one may hold stale data, so it is
        # returned but not kept.
        self._writes = 0

    def peek(self, owner: _Owner) -> _Value | None:
        """The value in memory, if any."""
        return self._values.get(owner)

    async def read(self, owner: _Owner, load: Callable[[], Awaitable[_Value]]) -> _Value:
        """The value in memory, or what ``load`` reads from storage (kept if online)."""
        cached = self._values.get(owner)
        if cached is not None:
            return cached
        writes = self._writes
        value = await load()
        if writes == self._writes and self._is_online(owner):
            self._values[owner] = value
        return value

    async def write(self, owner: _Owner, store: Awaitable[None]) -> None:
        """Await ``store`` (the write to storage); the owner's memory copy is dropped."""
        self._writes += 1
        self._values.pop(owner, None)
        try:
            await store
        finally:
            self._values.pop(owner, None)

    def forget(self, owner: _Owner) -> None:
        """The owner went offline (or was deleted): drop the memory copy."""
        self._values.pop(owner, None)


class OnlineMap:
    """A ``MapStore`` in front of another, caching whole owners while ``is_online``."""

    def __init__(self, store: MapStore, is_online: Callable[[str], bool]) -> None:
        self._store = store
        self._is_online = is_online
        self._cache: OnlineCache[str, dict[str, JSONValue]] = OnlineCache(is_online)

    async def get(self, owner: str, key: str) -> JSONValue | None:
        """The value under ``key``, or None.

        For an online owner the first read loads all of the owner's keys, so that the
        next reads (one per message for the roster) need no storage round trip.
        """
        cached = self._cache.peek(owner)
        if cached is None and self._is_online(owner):
            cached = await self._cache.read(owner, lambda: self._store.get_all(owner))
        if cached is not None:
            return cached.get(key)
        return await self._store.get(owner, key)

    async def get_all(self, owner: str) -> dict[str, JSONValue]:
        """Every key and value of the owner (a copy: callers may change it)."""
        return dict(await self._cache.read(owner, lambda: self._store.get_all(owner)))

    async def set(self, owner: str, key: str, value: JSONValue | None) -> None:
        """Store durably (None deletes), then forget the owner's memory copy."""
        await self._cache.write(owner, self._store.set(owner, key, value))

    async def clear(self, owner: str) -> None:
        """Delete every key of the owner."""
        await self._cache.write(owner, self._store.clear(owner))

    def forget(self, owner: str) -> None:
        """The owner went offline (or was deleted): drop the memory copy."""
        self._cache.forget(owner)

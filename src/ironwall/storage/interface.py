"""What every storage driver offers: three narrow store kinds, in the style of Prosody.

A server module asks the driver for a store by kind and name (``driver.map("roster")``);
which database sits behind it is configuration. Nothing here names SQL or SQLite, so a
second driver (PostgreSQL) implements the same protocols and passes the same test suite.

Errors follow one rule: a caller's mistake (a bad store name, an empty owner, a malformed
archive id, a value JSON cannot hold) is a ``ValueError`` or ``TypeError`` raised before
anything is touched; a failure of the database itself is a ``StorageError`` whose message
says what to do and never contains stored values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable

__all__ = [
    "ArchiveItem",
    "ArchiveStore",
    "JSONValue",
    "KeyValueStore",
    "MapStore",
    "QuotaExceeded",
    "StorageDriver",
    "StorageError",
    "UnknownItem",
    "Usage",
    "check_owner",
    "check_store_name",
]

JSONValue: TypeAlias = dict[str, "JSONValue"] | list["JSONValue"] | str | int | float | bool | None
"""A value JSON can hold. Dict keys must be strings; tuples come back as lists."""

_STORE_NAME = re.compile(r"[a-z0-9_:-]+")


class StorageError(Exception):
    """The database failed; the message says what to do and holds no stored value."""


class QuotaExceeded(StorageError):
    """``ArchiveStore.append`` refused an item because the owner already holds ``max_items``."""


class UnknownItem(ValueError):
    """An ``after_id`` or ``before_id`` names no item of that owner in that store (any more)."""


@dataclass(frozen=True, slots=True)
class Usage:
    """How much of an archive store some items take: how many, and their payloads' bytes."""

    items: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class ArchiveItem:
    """One entry of an archive store, as appended."""

    id: str
    """Opaque and unique per owner and store; it reveals nothing about other owners' items,
    nor when or in what order it was appended (ids are XEP-0359 stanza-ids and RSM cursors
    that users see). The order of items is what ``query`` returns."""
    owner: str
    with_jid: str
    """The other party (bare JID), or "" when the item has none."""
    when: float
    """Unix time in seconds."""
    payload: str
    """Usually a serialised stanza."""


@runtime_checkable
class KeyValueStore(Protocol):
    """One JSON value per owner, e.g. the SCRAM verifier record of each account."""

    async def get(self, owner: str) -> JSONValue | None:
        """Return the owner's value, or None when there is none."""
        ...

    async def set(self, owner: str, value: JSONValue | None) -> None:
        """Store the owner's value durably; None deletes it."""
        ...

    async def owners(self) -> list[str]:
        """Every owner holding a value in this store, sorted."""
        ...


@runtime_checkable
class MapStore(Protocol):
    """Many keyed JSON values per owner, e.g. roster: contact JID -> item."""

    async def get(self, owner: str, key: str) -> JSONValue | None:
        """Return the value under ``key``, or None when there is none."""
        ...

    async def set(self, owner: str, key: str, value: JSONValue | None) -> None:
        """Store the value under ``key`` durably; None deletes it."""
        ...

    async def get_all(self, owner: str) -> dict[str, JSONValue]:
        """Every key and value of the owner, keys in sorted order."""
        ...

    async def clear(self, owner: str) -> None:
        """Delete every key of the owner."""
        ...


@runtime_checkable
class ArchiveStore(Protocol):
    """An append-only log per owner: offline messages now, the XEP-0313 archive later."""

    async def append(
        self,
        owner: str,
        payload: str,
        *,
        with_jid: str = "",
        when: float | None = None,
        max_items: int | None = None,
    ) -> str:
        """Store one item durably and return its id.

        ``when`` defaults to now. With ``max_items``, an owner who already holds that many
        items gets ``QuotaExceeded`` and nothing is stored; the check and the insert are
        one atomic step, also against other processes.
        """
        ...

    async def query(
        self,
        owner: str,
        *,
        with_jid: str | None = None,
        start: float | None = None,
        end: float | None = None,
        after_id: str | None = None,
        before_id: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[ArchiveItem]:
        """Return the owner's items matching every given filter, in insertion order.

        ``start`` and ``end`` are inclusive. ``after_id`` and ``before_id`` are exclusive and
        must name an item the owner holds in this store: a deleted or another owner's id
        raises ``UnknownItem`` (so a cursor cannot probe positions it was never given), a
        malformed one ``ValueError``. ``reverse`` sorts newest first, so ``limit=n,
        reverse=True`` is the last page of n items (RSM ``<before/>``).
        """
        ...

    async def count(self, owner: str, *, with_jid: str | None = None) -> int:
        """Number of the owner's items, optionally only those with ``with_jid``."""
        ...

    async def usage(self, owner: str, *, before: float | None = None) -> dict[str, Usage]:
        """What the owner's items take, per ``with_jid`` (only those holding items).

        Bytes are those of the payloads in UTF-8; with ``before``, only items whose time
        is < ``before`` count. It reads every item of the owner (in steps, so other work
        goes on meanwhile): for loading quota accounting once, not for asking before every
        append.
        """
        ...

    async def owners(self) -> set[str]:
        """Every owner holding at least one item in this store."""
        ...

    async def delete(
        self,
        owner: str,
        *,
        ids: Sequence[str] | None = None,
        before: float | None = None,
    ) -> int:
        """Delete the owner's items whose id is in ``ids`` and whose time is < ``before``.

        A filter left out does not restrict; with neither, every item of the owner goes.
        An empty ``ids`` deletes nothing. Returns how many items were deleted.
        """
        ...

    async def pop_all(self, owner: str) -> list[ArchiveItem]:
        """Read and delete every item of the owner in one atomic step, in id order."""
        ...


@runtime_checkable
class StorageDriver(Protocol):
    """A database holding every store; one instance per process and database."""

    async def open(self) -> None:
        """Connect, and create or migrate the schema."""
        ...

    async def close(self) -> None:
        """Finish pending work and release the database; safe to call twice."""
        ...

    def kv(self, name: str) -> KeyValueStore:
        """The key-value store called ``name`` (``[a-z0-9_:-]+``)."""
        ...

    def map(self, name: str) -> MapStore:
        """The map store called ``name`` (``[a-z0-9_:-]+``)."""
        ...

    def archive(self, name: str) -> ArchiveStore:
        """The archive store called ``name`` (``[a-z0-9_:-]+``)."""
        ...

    async def delete_owner(self, owner: str) -> None:
        """Remove everything the owner holds in every store, in one transaction."""
        ...


def check_store_name(name: str) -> str:
    """Return ``name`` if it is a valid store name, else raise ValueError."""
    if not _STORE_NAME.fullmatch(name):
        raise ValueError(f"store name {name!r} is invalid: use only a-z, 0-9, '_', ':' and '-'")
    return name


def check_owner(owner: str) -> str:
    """Return ``owner`` if it is non-empty, else raise ValueError."""
    if not owner:
        raise ValueError("owner must be a non-empty bare JID or host name")
    return owner

"""The archive quota (XEP-0313): how many bytes each account's archive may hold.

An account's archive holds at most ``limits.max_archive_bytes``; messages from strangers
(senders not in the account's roster) together at most ``limits.archive_share_strangers``
of that, so that no stranger can crowd a contact's history out. A message over a quota
is still delivered, only not archived (the archive is history, not delivery), and that
is logged once per account and quota, without content.

Every archived message is counted here before it is appended, so a check costs no
storage round trip. What an account's archive already holds is read from the store the
first time the account archives something (and again after something was deleted from
it), in the background and one account at a time: reading a large archive takes long,
and no message waits for it, nor do the commits of other messages wait behind many such
reads at once (after a restart every active account needs one). The read counts only
items older than the moment counting began, which are then added to what was counted
since. Until it is done an account may archive past its quota by what it archives
meanwhile. At most ``_KEPT`` accounts are kept, the least recently used dropped first.

Keeping the counts in the database instead (a trigger on every append) made each append
cost more; measured in bench/README.md.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ironwall.proto.jid import JID, InvalidJID
from ironwall.storage import ArchiveStore, StorageError

__all__ = ["ArchiveQuota"]

log = logging.getLogger(__name__)

#: Accounts whose usage is kept in memory; the least recently archived are dropped first.
_KEPT = 10_000


@dataclass
class _Usage:
    #: When counting began: what the archive held before is read from storage.
    since: float
    total: int = 0
    strangers: int = 0


class ArchiveQuota:
    """Bytes archived per account, counted in memory against the configured quotas."""

    def __init__(
        self,
        store: ArchiveStore,
        contacts: Callable[[JID], Awaitable[set[JID]]],
        *,
        max_bytes: int,
        strangers_share: float,
    ) -> None:
        self._store = store
        self._contacts = contacts
        self._max_bytes = max_bytes
        self._strangers_max = int(max_bytes * strangers_share)
        self._usage: collections.OrderedDict[JID, _Usage] = collections.OrderedDict()
        self._to_load: collections.deque[tuple[JID, _Usage]] = collections.deque()
        self._loader: asyncio.Task[None] | None = None
        self._logged: set[tuple[JID, str]] = set()

    def reserve(self, owner: JID, size: int, *, stranger: bool) -> bool:
        """Count ``size`` bytes for the owner and return True, or False if over a quota.

        Reserved bytes that are not archived after all go back with ``release``.
        """
        usage = self._usage.get(owner)
        if usage is None:
            usage = self._usage[owner] = _Usage(since=time.time())
            self._to_load.append((owner, usage))
            if self._loader is None:
                self._loader = asyncio.ensure_future(self._load_queued())
            while len(self._usage) > _KEPT:
                self._usage.popitem(last=False)
        else:
            self._usage.move_to_end(owner)
        if usage.total + size > self._max_bytes:
            self._log_once(owner, "account", f"its archive quota of {self._max_bytes} bytes")
            return False
        if stranger and usage.strangers + size > self._strangers_max:
            self._log_once(
                owner, "strangers", f"the {self._strangers_max} bytes it keeps for strangers"
            )
            return False
        usage.total += size
        if stranger:
            usage.strangers += size
        return True

    def release(self, owner: JID, size: int, *, stranger: bool) -> None:
        """Give back bytes ``reserve`` counted for a message that was not archived."""
        usage = self._usage.get(owner)
        if usage is not None:
            usage.total -= size
            if stranger:
                usage.strangers -= size

    def forget(self, owner: JID) -> None:
        """Something deleted from the owner's archive: count again from storage next time."""
        self._usage.pop(owner, None)
        self._logged = {entry for entry in self._logged if entry[0] != owner}

    async def close(self) -> None:
        """Stop reading usage."""
        if self._loader is not None:
            self._loader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loader
            self._loader = None

    async def _load_queued(self) -> None:
        try:
            while self._to_load:
                owner, usage = self._to_load.popleft()
                if self._usage.get(owner) is not usage:
                    continue  # forgotten or dropped meanwhile: read again when needed
                try:
                    total, strangers = await self._read(owner, usage.since)
                except StorageError as exc:
                    log.warning("could not read the archive usage of %s: %s", owner, exc)
                    self._usage.pop(owner, None)
                    continue
                usage.total += total
                usage.strangers += strangers
        finally:
            self._loader = None

    async def _read(self, owner: JID, before: float) -> tuple[int, int]:
        by_contact = await self._store.usage(str(owner), before=before)
        contacts = await self._contacts(owner) if by_contact else set()
        total = strangers = 0
        for text, usage in by_contact.items():
            total += usage.bytes
            if _is_stranger(owner, text, contacts):
                strangers += usage.bytes
        return total, strangers

    def _log_once(self, owner: JID, which: str, what: str) -> None:
        if (owner, which) in self._logged:
            return
        self._logged.add((owner, which))
        log.warning(
            "the archive of %s is full (%s): new messages are delivered but not archived",
            owner,
            what,
        )


def _is_stranger(owner: JID, text: str, contacts: set[JID]) -> bool:
    """``Roster.is_stranger`` for an archived item's ``with_jid``."""
    try:
        jid = JID.parse(text)
    except InvalidJID:
        return True
    return jid.local is not None and jid.bare != owner and jid.bare not in contacts

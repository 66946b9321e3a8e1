"""The archive quota (XEP-0313): how many bytes each account's archive may hold.

An account's archive holds at most ``limits.max_archive_bytes``; messages from strangers
(senders not in the account's roster) together at most ``limits.archive_share_strangers``
of that, so that no stranger can crowd a contact's history out. A message over a quota
is still delivered, only not archived (the archive is history, not delivery), and that
is logged once per account and quota, without content.

Every archived message is counted here before it is appended, so a check costs no
storage round trip. An account's count is loaded from the store (which reads its whole
archive, in steps) when it first archives something, and again whenever something was
deleted from its archive; at most ``_KEPT`` accounts are kept, the least recently used
dropped first. Messages archived while a count loads may be missed by it. Keeping the
counts in the database instead (triggers on every append) cost 10% of the messages a
server carries with its archive on.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ironwall.proto.jid import JID, InvalidJID
from ironwall.storage import ArchiveStore

__all__ = ["ArchiveQuota"]

log = logging.getLogger(__name__)

#: Accounts whose usage is kept in memory; the least recently archived are dropped first.
_KEPT = 10_000


@dataclass
class _Usage:
    total: int
    strangers: int


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
        self._loading: dict[JID, asyncio.Future[_Usage]] = {}
        self._logged: set[tuple[JID, str]] = set()

    async def reserve(self, owner: JID, size: int, *, stranger: bool) -> bool:
        """Count ``size`` bytes for the owner and return True, or False if over a quota.

        Reserved bytes that are not archived after all go back with ``release``.
        """
        usage = await self._get(owner)
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

    async def _get(self, owner: JID) -> _Usage:
        usage = self._usage.get(owner)
        if usage is not None:
            self._usage.move_to_end(owner)
            return usage
        # One load per account, however many of its messages arrive meanwhile.
        loading = self._loading.get(owner)
        if loading is None:
            loading = asyncio.ensure_future(self._load(owner))
            self._loading[owner] = loading
            loading.add_done_callback(lambda _done: self._loading.pop(owner, None))
        usage = await asyncio.shield(loading)
        if owner not in self._usage:
            self._usage[owner] = usage
            while len(self._usage) > _KEPT:
                self._usage.popitem(last=False)
        return self._usage[owner]

    async def _load(self, owner: JID) -> _Usage:
        by_contact = await self._store.usage(str(owner))
        contacts = await self._contacts(owner) if by_contact else set()
        total = strangers = 0
        for text, usage in by_contact.items():
            total += usage.bytes
            if _is_stranger(owner, text, contacts):
                strangers += usage.bytes
        return _Usage(total, strangers)

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

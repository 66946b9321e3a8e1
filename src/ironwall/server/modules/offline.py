"""XEP-0160 offline messages: stored durably, delivered at the next initial presence.

Stored in the ``offline`` archive store with a XEP-0203 ``<delay/>`` stamp. The
store call commits to disk before returning, so a message the server has taken is
never lost by a crash.

Each account's queue has a quota in messages and bytes (``limits.max_offline_messages``,
``limits.max_offline_bytes``), and shares of it per sender: one sender may fill
``offline_share_per_sender``, all strangers (senders not in the recipient's roster)
together ``offline_share_strangers`` and one stranger ``offline_share_per_stranger``.
So strangers can never fill the queue that the recipient's contacts write to. A message
over a limit is bounced with ``service-unavailable`` and a text saying which limit.

The accounting is in memory per queue, loaded from the store's usage when a queue is
first written, and changed before each append (under the queue's lock), so concurrent
messages cannot pass a limit together. Only this process stores offline messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.stanza import tag
from ironwall.server.events import (
    ACCOUNT_DELETING,
    MESSAGE_OFFLINE,
    OFFLINE_REFUSED,
    PRE_ROUTE,
    PRESENCE_INITIAL,
)
from ironwall.server.module import Module
from ironwall.server.router import StanzaEvent
from ironwall.server.services import ROSTER
from ironwall.server.session import Session
from ironwall.storage import QuotaExceeded, StorageError, Usage
from ironwall.xml import XMLPolicyError, parse_document, serialize

__all__ = ["MODULE", "Offline"]

log = logging.getLogger(__name__)


@dataclass
class _Queue:
    """What one account's offline queue holds, per sender and in total."""

    senders: dict[str, Usage] = field(default_factory=dict)
    strangers: set[str] = field(default_factory=set)
    total: Usage = field(default_factory=Usage)
    from_strangers: Usage = field(default_factory=Usage)

    def add(self, sender: str, usage: Usage, *, stranger: bool) -> None:
        """Count ``usage`` (negative to take it back) for ``sender``."""
        self.senders[sender] = _plus(self.senders.get(sender, Usage()), usage)
        self.total = _plus(self.total, usage)
        if stranger:
            self.strangers.add(sender)
            self.from_strangers = _plus(self.from_strangers, usage)


def _plus(a: Usage, b: Usage) -> Usage:
    return Usage(a.items + b.items, a.bytes + b.bytes)


def _minus(usage: Usage) -> Usage:
    return Usage(-usage.items, -usage.bytes)


@dataclass
class _OwnerLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class _Refused(Exception):
    """The queue has no room for the message; the text says which limit, for the sender."""


class Offline(Module):
    """Stores messages for offline accounts and delivers them at login."""

    name = "offline"
    disco_features = ("msgoffline",)

    async def start(self) -> None:
        """Open the store and hook storage and delivery."""
        self._store = self.server.storage.archive("offline")
        self._locks: dict[str, _OwnerLock] = {}
        self._queues: dict[str, _Queue] = {}
        # Accounts that may have messages waiting: a login of any other account (nearly
        # every login) needs no query. Only this process stores offline messages.
        self._waiting: set[str] = await self._store.owners()
        self.server.hooks.on(MESSAGE_OFFLINE, self._store_message)
        self.server.hooks.on(PRESENCE_INITIAL, self._deliver)
        self.server.hooks.on(ACCOUNT_DELETING, self._on_account_deleting)

    async def _store_message(self, event: StanzaEvent) -> bool:
        assert event.to is not None
        owner = str(event.to.bare)
        stanza = Element(event.stanza.tag, dict(event.stanza.attrib))
        stanza.text = event.stanza.text
        stanza.extend(list(event.stanza))
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        SubElement(stanza, tag(ns.DELAY, "delay"), {"from": event.to.domain, "stamp": stamp})
        payload = serialize(stanza)
        try:
            async with self._exclusive(owner):
                await self._append(event, owner, payload)
        except _Refused as refusal:
            self.server.router.bounce(event.stanza, "service-unavailable", str(refusal))
            # Whatever kept a copy on the way (the archive) may take it back.
            await self.server.hooks.fire(OFFLINE_REFUSED, event)
            return True
        self._waiting.add(owner)
        # The recipient may have come online while the message was being stored, after
        # its initial presence emptied the store: hand it over now, not at next login.
        online = [
            s
            for s in self.server.router.resources(event.to.bare)
            if s.available and s.priority >= 0
        ]
        if online:
            await self._flush(owner, online)
        return True

    async def _append(self, event: StanzaEvent, owner: str, payload: bytes) -> None:
        assert event.to is not None
        queue = self._queues.get(owner)
        if queue is None:
            queue = self._queues[owner] = await self._load(event.to.bare)
        sender = str(event.sender.bare)
        stranger = sender in queue.strangers or await self._is_stranger(event.to.bare, sender)
        usage = Usage(1, len(payload))
        self._check(queue, sender, usage, stranger=stranger)
        queue.add(sender, usage, stranger=stranger)
        try:
            await self._store.append(
                owner,
                payload.decode(),
                with_jid=sender,
                # The store checks the count again, atomically: a second process (or a
                # stale count here) cannot pass the limit.
                max_items=self.server.config.limits.max_offline_messages,
            )
        except BaseException as exc:
            queue.add(sender, _minus(usage), stranger=stranger)
            if isinstance(exc, QuotaExceeded):
                raise _Refused(_full_text(self.server.config.limits.max_offline_messages)) from None
            if isinstance(exc, StorageError):
                log.warning("could not store an offline message for %s: %s", owner, exc)
                raise _Refused("the server could not store the message; try again later") from None
            raise

    def _check(self, queue: _Queue, sender: str, usage: Usage, *, stranger: bool) -> None:
        limits = self.server.config.limits
        quota = Usage(limits.max_offline_messages, limits.max_offline_bytes)
        waiting = queue.senders.get(sender, Usage())
        mine = _plus(waiting, usage)
        # The widest limit first: a sender told of its own share would wait in vain when
        # the whole queue is full anyway.
        if _over(_plus(queue.total, usage), quota, 1.0):
            raise _Refused(_full_text(limits.max_offline_messages, limits.max_offline_bytes))
        if stranger:
            if _over(_plus(queue.from_strangers, usage), quota, limits.offline_share_strangers):
                raise _Refused(
                    "the recipient is offline, and the part of their offline storage for "
                    "people not in their contact list is full; try again when they are "
                    "online, or ask them to add you as a contact"
                )
            if _over(mine, quota, limits.offline_share_per_stranger):
                raise _Refused(
                    "you are not in the recipient's contact list, and one stranger's messages "
                    "may take at most "
                    f"{_amount(_share(quota, limits.offline_share_per_stranger))} of their "
                    f"offline storage; you have {_amount(waiting)} waiting. "
                    "Try again when they are online"
                )
        if _over(mine, quota, limits.offline_share_per_sender):
            raise _Refused(
                "one sender's messages may take at most "
                f"{_amount(_share(quota, limits.offline_share_per_sender))} of the recipient's "
                f"offline storage; you have {_amount(waiting)} waiting. "
                "Try again when they are online"
            )

    async def _load(self, owner: JID) -> _Queue:
        queue = _Queue()
        for sender, usage in (await self._store.usage(str(owner))).items():
            queue.add(sender, usage, stranger=await self._is_stranger(owner, sender))
        return queue

    async def _is_stranger(self, owner: JID, sender: str) -> bool:
        roster = self.server.service(ROSTER)
        if roster is None:
            return False
        try:
            return await roster.is_stranger(owner, JID.parse(sender))
        except InvalidJID:
            return True

    @contextlib.asynccontextmanager
    async def _exclusive(self, owner: str) -> AsyncIterator[None]:
        """One store or delivery per queue at a time; the lock lives while it has users."""
        entry = self._locks.get(owner)
        if entry is None:
            entry = self._locks[owner] = _OwnerLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if not entry.users:
                del self._locks[owner]

    async def _on_account_deleting(self, account: JID) -> bool:
        self._queues.pop(str(account.bare), None)
        self._waiting.discard(str(account.bare))
        return False

    # -------------------------------------------------------------- delivery

    async def _deliver(self, session: Session) -> bool:
        owner = str(session.jid.bare)
        if session.priority >= 0 and owner in self._waiting:
            await self._flush(owner, [session])
        return False

    async def _flush(self, owner: str, sessions: list[Session]) -> None:
        # One flush per owner at a time, or two could both send what neither deleted yet;
        # and no message stored meanwhile, so that the queue is empty afterwards.
        async with self._exclusive(owner):
            self._waiting.discard(owner)
            self._queues.pop(owner, None)
            try:
                await self._send_stored(owner, sessions)
            except BaseException:
                self._waiting.add(owner)
                raise

    async def _send_stored(self, owner: str, sessions: list[Session]) -> None:
        hooks = self.server.hooks
        items = await self._store.query(owner)
        delivered = []
        for item in items:
            delivered.append(item.id)
            try:
                stanza = parse_document(item.payload.encode())
                sender = JID.parse(stanza.get("from") or "")
            except (XMLPolicyError, InvalidJID):
                log.warning("dropping an unreadable offline message of %s", owner)
                continue
            for session in sessions:
                # Stored before the recipient blocked the sender: not delivered (XEP-0191).
                if not await hooks.fire(PRE_ROUTE, StanzaEvent(stanza, None, sender, session.jid)):
                    session.send(stanza)
        if delivered:
            await self._store.delete(owner, ids=delivered)


def _over(usage: Usage, quota: Usage, share: float) -> bool:
    return usage.items > math.floor(quota.items * share) or usage.bytes > math.floor(
        quota.bytes * share
    )


def _share(quota: Usage, share: float) -> Usage:
    return Usage(math.floor(quota.items * share), math.floor(quota.bytes * share))


def _amount(usage: Usage) -> str:
    messages = "1 message" if usage.items == 1 else f"{usage.items} messages"
    return f"{messages} ({_size(usage.bytes)})"


def _size(size: int) -> str:
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MiB"
    return f"{math.ceil(size / 1024)} KiB"


def _full_text(max_items: int, max_bytes: int | None = None) -> str:
    limit = f"{max_items} messages" + ("" if max_bytes is None else f" or {_size(max_bytes)}")
    return (
        f"the recipient is offline and their offline message storage is full ({limit}); "
        "try again when they are online"
    )


MODULE = Offline

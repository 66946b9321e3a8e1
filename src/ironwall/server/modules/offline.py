"""XEP-0160 offline messages: stored durably, delivered at the next initial presence.

Stored in the ``offline`` archive store with a XEP-0203 ``<delay/>`` stamp. The
store call commits to disk before returning, so a message the server has taken is
never lost by a crash. Each account has a quota; a full store bounces the message
with an error that says so.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.stanza import tag
from ironwall.server.module import Module
from ironwall.server.router import StanzaEvent
from ironwall.server.session import Session
from ironwall.storage import QuotaExceeded
from ironwall.xml import XMLPolicyError, parse_document, serialize

__all__ = ["MODULE", "Offline"]

log = logging.getLogger(__name__)


class Offline(Module):
    """Stores messages for offline accounts and delivers them at login."""

    name = "offline"
    disco_features = ("msgoffline",)

    async def start(self) -> None:
        """Open the store and hook storage and delivery."""
        self._store = self.server.storage.archive("offline")
        self._locks: dict[str, asyncio.Lock] = {}
        # Accounts that may have messages waiting: a login of any other account (nearly
        # every login) needs no query. Only this process stores offline messages.
        self._waiting: set[str] = await self._store.owners()
        self.server.hooks.on("message/offline", self._store_message)
        self.server.hooks.on("presence-initial", self._deliver)

    async def _store_message(self, event: StanzaEvent) -> bool:
        assert event.to is not None
        stanza = Element(event.stanza.tag, dict(event.stanza.attrib))
        stanza.text = event.stanza.text
        stanza.extend(list(event.stanza))
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        SubElement(stanza, tag(ns.DELAY, "delay"), {"from": event.to.domain, "stamp": stamp})
        try:
            await self._store.append(
                str(event.to.bare),
                serialize(stanza).decode(),
                with_jid=str(event.sender.bare),
                max_items=self.server.config.limits.max_offline_messages,
            )
        except QuotaExceeded:
            self.server.router.bounce(
                event.stanza,
                "service-unavailable",
                "the recipient's offline message storage is full",
            )
            return True
        self._waiting.add(str(event.to.bare))
        # The recipient may have come online while the message was being stored, after
        # its initial presence emptied the store: hand it over now, not at next login.
        online = [
            s
            for s in self.server.router.resources(event.to.bare)
            if s.available and s.priority >= 0
        ]
        if online:
            await self._flush(str(event.to.bare), online)
        return True

    async def _deliver(self, session: Session) -> bool:
        owner = str(session.jid.bare)
        if session.priority >= 0 and owner in self._waiting:
            await self._flush(owner, [session])
        return False

    async def _flush(self, owner: str, sessions: list[Session]) -> None:
        # One flush per owner at a time, or two could both send what neither deleted yet.
        lock = self._locks.setdefault(owner, asyncio.Lock())
        async with lock:
            # Taken off before reading, so that a message stored meanwhile puts it back.
            self._waiting.discard(owner)
            try:
                await self._send_stored(owner, sessions)
            except BaseException:
                self._waiting.add(owner)
                raise
        if not lock.locked() and self._locks.get(owner) is lock:
            del self._locks[owner]

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
                if not await hooks.fire(
                    "pre-route", StanzaEvent(stanza, None, sender, session.jid)
                ):
                    session.send(stanza)
        if delivered:
            await self._store.delete(owner, ids=delivered)


MODULE = Offline

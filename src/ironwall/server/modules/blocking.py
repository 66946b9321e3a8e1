"""XEP-0191 Blocking Command: a user stops all traffic with chosen JIDs.

The blocklist is stored per account (map store ``blocklist``) and cached in memory while
the account has a session. Items match as XEP-0016 §2.1 says: a full JID only itself, a
bare JID all its resources, a domain every address at it.

Every stanza passes ``pre-route`` (``router.py``) before anything else sees it:

* from a blocked JID to the user: presence and everything else is dropped without an
  answer, except ``get``/``set`` iqs, which get ``service-unavailable`` (what any
  absent service says, so the contact learns nothing from it). Messages are dropped
  silently too, not bounced as XEP-0191 §3.3 suggests: a bounce would tell the contact
  that a message which would otherwise have been stored was refused;
* from the user to a blocked JID: refused with ``not-acceptable`` and
  ``<blocked xmlns='urn:xmpp:blocking:errors'/>``; what the server sends on the user's
  behalf (presence broadcasts, probes, answers to probes) is dropped silently.

Blocking sends the contact ``unavailable`` from each available resource the contact
could see; unblocking sends the current presence back and probes the contact's.
Changes are pushed to each resource of the user that fetched the blocklist.
"""

from __future__ import annotations

import asyncio
import secrets
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.stanza import error_reply, iq_result, readdress, tag
from ironwall.server.events import PRE_ROUTE, SESSION_BOUND, SESSION_CLOSED, iq
from ironwall.server.module import Module
from ironwall.server.roster_model import RosterItem
from ironwall.server.router import StanzaEvent
from ironwall.server.services import ROSTER
from ironwall.server.session import Session

__all__ = ["BLOCKING", "BLOCKING_ERRORS", "MODULE", "Blocking", "matches"]

BLOCKING = "urn:xmpp:blocking"
BLOCKING_ERRORS = "urn:xmpp:blocking:errors"

_ITEM = tag(BLOCKING, "item")
_IQ = tag(ns.CLIENT, "iq")
_PRESENCE = tag(ns.CLIENT, "presence")


def matches(blocked: frozenset[JID], jid: JID) -> bool:
    """True if an item of ``blocked`` covers ``jid`` (XEP-0016 §2.1 matching)."""
    if not blocked:
        return False
    return jid in blocked or jid.bare in blocked or JID.build(None, jid.domain) in blocked


class _Refusal(Exception):
    def __init__(self, condition: str, text: str) -> None:
        super().__init__(text)
        self.condition = condition
        self.text = text


class Blocking(Module):
    """Blocklists of local accounts and their enforcement on routing."""

    name = "blocking"
    disco_features = (BLOCKING,)

    async def start(self) -> None:
        """Open the store and hook routing, blocklist requests and session lifecycle."""
        self._store = self.server.storage.map("blocklist")
        #: Blocklists of accounts with a bound session (bounded by the sessions).
        self._cache: dict[JID, frozenset[JID]] = {}
        self._changing = asyncio.Lock()
        hooks = self.server.hooks
        hooks.on(PRE_ROUTE, self._check, priority=100)
        hooks.on(iq("get", "self", BLOCKING), self._on_get)
        hooks.on(iq("set", "self", BLOCKING), self._on_set)
        hooks.on(SESSION_BOUND, self._on_session_bound)
        hooks.on(SESSION_CLOSED, self._on_session_closed)

    async def blocklist(self, owner: JID) -> frozenset[JID]:
        """Every JID the account blocks."""
        cached = self._cache.get(owner)
        return cached if cached is not None else await self._load(owner)

    async def _load(self, owner: JID) -> frozenset[JID]:
        jids = set()
        for key in await self._store.get_all(str(owner)):
            try:
                jids.add(JID.parse(key))
            except InvalidJID:
                continue
        return frozenset(jids)

    async def _on_session_bound(self, session: Session) -> bool:
        owner = session.jid.bare
        if owner not in self._cache:
            self._cache[owner] = await self._load(owner)
        return False

    async def _on_session_closed(self, session: Session) -> bool:
        owner = session.jid.bare
        if not self.server.router.resources(owner):
            self._cache.pop(owner, None)
        return False

    # ------------------------------------------------------------ enforcing

    def _is_server(self, jid: JID) -> bool:
        return jid.local is None and jid.domain in self.server.domains

    async def _check(self, event: StanzaEvent) -> bool:
        to, sender = event.to, event.sender
        if to is None or to.bare == sender.bare or self._is_server(to) or self._is_server(sender):
            return False
        stanza = event.stanza
        kind = stanza.get("type")
        if sender.local is not None and matches(await self.blocklist(sender.bare), to):
            if event.origin is not None and not (stanza.tag == _IQ and kind in ("result", "error")):
                self._refuse_outbound(stanza)
            return True
        if to.local is not None and matches(await self.blocklist(to.bare), sender):
            if stanza.tag == _IQ and kind in ("get", "set"):
                self.server.router.bounce(stanza, "service-unavailable")
            return True
        return False

    def _refuse_outbound(self, stanza: Element) -> None:
        reply = error_reply(stanza, "not-acceptable", "you have blocked this contact")
        if reply is None:
            return
        SubElement(reply[-1], tag(BLOCKING_ERRORS, "blocked"))
        self.server.router.deliver_local(reply)

    # ------------------------------------------------------------- requests

    async def _on_get(self, event: StanzaEvent) -> bool:
        if event.stanza[0].tag != tag(BLOCKING, "blocklist"):
            self.server.router.bounce(event.stanza, "bad-request", "expected <blocklist/>")
            return True
        if event.origin is not None:
            event.origin.extra[self.name] = True
        answer = Element(tag(BLOCKING, "blocklist"))
        for jid in sorted(await self.blocklist(event.sender.bare), key=str):
            SubElement(answer, _ITEM, {"jid": str(jid)})
        self.server.router.deliver_local(iq_result(event.stanza, answer))
        return True

    async def _on_set(self, event: StanzaEvent) -> bool:
        command = event.stanza[0]
        owner = event.sender.bare
        try:
            jids = _items(command)
            # One change at a time, or two could pass the limit together, or the
            # second's cache update could drop the first's JIDs.
            async with self._changing:
                if command.tag == tag(BLOCKING, "block"):
                    if not jids:
                        raise _Refusal("bad-request", "name at least one JID to block")
                    await self._block(owner, jids)
                elif command.tag == tag(BLOCKING, "unblock"):
                    await self._unblock(owner, jids)
                else:
                    raise _Refusal("bad-request", "expected <block/> or <unblock/>")
        except _Refusal as exc:
            self.server.router.bounce(event.stanza, exc.condition, exc.text)
            return True
        self.server.router.deliver_local(iq_result(event.stanza))
        self._push(owner, command.tag, jids)
        return True

    async def _block(self, owner: JID, jids: list[JID]) -> None:
        current = await self.blocklist(owner)
        added = frozenset(jids) - current
        limit = self.server.config.limits.max_blocklist_items
        if len(current) + len(added) > limit:
            raise _Refusal("not-acceptable", f"at most {limit} JIDs can be blocked")
        if not added:
            return
        # Said while the contact is not blocked yet, or the block would swallow it.
        await self._hide_presence(owner, added)
        for jid in sorted(added, key=str):
            await self._store.set(str(owner), str(jid), True)
        self._remember(owner, current | added)

    async def _unblock(self, owner: JID, jids: list[JID]) -> None:
        current = await self.blocklist(owner)
        removed = current & frozenset(jids) if jids else current
        if not removed:
            return
        if jids:
            for jid in sorted(removed, key=str):
                await self._store.set(str(owner), str(jid), None)
        else:
            await self._store.clear(str(owner))
        self._remember(owner, current - removed)
        await self._show_presence(owner, removed)

    def _remember(self, owner: JID, blocked: frozenset[JID]) -> None:
        if self.server.router.resources(owner):
            self._cache[owner] = blocked

    def _push(self, owner: JID, command: str, jids: list[JID]) -> None:
        for session in self.server.router.resources(owner):
            if session.extra.get(self.name) is not True:
                continue
            iq = Element(
                _IQ, {"type": "set", "id": "push-" + secrets.token_hex(6), "to": str(session.jid)}
            )
            element = SubElement(iq, command)
            for jid in jids:
                SubElement(element, _ITEM, {"jid": str(jid)})
            session.send(iq)

    # -------------------------------------------------------------- presence

    async def _contacts(self, owner: JID) -> list[RosterItem]:
        roster = self.server.service(ROSTER)
        return await roster.items(owner) if roster is not None else []

    async def _hide_presence(self, owner: JID, blocked: frozenset[JID]) -> None:
        router = self.server.router
        watchers = {
            item.jid
            for item in await self._contacts(owner)
            if item.sends_presence_to_contact and matches(blocked, item.jid)
        }
        for session in router.resources(owner):
            if not session.available:
                continue
            directed = {jid for jid in session.directed if matches(blocked, jid)}
            session.directed -= directed
            for contact in sorted(watchers | directed, key=str):
                unavailable = Element(
                    _PRESENCE, {"type": "unavailable", "from": str(session.jid), "to": str(contact)}
                )
                await router.route(unavailable)

    async def _show_presence(self, owner: JID, unblocked: frozenset[JID]) -> None:
        router = self.server.router
        available = [s for s in router.resources(owner) if s.available and s.presence is not None]
        if not available:
            return
        contacts = [item for item in await self._contacts(owner) if matches(unblocked, item.jid)]
        for session in available:
            assert session.presence is not None
            for item in contacts:
                if item.sends_presence_to_contact:
                    copy_ = readdress(session.presence, sender=str(session.jid), to=str(item.jid))
                    await router.route(copy_)
        for item in contacts:
            if item.receives_presence_from_contact:
                probe = Element(
                    _PRESENCE, {"type": "probe", "from": str(owner), "to": str(item.jid)}
                )
                await router.route(probe)


def _items(command: Element) -> list[JID]:
    """The JIDs of the command's items, each once, in order."""
    jids: dict[JID, None] = {}
    for item in command:
        if item.tag != _ITEM:
            raise _Refusal("bad-request", "only <item/> elements may appear here")
        try:
            jids[JID.parse(item.get("jid") or "")] = None
        except InvalidJID:
            raise _Refusal("jid-malformed", "an item's jid is not a valid JID") from None
    return list(jids)


MODULE = Blocking

"""RFC 6121 §2 roster management, and the subscription state table of §3.

The roster is stored per account in the ``roster`` map store (contact bare JID ->
item). Inbound subscription requests waiting for an answer are kept in the
``subscription-requests`` map store, apart from the roster, until approved or denied,
so that a request that arrives while the user is offline is delivered at next login.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from typing import Any
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.stanza import iq_result, tag
from ironwall.server.events import ACCOUNT_DELETING, SESSION_CLOSED, iq
from ironwall.server.module import Module
from ironwall.server.online_map import OnlineMap
from ironwall.server.roster_model import RosterItem
from ironwall.server.router import StanzaEvent
from ironwall.server.session import Session

__all__ = ["MODULE", "Roster"]

_ITEM = tag(ns.ROSTER, "item")
_MAX_NAME = 1024
_MAX_GROUPS = 64


@dataclass
class _RosterChange:
    item: RosterItem | None
    removed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Roster(Module):
    """jabber:iq:roster get/set/push and the stores behind subscriptions."""

    name = "roster"
    account_features = ()

    async def start(self) -> None:
        """Open the stores and hook roster queries."""
        storage = self.server.storage
        self._items = OnlineMap(storage.map("roster"), self._online)
        self._requests = OnlineMap(storage.map("subscription_requests"), self._online)
        hooks = self.server.hooks
        hooks.on(iq("get", "self", ns.ROSTER), self._on_get)
        hooks.on(iq("set", "self", ns.ROSTER), self._on_set)
        hooks.on(iq("get", "bare", ns.ROSTER), self._on_foreign)
        hooks.on(iq("set", "bare", ns.ROSTER), self._on_foreign)
        hooks.on(ACCOUNT_DELETING, self._on_account_deleting)
        # After every other handler: presence still reads the roster to say goodbye.
        hooks.on(SESSION_CLOSED, self._on_session_closed, priority=-1000)

    def stream_features(self) -> list[Element]:
        """Advertise subscription pre-approval (RFC 6121 §3.4)."""
        return [Element(tag("urn:xmpp:features:pre-approval", "sub"))]

    # -------------------------------------------------------------- storage

    def _online(self, owner: str) -> bool:
        return bool(self.server.router.resources(JID.parse(owner)))

    async def _on_session_closed(self, session: Session) -> bool:
        owner = session.jid.bare
        if not self.server.router.resources(owner):
            self._items.forget(str(owner))
            self._requests.forget(str(owner))
        return False

    async def item(self, owner: JID, contact: JID) -> RosterItem | None:
        """The owner's item for ``contact``, if any."""
        record = await self._items.get(str(owner), str(contact))
        return None if record is None else RosterItem.from_record(contact, record)

    async def is_stranger(self, owner: JID, sender: JID) -> bool:
        """True if ``sender`` is neither the owner's own account, nor a server (a JID
        without a local part), nor in the owner's roster in any state (a pending request
        the owner sent counts: the owner asked for the contact)."""
        if sender.local is None or sender.bare == owner:
            return False
        return await self._items.get(str(owner), str(sender.bare)) is None

    async def items(self, owner: JID) -> list[RosterItem]:
        """The owner's whole roster."""
        records = await self._items.get_all(str(owner))
        result = []
        for key, record in records.items():
            try:
                result.append(RosterItem.from_record(JID.parse(key), record))
            except InvalidJID:
                continue
        return result

    async def save(self, owner: JID, item: RosterItem) -> None:
        """Store ``item`` and push it to the owner's interested resources."""
        await self._items.set(str(owner), str(item.jid), item.to_record())
        self.push(owner, item.to_element())

    async def remove(self, owner: JID, contact: JID) -> None:
        """Delete the item and push the removal."""
        await self._items.set(str(owner), str(contact), None)
        self.push(owner, Element(_ITEM, {"jid": str(contact), "subscription": "remove"}))

    def push(self, owner: JID, item: Element) -> None:
        """RFC 6121 §2.1.6: send a roster push to each interested resource."""
        for session in self.server.router.resources(owner):
            if not session.interested:
                continue
            iq = Element(
                tag(ns.CLIENT, "iq"),
                {"type": "set", "id": "push-" + secrets.token_hex(6), "to": str(session.jid)},
            )
            query = SubElement(iq, tag(ns.ROSTER, "query"))
            query.append(item)
            session.send(iq)

    async def pending_requests(self, owner: JID) -> dict[str, str]:
        """Inbound subscription requests awaiting an answer: contact -> stored stanza."""
        records = await self._requests.get_all(str(owner))
        return {k: v for k, v in records.items() if isinstance(v, str)}

    async def set_pending_request(self, owner: JID, contact: JID, stanza: str | None) -> None:
        """Remember (or with None forget) an inbound subscription request."""
        await self._requests.set(str(owner), str(contact), stanza)

    # ------------------------------------------------------------ iq handlers

    async def _on_get(self, event: StanzaEvent) -> bool:
        if event.origin is not None:
            event.origin.interested = True
        query = Element(tag(ns.ROSTER, "query"))
        for item in await self.items(event.sender.bare):
            query.append(item.to_element())
        self.server.router.deliver_local(iq_result(event.stanza, query))
        return True

    async def _on_foreign(self, event: StanzaEvent) -> bool:
        self.server.router.bounce(event.stanza, "forbidden", "a roster belongs to its owner only")
        return True

    async def _on_set(self, event: StanzaEvent) -> bool:
        router = self.server.router
        stanza = event.stanza
        owner = event.sender.bare
        items = stanza[0].findall(_ITEM)
        if len(items) != 1 or len(stanza[0]) != 1:
            router.bounce(stanza, "bad-request", "a roster set carries exactly one item")
            return True
        element = items[0]
        try:
            contact = JID.parse(element.get("jid") or "")
        except InvalidJID:
            router.bounce(stanza, "jid-malformed", "the item's jid is not a valid JID")
            return True
        if contact.resource is not None:
            router.bounce(stanza, "bad-request", "roster items are bare JIDs")
            return True
        current = await self.item(owner, contact)
        if element.get("subscription") == "remove":
            if current is None:
                router.bounce(stanza, "item-not-found", "that contact is not in the roster")
                return True
            router.deliver_local(iq_result(stanza))
            await self._remove_contact(event, owner, current)
            return True
        groups = [(g.text or "").strip() for g in element.findall(tag(ns.ROSTER, "group"))]
        name = element.get("name")
        if any(not g for g in groups):
            router.bounce(stanza, "not-acceptable", "a group name cannot be empty")
            return True
        if len(set(groups)) != len(groups):
            router.bounce(stanza, "bad-request", "a group appears twice")
            return True
        if (
            len(groups) > _MAX_GROUPS
            or (name and len(name) > _MAX_NAME)
            or any(len(g) > _MAX_NAME for g in groups)
        ):
            router.bounce(stanza, "not-acceptable", "the name or groups are too long")
            return True
        base = current or RosterItem(contact)
        updated = replace(base, name=name or None, groups=tuple(groups))
        router.deliver_local(iq_result(stanza))
        await self.save(owner, updated)
        return True

    async def _remove_contact(self, event: StanzaEvent, owner: JID, item: RosterItem) -> None:
        # RFC 6121 §2.5.3: removing an item cancels both directions of the subscription.
        await self.remove(owner, item.jid)
        await self.set_pending_request(owner, item.jid, None)
        router = self.server.router
        if item.subscription in ("to", "both") or item.ask:
            await router.route(_subscription("unsubscribe", owner, item.jid))
        if item.subscription in ("from", "both"):
            await router.route(_subscription("unsubscribed", owner, item.jid))

    async def _on_account_deleting(self, account: JID) -> bool:
        for item in await self.items(account):
            if item.subscription != "none" or item.ask:
                await self.server.router.route(_subscription("unsubscribed", account, item.jid))
                await self.server.router.route(_subscription("unsubscribe", account, item.jid))
        self._items.forget(str(account))
        self._requests.forget(str(account))
        return False


def _subscription(kind: str, sender: JID, to: JID) -> Element:
    return Element(tag(ns.CLIENT, "presence"), {"type": kind, "from": str(sender), "to": str(to)})


MODULE = Roster

"""Who hears about a PEP node, and the notifications they get (XEP-0163 §4.3, XEP-0060 §7.1.2).

A notification about a node goes, each at most once, to:

* the owner's available resources that ``+notify`` the node;
* the available, ``+notify``'ing resources of each contact subscribed to the owner's
  presence (``from`` or ``both``) whom the node's access model admits;
* each explicit subscriber the access model still admits: a full JID as is, a bare JID
  as its interested resources, or, if none, the bare JID itself.

Access is checked when sending, not only when subscribing, so a contact whose
presence subscription ended stops hearing at once.

This module has no ``MODULE``: it is a library of the ``pep`` module, not a server module.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.stanza import tag
from ironwall.server.events import PRE_ROUTE
from ironwall.server.modules.pep.caps import CapsTracker
from ironwall.server.modules.pep.model import PUBSUB_EVENT, access_denial
from ironwall.server.modules.pep.store import Node, PepStore
from ironwall.server.roster_model import RosterItem
from ironwall.server.router import StanzaEvent
from ironwall.server.services import ROSTER
from ironwall.server.session import Session

if TYPE_CHECKING:
    from ironwall.server.module_host import ModuleHost

__all__ = ["Notifier", "Target", "items_event"]

log = logging.getLogger(__name__)

#: Where one notification goes: a local session, or a JID to route to (no session known).
Target = tuple[Session | None, JID]


def items_event(node: str, item_id: str, payload: Element | None) -> Element:
    """``<event><items node><item id>payload</item></items></event>`` (payload optional)."""
    event = Element(tag(PUBSUB_EVENT, "event"))
    items = SubElement(event, tag(PUBSUB_EVENT, "items"), {"node": node})
    item = SubElement(items, tag(PUBSUB_EVENT, "item"), {"id": item_id})
    if payload is not None:
        item.append(payload)
    return event


class Notifier:
    """Computes recipients and sends notifications; owns the caps tracker that feeds it."""

    def __init__(self, server: ModuleHost, store: PepStore) -> None:
        self._server = server
        self._store = store
        self.caps = CapsTracker(server, self.send_last_items)

    async def roster_item(self, owner: JID, contact: JID) -> RosterItem | None:
        """The owner's roster item for ``contact`` (None without one, or without a roster)."""
        roster = self._server.service(ROSTER)
        return await roster.item(owner, contact.bare) if roster is not None else None

    async def _roster(self, owner: JID) -> dict[JID, RosterItem]:
        roster = self._server.service(ROSTER)
        if roster is None:
            return {}
        return {item.jid: item for item in await roster.items(owner)}

    def _interested(self, session: Session, node: str) -> bool:
        return (
            session.available and session.priority >= 0 and node in self.caps.notify_nodes(session)
        )

    def expand(self, subscriber: JID, node: str) -> list[Target]:
        """XEP-0163 §4.3.2: a full JID as is; a bare one as its interested resources, or itself."""
        router = self._server.router
        if subscriber.resource is not None:
            return [(router.session(subscriber), subscriber)]
        sessions = [s for s in router.resources(subscriber) if self._interested(s, node)]
        return [(s, s.jid) for s in sessions] if sessions else [(None, subscriber)]

    async def targets(self, owner: JID, node: Node) -> list[Target]:
        """Everyone a notification about ``node`` goes to, each once."""
        if not node.config.deliver_notifications:
            return []
        router = self._server.router
        found: dict[JID, Session | None] = {}
        for session in router.resources(owner):
            if self._interested(session, node.name):
                found[session.jid] = session
        contacts = await self._roster(owner)
        for contact, item in contacts.items():
            if not item.sends_presence_to_contact:
                continue
            if access_denial(node.config, item.subscription, item.groups) is not None:
                continue
            for session in router.resources(contact):
                if self._interested(session, node.name):
                    found[session.jid] = session
        for jid_text in node.subscriptions:
            try:
                subscriber = JID.parse(jid_text)
            except InvalidJID:
                continue
            if subscriber.bare != owner:
                known = contacts.get(subscriber.bare)
                subscription = known.subscription if known else None
                groups = known.groups if known else ()
                if access_denial(node.config, subscription, groups) is not None:
                    continue
            for target, jid in self.expand(subscriber, node.name):
                found.setdefault(jid, target)
        return [(session, jid) for jid, session in found.items()]

    async def notify(self, owner: JID, node: Node, event: Element) -> None:
        """Send ``event`` about ``node`` to everyone who should hear of it."""
        await self.send(owner, await self.targets(owner, node), event)

    async def send(self, owner: JID, targets: list[Target], event: Element) -> None:
        """Send one headline message from the owner's bare JID to each target."""
        for session, jid in targets:
            attrs = {"from": str(owner), "to": str(jid), "type": "headline"}
            message = Element(tag(ns.CLIENT, "message"), attrs)
            message.set("id", secrets.token_hex(8))
            message.append(event)
            # What the server sends on the owner's behalf passes the blocking check too
            # (XEP-0191: nothing from or to a blocked JID), as routed stanzas do.
            if await self._server.hooks.fire(PRE_ROUTE, StanzaEvent(message, None, owner, jid)):
                continue
            if session is not None:
                session.send(message)
            else:
                await self._server.router.route(message)

    async def last_item_event(self, owner: JID, node: Node) -> Element | None:
        """The notification carrying the node's newest item, if it has one."""
        if not node.items:
            return None
        item_id = node.items[-1]
        payload = await self._store.payload(owner, node.name, item_id)
        if payload is None:
            return None
        return items_event(node.name, item_id, payload if node.config.deliver_payloads else None)

    async def send_last_items(self, session: Session, wanted: frozenset[str]) -> None:
        """XEP-0163 §4.3.3: a newly available resource gets the last item of each node it wants.

        From the account's own nodes and from each contact whose presence it receives
        (as that contact's roster says) and whose access model admits it.
        """
        if session.priority < 0:
            return
        account = session.jid.bare
        owners = [account]
        owners += [
            j
            for j, item in (await self._roster(account)).items()
            if item.receives_presence_from_contact
        ]
        for owner in owners:
            nodes = await self._store.nodes(owner)
            for name in sorted(wanted & nodes.keys()):
                node = nodes[name]
                config = node.config
                if config.send_last_published_item != "on_sub_and_presence":
                    continue
                if owner != account:
                    item = await self.roster_item(owner, account)
                    if item is None or not item.sends_presence_to_contact:
                        continue
                    if access_denial(config, item.subscription, item.groups) is not None:
                        continue
                last = (
                    await self.last_item_event(owner, node)
                    if config.deliver_notifications
                    else None
                )
                if last is not None:
                    await self.send(owner, [(session, session.jid)], last)

"""RFC 6121 §3–§4: presence broadcast, probes, directed presence, subscriptions.

Outbound means sent by a local user's session; inbound means arriving for a local
user. Subscription state changes come from the tables in ``roster.py``.
"""

from __future__ import annotations

import logging
from xml.etree.ElementTree import Element

from ironwall.proto import ns
from ironwall.proto.jid import JID
from ironwall.proto.stanza import readdress, tag
from ironwall.server.events import PRESENCE_INITIAL, SESSION_CLOSED, presence_to
from ironwall.server.module import Module
from ironwall.server.roster_model import INBOUND, OUTBOUND, RosterItem
from ironwall.server.router import StanzaEvent
from ironwall.server.services import ROSTER, RosterService
from ironwall.server.session import Session
from ironwall.xml import parse_document, serialize

__all__ = ["MODULE", "Presence"]

log = logging.getLogger(__name__)

_PRESENCE = tag(ns.CLIENT, "presence")
_SUBSCRIPTION_TYPES = frozenset({"subscribe", "subscribed", "unsubscribe", "unsubscribed"})


def _presence(attrs: dict[str, str]) -> Element:
    return Element(_PRESENCE, attrs)


def _priority(stanza: Element) -> int:
    element = stanza.find(tag(ns.CLIENT, "priority"))
    try:
        return max(-128, min(127, int((element.text or "0").strip()))) if element is not None else 0
    except ValueError:
        return 0


class Presence(Module):
    """Presence for local accounts."""

    name = "presence"
    needs = (ROSTER,)
    disco_features = ()

    async def start(self) -> None:
        """Hook every presence route and session lifecycle event."""
        hooks = self.server.hooks
        hooks.on(presence_to("broadcast"), self._outbound_broadcast)
        hooks.on(presence_to("bare"), self._to_bare)
        hooks.on(presence_to("full"), self._to_full)
        hooks.on(presence_to("host"), self._to_host)
        hooks.on(SESSION_CLOSED, self._on_session_closed)

    @property
    def _roster(self) -> RosterService:
        roster = self.server.service(ROSTER)
        assert roster is not None, "the server checks a module's needs before it starts"
        return roster

    # -------------------------------------------------------------- outbound

    async def _outbound_broadcast(self, event: StanzaEvent) -> bool:
        session = event.origin
        if session is None:
            return True
        stanza = event.stanza
        kind = stanza.get("type")
        if kind not in (None, "unavailable"):
            if kind == "probe":
                return True
            self.server.router.bounce(
                stanza, "bad-request", "this presence type needs a 'to' address"
            )
            return True
        initial = kind is None and not session.available
        if kind is None:
            session.available = True
            session.priority = _priority(stanza)
            session.presence = stanza
        await self._broadcast(session, stanza, include_directed=kind == "unavailable")
        if kind == "unavailable":
            session.available = False
            session.presence = None
            session.directed.clear()
        if initial:
            await self._on_initial(session)
        return True

    async def _broadcast(
        self, session: Session, stanza: Element, *, include_directed: bool
    ) -> None:
        owner = session.jid.bare
        router = self.server.router
        targets: set[JID] = set()
        for item in await self._roster.items(owner):
            if item.sends_presence_to_contact:
                targets.add(item.jid)
        if include_directed:
            targets |= session.directed
        for target in targets:
            copy_ = readdress(stanza, sender=str(session.jid), to=str(target))
            await router.route(copy_)
        # RFC 6121 §4.2.2, §4.4.2: every available resource of the user gets the
        # presence, including the one that sent it (clients take the echo as "online").
        for other in router.resources(owner):
            if other is session or other.available:
                copy_ = readdress(stanza, sender=str(session.jid), to=str(other.jid))
                other.send(copy_)

    async def _on_initial(self, session: Session) -> None:
        owner = session.jid.bare
        router = self.server.router
        # RFC 6121 §4.2.2: probe every contact the user is subscribed to, and show
        # the user's other available resources to the new one.
        for item in await self._roster.items(owner):
            if item.receives_presence_from_contact:
                await router.route(
                    _presence({"type": "probe", "from": str(owner), "to": str(item.jid)})
                )
        for other in router.resources(owner):
            if other is not session and other.available and other.presence is not None:
                copy_ = readdress(other.presence, sender=str(other.jid), to=str(session.jid))
                session.send(copy_)
        for stored in (await self._roster.pending_requests(owner)).values():
            request = parse_document(stored.encode())
            session.send(request)
        await self.server.hooks.fire(PRESENCE_INITIAL, session)

    async def _on_session_closed(self, session: Session) -> bool:
        if session.available:
            unavailable = _presence({"type": "unavailable", "from": str(session.jid)})
            await self._broadcast(session, unavailable, include_directed=True)
            session.available = False
        return False

    async def _outbound_directed(self, event: StanzaEvent, to: JID) -> None:
        session = event.origin
        stanza = event.stanza
        kind = stanza.get("type")
        if session is not None:
            if kind is None:
                session.directed.add(to)
            elif kind == "unavailable":
                session.directed.discard(to)

    async def _outbound_subscription(self, event: StanzaEvent, contact: JID) -> None:
        owner = event.sender.bare
        kind = event.stanza.get("type") or ""
        roster = self._roster
        item = await roster.item(owner, contact)
        pending = contact in {JID.parse(k) for k in await roster.pending_requests(owner)}
        stanza = _presence({"type": kind, "from": str(owner), "to": str(contact)})
        router = self.server.router
        current = item or RosterItem(contact)
        new_state = OUTBOUND[kind].get(current.state, current.state)
        if kind == "subscribed":
            if not pending:
                # RFC 6121 §3.4: approval without a request is a pre-approval.
                if not current.sends_presence_to_contact and not current.approved:
                    await roster.save(
                        owner,
                        RosterItem(contact, current.state, current.name, current.groups, True),
                    )
                return
            await roster.set_pending_request(owner, contact, None)
            await roster.save(
                owner, RosterItem(contact, new_state, current.name, current.groups, False)
            )
            await router.route(stanza)
            for session in router.resources(owner):
                if session.available and session.presence is not None:
                    copy_ = readdress(session.presence, sender=str(session.jid), to=str(contact))
                    await router.route(copy_)
            return
        if kind == "unsubscribed":
            was_sending = current.sends_presence_to_contact
            await roster.set_pending_request(owner, contact, None)
            if item is not None and (new_state != current.state or current.approved):
                await roster.save(
                    owner, RosterItem(contact, new_state, current.name, current.groups, False)
                )
            if pending or was_sending:
                await router.route(stanza)
            if was_sending:
                for session in router.resources(owner):
                    if session.available:
                        await router.route(
                            _presence(
                                {
                                    "type": "unavailable",
                                    "from": str(session.jid),
                                    "to": str(contact),
                                }
                            )
                        )
            return
        if item is None and kind == "unsubscribe":
            await router.route(stanza)
            return
        if new_state != current.state or item is None:
            await roster.save(
                owner,
                RosterItem(contact, new_state, current.name, current.groups, current.approved),
            )
        await router.route(stanza)

    # --------------------------------------------------------------- inbound

    async def _to_bare(self, event: StanzaEvent) -> bool:
        to = event.to
        assert to is not None
        kind = event.stanza.get("type")
        if event.origin is not None and event.sender.bare != to:
            # Outbound from a local session to a contact's bare JID.
            if kind in _SUBSCRIPTION_TYPES:
                await self._outbound_subscription(event, to)
                return True
            await self._outbound_directed(event, to)
        if (
            event.origin is not None
            and event.sender.bare == to
            and (kind in _SUBSCRIPTION_TYPES or kind == "probe")
        ):
            return True
        await self._inbound(event, to)
        return True

    async def _to_full(self, event: StanzaEvent) -> bool:
        to = event.to
        assert to is not None
        kind = event.stanza.get("type")
        if event.origin is not None and kind in _SUBSCRIPTION_TYPES:
            # RFC 6121 §3.1.2: subscription stanzas go to the bare JID.
            await self._outbound_subscription(event, to.bare)
            return True
        if event.origin is not None:
            await self._outbound_directed(event, to)
        if kind in _SUBSCRIPTION_TYPES or kind == "probe":
            await self._inbound(event, to.bare)
            return True
        session = self.server.router.session(to)
        if session is not None:
            session.send(event.stanza)
        return True

    async def _to_host(self, event: StanzaEvent) -> bool:
        return True

    async def _inbound(self, event: StanzaEvent, user: JID) -> None:
        stanza = event.stanza
        kind = stanza.get("type")
        contact = event.sender.bare
        router = self.server.router
        if kind == "probe":
            await self._answer_probe(user, event.sender)
            return
        if kind in _SUBSCRIPTION_TYPES:
            if not await self.server.accounts.exists(user):
                if kind == "subscribe":
                    await router.route(
                        _presence({"type": "unsubscribed", "from": str(user), "to": str(contact)})
                    )
                return
            await self._inbound_subscription(user, contact, kind or "", stanza)
            return
        if kind not in (None, "unavailable", "error"):
            return
        for session in router.resources(user):
            if session.available:
                session.send(stanza)

    async def _inbound_subscription(
        self, user: JID, contact: JID, kind: str, stanza: Element
    ) -> None:
        roster = self._roster
        router = self.server.router
        item = await roster.item(user, contact)
        current = item or RosterItem(contact)
        clean = _presence({"type": kind, "from": str(contact), "to": str(user)})
        if kind == "subscribe":
            if current.sends_presence_to_contact:
                await router.route(
                    _presence({"type": "subscribed", "from": str(user), "to": str(contact)})
                )
                return
            if current.approved:
                new_state = OUTBOUND["subscribed"].get(current.state, current.state)
                await roster.save(
                    user, RosterItem(contact, new_state, current.name, current.groups, False)
                )
                await router.route(
                    _presence({"type": "subscribed", "from": str(user), "to": str(contact)})
                )
                return
            for child in stanza:
                clean.append(child)
            await roster.set_pending_request(user, contact, serialize(clean).decode())
            for session in router.resources(user):
                if session.available:
                    session.send(clean)
            return
        if kind == "unsubscribe":
            await roster.set_pending_request(user, contact, None)
        change = INBOUND[kind].get(current.state)
        if item is None or change is None:
            return
        new_state = change
        await roster.save(
            user, RosterItem(contact, new_state, current.name, current.groups, current.approved)
        )
        for session in router.resources(user):
            if session.available:
                session.send(clean)

    async def _answer_probe(self, user: JID, prober: JID) -> None:
        item = await self._roster.item(user, prober.bare)
        if item is None or not item.sends_presence_to_contact:
            return
        router = self.server.router
        available = [s for s in router.resources(user) if s.available and s.presence is not None]
        for session in available:
            assert session.presence is not None
            copy_ = readdress(session.presence, sender=str(session.jid), to=str(prober))
            await router.route(copy_)


MODULE = Presence

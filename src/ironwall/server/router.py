"""Routing: which local session or module a stanza goes to (RFC 6120 §10, RFC 6121 §8).

The router only classifies and dispatches; what happens to a message to an offline
user, or to a presence subscription, is decided by the modules hooked to the events:

* ``pre-route`` first, for every stanza with a served (or no) ``to``: a handler that
  returns True has answered or dropped it (XEP-0191 blocking in ``blocking.py``)
* ``iq-{get,set}/{host,self,bare,full}/{payload namespace}``
* ``iq-{result,error}/host`` (answers to requests the server sent)
* ``message/{host,bare,full}``, ``presence/{broadcast,host,bare,full}``

An event no module handles gets the RFC's default answer.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from ironwall.proto import ns
from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.stanza import error_reply
from ironwall.server.events import PRE_ROUTE, iq, message_to, presence_to
from ironwall.server.session import Session

if TYPE_CHECKING:
    from ironwall.server.app import Server

__all__ = ["Router", "StanzaEvent"]

log = logging.getLogger(__name__)

_PREFIX_LEN = len(ns.CLIENT) + 2


@dataclass(slots=True)
class StanzaEvent:
    """A stanza on its way: who sent it (if a local session), from whom, to whom."""

    stanza: Element
    origin: Session | None
    sender: JID
    to: JID | None


class Router:
    """The registry of bound sessions and the dispatcher of stanzas."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._sessions: dict[JID, dict[str, Session]] = {}

    # ------------------------------------------------------------ sessions

    def resources(self, bare: JID) -> list[Session]:
        """Every bound session of the account."""
        return list(self._sessions.get(bare, {}).values())

    def session(self, full: JID) -> Session | None:
        """The session bound to ``full``, if any."""
        assert full.resource is not None
        return self._sessions.get(full.bare, {}).get(full.resource)

    def all_sessions(self) -> list[Session]:
        """Every bound session on the server."""
        return [s for by_resource in self._sessions.values() for s in by_resource.values()]

    def bind(self, session: Session, requested: str | None) -> Session | str:
        """Register ``session`` under a resource; return the session or an error condition.

        Resource conflicts follow RFC 6120 §7.7.2.2's "override" rule: the newest login
        wins and the older session is closed with a ``<conflict/>`` stream error, so a
        client reconnecting after a silent network drop is never locked out by its own
        stale session.
        """
        bare = session.jid.bare
        resource = requested
        if resource is not None:
            try:
                full = bare.with_resource(resource)
            except InvalidJID:
                return "bad-request"
        else:
            full = bare.with_resource(secrets.token_hex(6))
        by_resource = self._sessions.setdefault(bare, {})
        assert full.resource is not None
        old = by_resource.get(full.resource)
        if old is None and len(by_resource) >= self._server.config.limits.max_resources_per_account:
            return "resource-constraint"
        session.jid = full
        by_resource[full.resource] = session
        if old is not None:
            old.close("conflict", "replaced by a new login with the same resource")
        return session

    def unbind(self, session: Session) -> bool:
        """Forget ``session``; False if it had already been replaced."""
        by_resource = self._sessions.get(session.jid.bare)
        if by_resource is None or by_resource.get(session.jid.resource or "") is not session:
            return False
        del by_resource[session.jid.resource or ""]
        if not by_resource:
            del self._sessions[session.jid.bare]
        return True

    # ------------------------------------------------------------- routing

    async def route(self, stanza: Element, origin: Session | None = None) -> None:
        """Deliver or dispatch one stanza whose ``from`` is already set and trusted."""
        kind = stanza.tag[_PREFIX_LEN:]
        sender = JID.parse(stanza.get("from") or "")
        to_text = stanza.get("to")
        to: JID | None = None
        if to_text is not None:
            try:
                to = JID.parse(to_text)
            except InvalidJID:
                # The reply cannot come from an address that is not one: it comes from the server.
                stanza.set("to", sender.domain)
                self.bounce(stanza, "jid-malformed", "the 'to' address is not a valid JID")
                return
            if to.domain not in self._server.domains:
                self.bounce(
                    stanza, "remote-server-not-found", "this server does not federate (yet)"
                )
                return
        event = StanzaEvent(stanza, origin, sender, to)
        hooks = self._server.hooks
        if await hooks.fire(PRE_ROUTE, event):
            return
        if kind == "iq":
            await self._route_iq(event)
        elif kind == "message":
            target = self._target(to, sender, self_is_bare=True)
            if to is None:
                event.to = sender.bare
            if not await hooks.fire(message_to(target), event):
                self.bounce(stanza, "service-unavailable")
        else:
            target = "broadcast" if to is None else self._target(to, sender, self_is_bare=True)
            if not await hooks.fire(presence_to(target), event):
                log.debug("presence to %s dropped: no handler", target)

    @staticmethod
    def _target(to: JID | None, sender: JID, *, self_is_bare: bool) -> str:
        if to is None:
            return "bare" if self_is_bare else "self"
        if to.local is None:
            return "host"
        if to.resource is None:
            if not self_is_bare and to == sender.bare:
                return "self"
            return "bare"
        return "full"

    async def _route_iq(self, event: StanzaEvent) -> None:
        stanza = event.stanza
        kind = stanza.get("type", "")
        to = event.to
        if kind in ("result", "error"):
            if to is not None and to.resource is not None and to.local is not None:
                session = self.session(to)
                if session is not None:
                    session.send(stanza)
                return
            await self._server.hooks.fire(iq(kind, "host"), event)
            return
        target = self._target(to, event.sender, self_is_bare=False)
        if to is None:
            event.to = event.sender.bare
        payload_ns = stanza[0].tag[1:].partition("}")[0] if len(stanza) else ""
        if await self._server.hooks.fire(iq(kind, target, payload_ns), event):
            return
        if target == "full":
            assert to is not None
            session = self.session(to)
            if session is not None:
                session.send(stanza)
                return
            self.bounce(stanza, "service-unavailable")
        elif target in ("host", "self"):
            # RFC 6120 §8.4: a payload nobody here understands is service-unavailable.
            self.bounce(stanza, "service-unavailable", "this server does not handle that request")
        else:
            self.bounce(stanza, "service-unavailable")

    def bounce(self, stanza: Element, condition: str, text: str = "") -> None:
        """Send the error reply for ``stanza`` back to its sender (never an error to an error)."""
        reply = error_reply(stanza, condition, text)
        if reply is None:
            return
        if reply.get("from") is None and self._server.domains:
            sender = reply.get("to")
            if sender:
                reply.set("from", JID.parse(sender).domain)
        self.deliver_local(reply)

    def deliver_local(self, stanza: Element) -> None:
        """Hand a server-made stanza to its local recipient's session(s), if online."""
        to_text = stanza.get("to")
        if not to_text:
            return
        try:
            to = JID.parse(to_text)
        except InvalidJID:
            return
        if to.resource is not None:
            session = self.session(to)
            if session is not None:
                session.send(stanza)
        else:
            for session in self.resources(to):
                session.send(stanza)

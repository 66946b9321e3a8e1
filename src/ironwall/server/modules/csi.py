"""XEP-0352 Client State Indication: hold back presence for a client in the background.

After ``<inactive xmlns='urn:xmpp:csi:0'/>`` the session's presence updates from
others are held, only the latest per sender full JID (so a chatty contact costs one
stanza, not one per change). Everything else goes out at once; a message with content
anywhere inside (a body or an encrypted payload, also in a carbon or an archive result)
first flushes what is held, so the client sees presence and messages in order.
Subscription requests and errors flush too. ``<active/>`` flushes and stops holding;
at most ``limits.csi_max_held`` presences are held, one more flushes them all.

Holding needs a say in every stanza the session sends. The session's
``outbound_filter`` (``session.py``) is that one point: it sits in front of the
connection's send, so it survives XEP-0198 resumption moving the session to another
connection, and it costs nothing while the client is active (no filter set).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from ironwall.proto import ns
from ironwall.proto.stanza import tag
from ironwall.server.events import SESSION_CLOSED, Nonza, nonza
from ironwall.server.module import Module
from ironwall.server.session import Session
from ironwall.server.stanza_kinds import carries_content

if TYPE_CHECKING:
    pass

__all__ = ["CSI", "MODULE", "ClientState", "PresenceHold"]

CSI = "urn:xmpp:csi:0"

_ACTIVE = tag(CSI, "active")
_INACTIVE = tag(CSI, "inactive")
_PRESENCE = tag(ns.CLIENT, "presence")
_MESSAGE = tag(ns.CLIENT, "message")


class PresenceHold:
    """The held presence of one inactive session; ``filter`` is its ``outbound_filter``."""

    def __init__(self, session: Session, limit: int) -> None:
        self._own = str(session.jid)
        self._limit = limit
        self._held: dict[str, Element] = {}

    def filter(self, stanza: Element) -> list[Element]:
        """The stanzas to send now, in order, given that ``stanza`` is to be sent."""
        if stanza.tag == _PRESENCE:
            sender = stanza.get("from") or ""
            if stanza.get("type") not in (None, "unavailable") or sender == self._own:
                return [*self.drain(), stanza]
            # Re-inserted, so the flush sends presences in the order of their last change.
            self._held.pop(sender, None)
            self._held[sender] = stanza
            return self.drain() if len(self._held) > self._limit else []
        if stanza.tag == _MESSAGE and carries_content(stanza):
            return [*self.drain(), stanza]
        return [stanza]

    def drain(self) -> list[Element]:
        """Every held stanza, now no longer held."""
        held = list(self._held.values())
        self._held.clear()
        return held

    def __len__(self) -> int:
        return len(self._held)


class ClientState(Module):
    """``<active/>`` and ``<inactive/>`` from bound clients."""

    name = "csi"
    extension_nonzas = (_ACTIVE, _INACTIVE)

    async def start(self) -> None:
        """Hook the two nonzas and the end of sessions."""
        hooks = self.server.hooks
        hooks.on(nonza(_ACTIVE), self._on_active)
        hooks.on(nonza(_INACTIVE), self._on_inactive)
        hooks.on(SESSION_CLOSED, self._on_session_closed)

    def stream_features(self) -> list[Element]:
        """Advertise ``<csi xmlns='urn:xmpp:csi:0'/>``."""
        return [Element(tag(CSI, "csi"))]

    async def _on_inactive(self, received: Nonza) -> bool:
        session = received.connection.session
        # Before resource binding there is nothing to hold: the nonza is ignored.
        if session is not None and self.name not in session.extra:
            hold = PresenceHold(session, self.server.config.limits.csi_max_held)
            session.extra[self.name] = hold
            session.outbound_filter = hold.filter
        return True

    async def _on_active(self, received: Nonza) -> bool:
        session = received.connection.session
        if session is None:
            return True
        hold = session.extra.pop(self.name, None)
        if isinstance(hold, PresenceHold):
            session.outbound_filter = None
            for stanza in hold.drain():
                session.send(stanza)
        return True

    async def _on_session_closed(self, session: Session) -> bool:
        if session.extra.pop(self.name, None) is not None:
            session.outbound_filter = None
        return False


MODULE = ClientState

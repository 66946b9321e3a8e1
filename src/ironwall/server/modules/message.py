"""RFC 6121 §8.5: delivering messages to local accounts.

A message to an account goes to its available resources with a non-negative
priority (all of them, so every device sees the conversation); if there are none,
``chat`` and ``normal`` messages are offered to ``message/offline`` (XEP-0160 in
``offline.py``), and bounced with ``service-unavailable`` if nobody takes them.
"""

from __future__ import annotations

from ironwall.server.events import MESSAGE_OFFLINE, message_to
from ironwall.server.module import Module
from ironwall.server.router import StanzaEvent

__all__ = ["MODULE", "Message"]

_STORABLE = frozenset({"normal", "chat"})


class Message(Module):
    """Message routing by the rules for bare and full JIDs."""

    name = "message"

    async def start(self) -> None:
        """Hook messages to bare and full JIDs, and to the server."""
        hooks = self.server.hooks
        hooks.on(message_to("bare"), self._to_bare, priority=-100)
        hooks.on(message_to("full"), self._to_full, priority=-100)
        hooks.on(message_to("host"), self._to_host, priority=-100)

    async def _to_bare(self, event: StanzaEvent) -> bool:
        to = event.to
        assert to is not None
        stanza = event.stanza
        kind = stanza.get("type") or "normal"
        router = self.server.router
        recipients = [s for s in router.resources(to) if s.available and s.priority >= 0]
        if kind == "groupchat":
            router.bounce(stanza, "service-unavailable", "this is not a chat room")
            return True
        if recipients:
            for session in recipients:
                session.send(stanza)
            return True
        if kind not in _STORABLE:
            return True
        if not await self.server.accounts.exists(to):
            router.bounce(stanza, "service-unavailable")
            return True
        if not await self.server.hooks.fire(MESSAGE_OFFLINE, event):
            router.bounce(stanza, "service-unavailable", "the recipient is offline")
        return True

    async def _to_full(self, event: StanzaEvent) -> bool:
        to = event.to
        assert to is not None
        session = self.server.router.session(to)
        if session is not None:
            session.send(event.stanza)
            return True
        kind = event.stanza.get("type") or "normal"
        if kind == "groupchat":
            self.server.router.bounce(event.stanza, "service-unavailable")
            return True
        if kind in _STORABLE:
            return await self._to_bare(
                StanzaEvent(event.stanza, event.origin, event.sender, to.bare)
            )
        return True

    async def _to_host(self, event: StanzaEvent) -> bool:
        if (event.stanza.get("type") or "normal") != "error":
            self.server.router.bounce(
                event.stanza, "service-unavailable", "the server does not take messages"
            )
        return True


MODULE = Message

"""XEP-0199 XMPP Ping: answer pings to the server."""

from __future__ import annotations

from ironwall.proto import ns
from ironwall.proto.stanza import iq_result
from ironwall.server.events import iq
from ironwall.server.module import Module
from ironwall.server.router import StanzaEvent

__all__ = ["MODULE", "Ping"]


class Ping(Module):
    """Answers ``<ping xmlns='urn:xmpp:ping'/>`` to the server with an empty result."""

    name = "ping"
    disco_features = (ns.PING,)

    async def start(self) -> None:
        """Hook pings to the server."""
        self.server.hooks.on(iq("get", "host", ns.PING), self._pong)

    async def _pong(self, event: StanzaEvent) -> bool:
        self.server.router.deliver_local(iq_result(event.stanza))
        return True


MODULE = Ping

"""XEP-0092 Software Version of the server."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement

import ironwall
from ironwall.proto import ns
from ironwall.proto.stanza import iq_result, tag
from ironwall.server.events import iq
from ironwall.server.module import Module
from ironwall.server.router import StanzaEvent

__all__ = ["MODULE", "Version"]


class Version(Module):
    """Answers ``jabber:iq:version`` queries to the server (no OS: it helps attackers)."""

    name = "version"
    disco_features = (ns.VERSION,)

    async def start(self) -> None:
        """Hook version queries to the server."""
        self.server.hooks.on(iq("get", "host", ns.VERSION), self._version)

    async def _version(self, event: StanzaEvent) -> bool:
        query = Element(tag(ns.VERSION, "query"))
        SubElement(query, tag(ns.VERSION, "name")).text = "Ironwall"
        SubElement(query, tag(ns.VERSION, "version")).text = ironwall.__version__
        self.server.router.deliver_local(iq_result(event.stanza, query))
        return True


MODULE = Version

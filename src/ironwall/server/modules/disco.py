"""XEP-0030 Service Discovery for the server and for accounts.

Modules add identities to an account's disco#info by hooking ``disco-info/account``:
the handler gets ``(event, query)``, appends to ``query`` and returns False.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.stanza import iq_result, tag
from ironwall.server.events import DISCO_INFO_ACCOUNT, DiscoInfoQuery, iq
from ironwall.server.module import Module
from ironwall.server.router import StanzaEvent

__all__ = ["MODULE", "Disco"]


class Disco(Module):
    """disco#info and disco#items of the server and of local accounts."""

    name = "disco"
    disco_features = (ns.DISCO_INFO, ns.DISCO_ITEMS)

    async def start(self) -> None:
        """Hook disco queries to the server, to one's own account and to other accounts."""
        hooks = self.server.hooks
        hooks.on(iq("get", "host", ns.DISCO_INFO), self._server_info)
        hooks.on(iq("get", "host", ns.DISCO_ITEMS), self._items)
        for target in ("self", "bare"):
            hooks.on(iq("get", target, ns.DISCO_INFO), self._account_info, priority=-10)
            hooks.on(iq("get", target, ns.DISCO_ITEMS), self._account_items, priority=-10)

    def _reply(self, event: StanzaEvent, query: Element) -> None:
        self.server.router.deliver_local(iq_result(event.stanza, query))

    async def _server_info(self, event: StanzaEvent) -> bool:
        query = Element(tag(ns.DISCO_INFO, "query"))
        if node := event.stanza[0].get("node"):
            self.server.router.bounce(event.stanza, "item-not-found", f"no such node: {node}"[:200])
            return True
        SubElement(
            query,
            tag(ns.DISCO_INFO, "identity"),
            {"category": "server", "type": "im", "name": "Ironwall"},
        )
        for feature in self.server.disco_features:
            SubElement(query, tag(ns.DISCO_INFO, "feature"), {"var": feature})
        self._reply(event, query)
        return True

    async def _items(self, event: StanzaEvent) -> bool:
        self._reply(event, Element(tag(ns.DISCO_ITEMS, "query")))
        return True

    async def _account_info(self, event: StanzaEvent) -> bool:
        assert event.to is not None
        if not await self.server.accounts.exists(event.to):
            self.server.router.bounce(event.stanza, "service-unavailable")
            return True
        if event.stanza[0].get("node"):
            return False
        query = Element(tag(ns.DISCO_INFO, "query"))
        SubElement(
            query, tag(ns.DISCO_INFO, "identity"), {"category": "account", "type": "registered"}
        )
        await self.server.hooks.fire(DISCO_INFO_ACCOUNT, DiscoInfoQuery(event, query))
        for feature in self.server.account_features:
            SubElement(query, tag(ns.DISCO_INFO, "feature"), {"var": feature})
        self._reply(event, query)
        return True

    async def _account_items(self, event: StanzaEvent) -> bool:
        assert event.to is not None
        if not await self.server.accounts.exists(event.to):
            self.server.router.bounce(event.stanza, "service-unavailable")
            return True
        if event.stanza[0].get("node"):
            return False
        self._reply(event, Element(tag(ns.DISCO_ITEMS, "query")))
        return True


MODULE = Disco

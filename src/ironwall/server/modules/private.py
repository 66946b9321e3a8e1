"""XEP-0049 Private XML Storage: any namespaced element, per account, readable only by it.

Stored in the ``private`` map store: owner = account bare JID, key = the element's
Clark name (``{namespace}name``), value = the serialised element. A set replaces the
elements it carries; a get returns the stored element, or the empty one asked for.
Each element and the number of elements per account are limited, with a clear error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from ironwall.proto.stanza import iq_result, tag
from ironwall.server.events import iq
from ironwall.server.module import Module
from ironwall.server.router import StanzaEvent
from ironwall.xml import XMLPolicyError, parse_document, serialize

if TYPE_CHECKING:
    from ironwall.server.config import Limits

__all__ = ["MODULE", "Private", "PrivateLimits"]

log = logging.getLogger(__name__)

PRIVATE = "jabber:iq:private"


@dataclass(frozen=True)
class PrivateLimits:
    """How much private XML one account may keep."""

    #: Serialised size of one stored element, in bytes.
    max_element_bytes: int
    #: Distinct elements (namespace + name) per account.
    max_elements: int

    @classmethod
    def from_config(cls, limits: Limits) -> PrivateLimits:
        """The ``private_*`` limits of the server's configuration."""
        return cls(
            max_element_bytes=limits.private_max_element_bytes,
            max_elements=limits.private_max_elements,
        )


class Private(Module):
    """jabber:iq:private get and set on one's own account."""

    name = "private"
    disco_features = (PRIVATE,)

    async def start(self) -> None:
        """Open the store and hook private-storage queries."""
        self.limits = PrivateLimits.from_config(self.server.config.limits)
        self._store = self.server.storage.map("private")
        hooks = self.server.hooks
        hooks.on(iq("get", "self", PRIVATE), self._on_get)
        hooks.on(iq("set", "self", PRIVATE), self._on_set)
        hooks.on(iq("get", "bare", PRIVATE), self._on_foreign)
        hooks.on(iq("set", "bare", PRIVATE), self._on_foreign)

    async def _on_foreign(self, event: StanzaEvent) -> bool:
        self.server.router.bounce(
            event.stanza, "forbidden", "private XML belongs to its owner only"
        )
        return True

    def _invalid_children(self, event: StanzaEvent) -> bool:
        query = event.stanza[0]
        if len(query) == 0:
            self.server.router.bounce(
                event.stanza, "not-acceptable", "name the element to store or fetch"
            )
            return True
        for child in query:
            namespace = child.tag[1:].partition("}")[0] if child.tag.startswith("{") else ""
            if namespace in ("", PRIVATE):
                self.server.router.bounce(
                    event.stanza,
                    "not-acceptable",
                    "each element needs its own namespace (not jabber:iq:private)",
                )
                return True
        return False

    async def _on_get(self, event: StanzaEvent) -> bool:
        if self._invalid_children(event):
            return True
        query = event.stanza[0]
        if len(query) != 1:
            self.server.router.bounce(event.stanza, "bad-request", "fetch one element at a time")
            return True
        wanted = query[0]
        stored = await self._store.get(str(event.sender.bare), wanted.tag)
        element = Element(wanted.tag)
        if isinstance(stored, str):
            try:
                element = parse_document(stored.encode("utf-8"))
            except XMLPolicyError:
                log.warning(
                    "an unreadable private XML element of %s was skipped", event.sender.bare
                )
        answer = Element(tag(PRIVATE, "query"))
        answer.append(element)
        self.server.router.deliver_local(iq_result(event.stanza, answer))
        return True

    async def _on_set(self, event: StanzaEvent) -> bool:
        if self._invalid_children(event):
            return True
        owner = str(event.sender.bare)
        router = self.server.router
        values: dict[str, str] = {}
        for child in event.stanza[0]:
            xml = serialize(child).decode("utf-8")
            if len(xml.encode("utf-8")) > self.limits.max_element_bytes:
                router.bounce(
                    event.stanza,
                    "not-acceptable",
                    f"a private XML element may hold at most {self.limits.max_element_bytes} bytes",
                )
                return True
            values[child.tag] = xml
        existing = await self._store.get_all(owner)
        if len(existing.keys() | values.keys()) > self.limits.max_elements:
            router.bounce(
                event.stanza,
                "not-allowed",
                f"an account may keep at most {self.limits.max_elements} private XML elements",
            )
            return True
        for key, xml in values.items():
            await self._store.set(owner, key, xml)
        router.deliver_local(iq_result(event.stanza))
        return True


MODULE = Private

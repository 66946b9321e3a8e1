"""A roster's items and RFC 6121's subscription state tables.

Core types: the roster module stores and pushes items; presence, blocking, PEP, the
archive and the stranger rules read them through `RosterService`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.jid import JID
from ironwall.proto.stanza import tag

__all__ = ["INBOUND", "OUTBOUND", "STATES", "RosterItem"]

_ITEM = tag(ns.ROSTER, "item")

#: RFC 6121 §3 subscription states (Appendix A "none + pending out" is written "none+ask").
STATES = ("none", "none+ask", "to", "from", "from+ask", "both")

#: How an outbound subscription stanza from the user changes the user's item for the contact.
OUTBOUND: dict[str, dict[str, str]] = {
    "subscribe": {"none": "none+ask", "from": "from+ask"},
    "unsubscribe": {"none+ask": "none", "to": "none", "from+ask": "from", "both": "from"},
    "subscribed": {"none": "from", "none+ask": "from+ask", "to": "both"},
    "unsubscribed": {"from": "none", "from+ask": "none+ask", "both": "to"},
}

#: How an inbound subscription stanza from the contact changes the user's item for it.
INBOUND: dict[str, dict[str, str]] = {
    "subscribed": {"none+ask": "to", "from+ask": "both"},
    "unsubscribe": {"from": "none", "from+ask": "none+ask", "both": "to"},
    "unsubscribed": {"none+ask": "none", "to": "none", "from+ask": "from", "both": "from"},
}


@dataclass(frozen=True)
class RosterItem:
    """One contact in a roster."""

    jid: JID
    state: str = "none"
    name: str | None = None
    groups: tuple[str, ...] = ()
    approved: bool = False

    @property
    def subscription(self) -> str:
        """The wire ``subscription`` attribute."""
        return self.state.split("+")[0]

    @property
    def ask(self) -> bool:
        """True if the user's subscription request is pending."""
        return self.state.endswith("+ask")

    @property
    def sends_presence_to_contact(self) -> bool:
        """The contact is subscribed to the user's presence (``from`` or ``both``)."""
        return self.subscription in ("from", "both")

    @property
    def receives_presence_from_contact(self) -> bool:
        """The user is subscribed to the contact's presence (``to`` or ``both``)."""
        return self.subscription in ("to", "both")

    def to_element(self) -> Element:
        """The ``<item/>`` for a roster result or push."""
        attrs = {"jid": str(self.jid), "subscription": self.subscription}
        if self.name:
            attrs["name"] = self.name
        if self.ask:
            attrs["ask"] = "subscribe"
        if self.approved:
            attrs["approved"] = "true"
        item = Element(_ITEM, attrs)
        for group in self.groups:
            SubElement(item, tag(ns.ROSTER, "group")).text = group
        return item

    def to_record(self) -> dict[str, Any]:
        """JSON-safe form for storage."""
        return {
            "state": self.state,
            "name": self.name,
            "groups": list(self.groups),
            "approved": self.approved,
        }

    @classmethod
    def from_record(cls, jid: JID, record: Any) -> RosterItem:
        """Inverse of ``to_record``."""
        return cls(
            jid=jid,
            state=record.get("state", "none"),
            name=record.get("name"),
            groups=tuple(record.get("groups", ())),
            approved=bool(record.get("approved", False)),
        )

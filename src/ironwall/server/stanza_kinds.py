"""Which messages carry a conversation: the rule archiving, carbons and CSI share.

A message has *content* when it holds a ``<body>`` or an end-to-end encrypted payload:
XEP-0373/0374 OX ``<openpgp>`` or XEP-0384 OMEMO ``<encrypted>`` (both namespaces in
use). Ironwall clients always send OX with a fallback body, but other OMEMO and OX
clients may leave the body out, and their messages are still conversation.

This module has no ``MODULE``: it is a library of ``mam``, ``carbons`` and ``csi``.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from ironwall.proto import ns
from ironwall.proto.stanza import tag

__all__ = [
    "HINTS",
    "SID",
    "carries_content",
    "has_content",
    "has_hint",
    "message_type",
]

#: XEP-0334 message processing hints.
HINTS = "urn:xmpp:hints"
#: XEP-0359 unique and stable stanza ids.
SID = "urn:xmpp:sid:0"

_CONTENT = frozenset(
    {
        tag(ns.CLIENT, "body"),
        tag("urn:xmpp:openpgp:0", "openpgp"),
        tag("eu.siacs.conversations.axolotl", "encrypted"),
        tag("urn:xmpp:omemo:2", "encrypted"),
    }
)


def message_type(message: Element) -> str:
    """The message's type, ``normal`` when it has none (RFC 6121 §5.2.2)."""
    return message.get("type") or "normal"


def has_content(message: Element) -> bool:
    """True if a direct child is a body or an encrypted payload."""
    return any(child.tag in _CONTENT for child in message)


def carries_content(stanza: Element) -> bool:
    """True if a body or an encrypted payload is anywhere inside, also in a forwarded copy."""
    return any(element.tag in _CONTENT for element in stanza.iter())


def has_hint(message: Element, name: str) -> bool:
    """True if the message carries the XEP-0334 hint ``name`` (``no-store``, ``no-copy``...)."""
    return message.find(tag(HINTS, name)) is not None

"""Hardened incremental XML for XMPP: a stream parser, a document parser, a serializer.

Pure and synchronous (no asyncio, no I/O). Elements are ``xml.etree.ElementTree``
elements with Clark-notation names (``{jabber:client}message``); namespaced attribute
names are in Clark notation too (``{http://www.w3.org/XML/1998/namespace}lang``).
"""

from ironwall.xml.errors import XMLPolicyError
from ironwall.xml.events import ParserEvent, StanzaReceived, StreamEnded, StreamOpened
from ironwall.xml.parser import ParserLimits, StreamParser, parse_document
from ironwall.xml.serializer import element, serialize

__all__ = [
    "ParserEvent",
    "ParserLimits",
    "StanzaReceived",
    "StreamEnded",
    "StreamOpened",
    "StreamParser",
    "XMLPolicyError",
    "element",
    "parse_document",
    "serialize",
]

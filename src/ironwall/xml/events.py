"""What a :class:`~ironwall.xml.StreamParser` reports: the stream opened, a stanza, the end."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element

__all__ = ["ParserEvent", "StanzaReceived", "StreamEnded", "StreamOpened"]


@dataclass(frozen=True, slots=True)
class StreamOpened:
    """The peer's stream header (the root start tag) is complete.

    ``tag`` is in Clark notation (``{http://etherx.jabber.org/streams}stream``); ``attrs``
    holds its attributes (``to``, ``from``, ``version``, ``id``,
    ``{http://www.w3.org/XML/1998/namespace}lang``...), ``default_ns`` the default namespace
    the header declares (``jabber:client``), or None when it declares none.
    """

    tag: str
    attrs: dict[str, str]
    default_ns: str | None


@dataclass(frozen=True, slots=True)
class StanzaReceived:
    """A complete child of the stream root: a stanza, or a nonza such as ``<starttls/>``."""

    element: Element


@dataclass(frozen=True, slots=True)
class StreamEnded:
    """The peer closed the stream root (``</stream:stream>``)."""


ParserEvent = StreamOpened | StanzaReceived | StreamEnded

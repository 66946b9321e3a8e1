"""Hardened incremental XML parsing of XMPP streams (RFC 6120 §11).

Hand-written over the stdlib expat binding because no maintained library parses an
XMPP stream incrementally while refusing what RFC 6120 §11.1 forbids (DTDs, entity
declarations, comments, processing instructions) and bounding what a peer can make the
server hold. Elements are built straight from expat's callbacks as
``xml.etree.ElementTree`` trees with Clark-notation names (``{jabber:client}message``).

What a peer can cost the server is bounded:

- Memory: a stanza may span at most ``max_stanza_bytes``. Input reaches expat in slices
  of at most ``_SLICE`` bytes and the size is checked after each slice, so at most one
  slice beyond the limit is ever built, however the input is chunked and even if the
  stanza never ends.
- Time: expat rescans an unfinished token from its first byte whenever more input
  arrives, so a huge start tag sent a byte at a time costs time quadratic in its size.
  ``max_token_bytes`` caps every tag, and any token still unfinished, at a size where
  that rescanning stays cheap.
"""

from __future__ import annotations

import pyexpat
from dataclasses import dataclass, fields
from typing import NoReturn
from xml.etree.ElementTree import Element, SubElement

from ironwall.xml.errors import XMLPolicyError
from ironwall.xml.events import ParserEvent, StanzaReceived, StreamEnded, StreamOpened

__all__ = ["ParserLimits", "StreamParser", "parse_document"]

# Expat joins a namespace and a local name with this separator: "uri}local" becomes
# Clark notation by prefixing "{". Local names cannot contain "}".
_SEP = "}"
# Elements named "xml:..." are in the XML namespace, which holds attributes only; the
# serializer cannot write them, and no protocol defines one.
_XML_NS_ELEMENT = "{http://www.w3.org/XML/1998/namespace}"
_SLICE = 16384
_XML_SPACE = " \t\r\n"
_CLARK_CACHE_SIZE = 2048
_clark_cache: dict[str, str] = {}


@dataclass(frozen=True)
class ParserLimits:
    """Bounds on what a peer may send; exceeding any of them is a ``policy-violation``."""

    max_stanza_bytes: int = 262144
    """Bytes of one top-level stanza, from the first byte of its start tag to the first
    byte of its end tag (the whole tag for an empty-element stanza)."""
    max_depth: int = 32
    """Element nesting depth below the stream root; a stanza is at depth 1."""
    max_header_bytes: int = 4096
    """Bytes by which the stream header's start tag must be complete (counted from the
    first byte of the stream, so garbage before it counts too)."""
    max_attributes: int = 64
    """Attributes on one element, namespace declarations not included."""
    max_token_bytes: int = 16384
    """Bytes of one tag (start tag with its attributes, or end tag), and of any token
    while it is still unfinished. Keeps expat's rescanning of unfinished tokens cheap."""

    def __post_init__(self) -> None:
        for field in fields(self):
            if getattr(self, field.name) < 1:
                raise ValueError(f"{field.name} must be at least 1")


def _clark(name: str) -> str:
    """Turn expat's ``uri}local`` into ``{uri}local`` (plain names stay as they are)."""
    clark = _clark_cache.get(name)
    if clark is None:
        clark = "{" + name if _SEP in name else name
        # Names come from the peer: keep the cache bounded, refill it with what recurs.
        if len(_clark_cache) >= _CLARK_CACHE_SIZE:
            _clark_cache.clear()
        _clark_cache[name] = clark
    return clark


def _refuse_doctype(*_: object) -> NoReturn:
    raise XMLPolicyError("restricted-xml", "DOCTYPE declarations are not allowed")


def _refuse_entity(*_: object) -> NoReturn:
    raise XMLPolicyError("restricted-xml", "entity declarations are not allowed")


def _refuse_processing_instruction(*_: object) -> NoReturn:
    raise XMLPolicyError("restricted-xml", "processing instructions are not allowed")


def _refuse_comment(*_: object) -> NoReturn:
    raise XMLPolicyError("restricted-xml", "comments are not allowed")


def _check_xml_declaration(_version: str, encoding: str | None, _standalone: int) -> None:
    if encoding is not None and encoding.lower() != "utf-8":
        raise XMLPolicyError("unsupported-encoding", "only UTF-8 is supported")


def _too_large(what: str) -> XMLPolicyError:
    return XMLPolicyError("policy-violation", f"{what} exceeds the size limit")


class _TreeReader:
    """One expat parser and the tree it is building.

    In stream mode the outermost element is the stream root: it is reported as
    :class:`StreamOpened` and its children are built and reported one by one. In document
    mode the outermost element is built and reported like a stanza.
    """

    def __init__(self, limits: ParserLimits, *, stream: bool) -> None:
        self._max_stanza = limits.max_stanza_bytes
        self._max_depth = limits.max_depth
        self._max_header = limits.max_header_bytes
        self._max_attributes = limits.max_attributes
        self._max_token = limits.max_token_bytes
        self._root_pending = stream
        self._default_ns: str | None = None
        self._stack: list[Element] = []
        self._text: list[str] = []
        self._events: list[ParserEvent] = []
        self._fed = 0
        self._top_at = 0
        # Where the last tag began, or -1 once another event has followed it: the next
        # event's position minus this is that tag's size.
        self._tag_at = -1
        self._expat = self._create_expat(stream)

    def _create_expat(self, stream: bool) -> pyexpat.XMLParserType:
        expat = pyexpat.ParserCreate("UTF-8", _SEP)
        expat.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
        if hasattr(expat, "SetReparseDeferralEnabled"):
            # Expat >= 2.6 may hold back a complete stanza until more input arrives; a
            # live stream cannot wait, and max_token_bytes bounds the cost deferral avoids.
            expat.SetReparseDeferralEnabled(False)
        expat.XmlDeclHandler = _check_xml_declaration
        expat.StartDoctypeDeclHandler = _refuse_doctype
        expat.EntityDeclHandler = _refuse_entity
        expat.UnparsedEntityDeclHandler = _refuse_entity
        expat.ExternalEntityRefHandler = _refuse_entity
        expat.ProcessingInstructionHandler = _refuse_processing_instruction
        expat.CommentHandler = _refuse_comment
        if stream:
            expat.StartNamespaceDeclHandler = self._declare_namespace
        expat.StartElementHandler = self._start
        expat.EndElementHandler = self._end
        expat.CharacterDataHandler = self._characters
        return expat

    def feed(self, data: bytes) -> list[ParserEvent]:
        """Parse more of the stream; return the events it completed."""
        events: list[ParserEvent] = []
        self._events = events
        try:
            size = len(data)
            done = 0
            view: memoryview | None = None
            while done < size:
                room = self._max_header - self._fed if self._root_pending else _SLICE
                if done == 0 and size <= room:
                    chunk: bytes | memoryview = data
                else:
                    view = view or memoryview(data)
                    chunk = view[done : done + room]
                self._expat.Parse(chunk, False)
                done += len(chunk)
                self._fed += len(chunk)
                self._check_unfinished()
        except pyexpat.ExpatError as exc:
            reason = pyexpat.ErrorString(exc.code) or "malformed XML"
            raise XMLPolicyError("not-well-formed", reason, tuple(events)) from None
        except XMLPolicyError as exc:
            exc.events = tuple(events)
            raise
        finally:
            # Not kept: an idle stream would hold on to its last stanza.
            self._events = []
        return events

    def parse_whole(self, data: bytes) -> Element:
        """Parse ``data`` as one complete document and return its root element."""
        try:
            self._expat.Parse(data, True)
        except pyexpat.ExpatError as exc:
            reason = pyexpat.ErrorString(exc.code) or "malformed XML"
            raise XMLPolicyError("not-well-formed", reason) from None
        # A final parse succeeds only once the single root element has ended.
        (event,) = self._events
        assert isinstance(event, StanzaReceived)
        return event.element

    def _check_unfinished(self) -> None:
        unparsed = self._expat.CurrentByteIndex  # first byte of the unfinished token
        if self._root_pending:
            # The header is bounded by max_header_bytes instead of max_token_bytes.
            if self._fed >= self._max_header:
                raise _too_large("stream header")
            return
        if self._stack and unparsed - self._top_at > self._max_stanza:
            raise _too_large("stanza")
        if self._fed - unparsed > self._max_token or (
            self._tag_at >= 0 and unparsed - self._tag_at > self._max_token
        ):
            raise _too_large("tag")

    def _declare_namespace(self, prefix: str | None, uri: str | None) -> None:
        if prefix is None:
            self._default_ns = uri or None

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        at = self._expat.CurrentByteIndex
        if self._tag_at >= 0 and at - self._tag_at > self._max_token:
            raise _too_large("tag")
        self._tag_at = at
        if len(attrs) > self._max_attributes:
            raise XMLPolicyError("policy-violation", "too many attributes on one element")
        tag = _clark(name)
        if tag.startswith(_XML_NS_ELEMENT):
            raise XMLPolicyError("bad-format", "elements cannot be in the xml namespace")
        for key in attrs:
            if _SEP in key:
                attrs = {_clark(key): value for key, value in attrs.items()}
                break
        stack = self._stack
        if stack:
            if len(stack) >= self._max_depth:
                raise XMLPolicyError("policy-violation", "elements are nested too deeply")
            parent = stack[-1]
            if self._text:
                self._flush_text(parent)
            stack.append(SubElement(parent, tag, attrs))
        elif self._root_pending:
            self._root_pending = False
            self._tag_at = -1
            self._expat.StartNamespaceDeclHandler = None
            self._events.append(StreamOpened(tag, attrs, self._default_ns))
        else:
            self._top_at = at
            stack.append(Element(tag, attrs))

    def _end(self, _name: str) -> None:
        at = self._expat.CurrentByteIndex
        if self._tag_at >= 0 and at - self._tag_at > self._max_token:
            raise _too_large("tag")
        self._tag_at = at
        stack = self._stack
        if not stack:
            self._events.append(StreamEnded())
            return
        if self._text:
            self._flush_text(stack[-1])
        done = stack.pop()
        if not stack:
            if at - self._top_at > self._max_stanza:
                raise _too_large("stanza")
            self._events.append(StanzaReceived(done))

    def _characters(self, data: str) -> None:
        if self._tag_at >= 0:
            if self._expat.CurrentByteIndex - self._tag_at > self._max_token:
                raise _too_large("tag")
            self._tag_at = -1
        if self._stack:
            self._text.append(data)
        elif data.strip(_XML_SPACE):
            raise XMLPolicyError("bad-format", "text directly inside the stream root")

    def _flush_text(self, owner: Element) -> None:
        # Expat delivers text in pieces; joining once keeps long text linear to build.
        text = "".join(self._text)
        self._text.clear()
        if len(owner):
            owner[-1].tail = text
        else:
            owner.text = text


class StreamParser:
    """Incremental parser for one direction of an XMPP stream.

    Feed it the bytes read from the socket, in chunks of any size; it returns the events
    those bytes completed. Any chunking of the same bytes yields the same events. Input
    the stream must refuse raises :class:`XMLPolicyError`; from then on the parser refuses
    all input, :meth:`reset` included.
    """

    def __init__(self, limits: ParserLimits | None = None) -> None:
        self._limits = limits or ParserLimits()
        self._reader = _TreeReader(self._limits, stream=True)
        self._failure: XMLPolicyError | None = None

    def feed(self, data: bytes) -> list[ParserEvent]:
        """Parse the next bytes of the stream and return the events they completed.

        Raises :class:`XMLPolicyError`; its ``events`` holds the events this call
        completed before the error.
        """
        if self._failure is not None:
            raise XMLPolicyError(self._failure.condition, self._failure.text)
        try:
            return self._reader.feed(data)
        except XMLPolicyError as exc:
            self._failure = exc
            raise

    def reset(self) -> None:
        """Start over for an XMPP stream restart: a new stream header is expected next.

        Bytes fed before the reset that did not complete an event are discarded.
        """
        self._reader = _TreeReader(self._limits, stream=True)


def parse_document(data: bytes, *, max_bytes: int = 1_048_576, max_depth: int = 64) -> Element:
    """Parse a standalone XML document with the same hardening as :class:`StreamParser`.

    For attacker-controlled documents such as decrypted ``<signcrypt>`` content. The root
    element is at depth 1. Raises :class:`XMLPolicyError`.
    """
    if len(data) > max_bytes:
        raise _too_large("document")
    limits = ParserLimits(max_stanza_bytes=max_bytes, max_depth=max_depth)
    return _TreeReader(limits, stream=False).parse_whole(data)

"""Shared by the ironwall.xml tests: random element trees and a comparable form of them."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any
from xml.etree.ElementTree import Element

from hypothesis import strategies as st

from ironwall.xml import ParserEvent, StanzaReceived, StreamEnded, StreamOpened, StreamParser

XML_NS = "http://www.w3.org/XML/1998/namespace"
HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>"
)
FOOTER = b"</stream:stream>"

# Every character XML 1.0 allows, "\r" included (the serializer escapes it).
xml_text = st.text(
    st.characters(
        codec="utf-8",
        exclude_characters="".join(map(chr, [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]))
        + "\ufffe\uffff",
    ),
    max_size=40,
)
local_names = st.sampled_from(["body", "x", "item", "bödy", "日本", "a-b.c_d", "_n1"])
namespaces = st.sampled_from([None, "jabber:client", "urn:x", "urn:y?a=1&b='2'", "urn:z"])
attribute_names = st.one_of(
    local_names,
    st.builds(
        lambda ns, local: f"{{{ns}}}{local}",
        st.sampled_from([XML_NS, "urn:a", "urn:b"]),
        local_names,
    ),
)


def _clark(ns: str | None, local: str) -> str:
    return local if ns is None else f"{{{ns}}}{local}"


@st.composite
def trees(
    draw: st.DrawFn, depth: int = 3, ns: st.SearchStrategy[str | None] = namespaces
) -> Element:
    """A random element tree with text, tails, attributes and mixed namespaces."""
    node = Element(
        _clark(draw(ns), draw(local_names)),
        draw(st.dictionaries(attribute_names, xml_text, max_size=4)),
    )
    node.text = draw(st.none() | xml_text)
    if depth > 0:
        for child in draw(st.lists(trees(depth - 1), max_size=3)):
            child.tail = draw(st.none() | xml_text)
            node.append(child)
    return node


def canonical(node: Element) -> tuple[Any, ...]:
    """What two equal trees share: names, attributes, text and tails ("" counts as none)."""
    return (
        node.tag,
        sorted(node.attrib.items()),
        node.text or None,
        node.tail or None,
        [canonical(child) for child in node],
    )


def describe(events: list[Any]) -> list[tuple[Any, ...]]:
    """Parser events in a form that compares by value."""
    described: list[tuple[Any, ...]] = []
    for event in events:
        if isinstance(event, StreamOpened):
            described.append(("opened", event.tag, event.attrs, event.default_ns))
        elif isinstance(event, StanzaReceived):
            described.append(("stanza", canonical(event.element)))
        else:
            assert isinstance(event, StreamEnded)
            described.append(("ended",))
    return described


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    """``data`` in pieces of ``size`` bytes."""
    return (data[offset : offset + size] for offset in range(0, len(data), size))


def split(data: bytes, cuts: Iterable[int]) -> Iterator[bytes]:
    """``data`` cut at the given offsets (taken modulo its length plus one)."""
    bounds = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return (data[start:end] for start, end in itertools.pairwise(bounds))


def feed_pieces(
    parser: StreamParser, pieces: Iterable[bytes], events: list[ParserEvent] | None = None
) -> list[ParserEvent]:
    """Feed every piece; collect the events into ``events`` (kept even if a feed raises)."""
    events = [] if events is None else events
    for piece in pieces:
        events += parser.feed(piece)
    return events

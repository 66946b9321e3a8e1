"""StreamParser on well-behaved streams: events, trees, namespaces, chunking, restarts."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from xml_trees import (
    FOOTER,
    HEADER,
    XML_NS,
    canonical,
    chunks,
    describe,
    feed_pieces,
    split,
    trees,
)

from ironwall.xml import (
    ParserLimits,
    StanzaReceived,
    StreamEnded,
    StreamOpened,
    StreamParser,
    XMLPolicyError,
    serialize,
)

STREAMS = "http://etherx.jabber.org/streams"


def feed_all(data: bytes, parser: StreamParser | None = None) -> list[object]:
    return list((parser or StreamParser()).feed(data))


def stanza(data: bytes) -> StanzaReceived:
    """Parse one stanza inside a fresh stream and return it."""
    opened, received = feed_all(HEADER + data)
    assert isinstance(opened, StreamOpened)
    assert isinstance(received, StanzaReceived)
    return received


def test_header_is_reported_with_attributes_and_default_namespace() -> None:
    (opened,) = feed_all(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
        b" to='example.org' from='juliet@example.org' version='1.0' id='s1' xml:lang='en'>"
    )
    assert opened == StreamOpened(
        tag=f"{{{STREAMS}}}stream",
        attrs={
            "to": "example.org",
            "from": "juliet@example.org",
            "version": "1.0",
            "id": "s1",
            f"{{{XML_NS}}}lang": "en",
        },
        default_ns="jabber:client",
    )


def test_header_without_default_namespace() -> None:
    (opened,) = feed_all(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>")
    assert opened == StreamOpened(tag=f"{{{STREAMS}}}stream", attrs={}, default_ns=None)


def test_stanza_tree_has_clark_names_text_and_tails() -> None:
    message = stanza(
        b"<message to='romeo@example.net' type='chat' xml:lang='fr'>"
        b"<body>bonjour &amp; &lt;salut&gt; &#x263A;</body>\n"
        b"<x xmlns='urn:x' xmlns:q='urn:q' q:k='v' k='w'>t<y/>tail</x></message>"
    ).element
    assert message.tag == "{jabber:client}message"
    assert message.attrib == {"to": "romeo@example.net", "type": "chat", f"{{{XML_NS}}}lang": "fr"}
    body, extension = list(message)
    assert (body.tag, body.text, body.tail) == ("{jabber:client}body", "bonjour & <salut> ☺", "\n")
    assert extension.tag == "{urn:x}x"
    assert extension.attrib == {"{urn:q}k": "v", "k": "w"}
    assert extension.text == "t"
    (inner,) = list(extension)
    assert (inner.tag, inner.text, inner.tail) == ("{urn:x}y", None, "tail")


def test_stream_level_elements_keep_their_namespace() -> None:
    features = stanza(
        b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
        b"</starttls></stream:features>"
    ).element
    assert features.tag == f"{{{STREAMS}}}features"
    assert [child.tag for child in features.iter()] == [
        f"{{{STREAMS}}}features",
        "{urn:ietf:params:xml:ns:xmpp-tls}starttls",
        "{urn:ietf:params:xml:ns:xmpp-tls}required",
    ]


def test_child_can_leave_the_default_namespace() -> None:
    message = stanza(b"<message><plain xmlns=''/></message>").element
    assert [child.tag for child in message] == ["plain"]


def test_cdata_is_text() -> None:
    body = stanza(b"<message><body>a<![CDATA[<b>&]]>c</body></message>").element[0]
    assert body.text == "a<b>&c"


def test_line_ends_are_normalised() -> None:
    body = stanza(b"<message><body>a\r\nb\rc</body></message>").element[0]
    assert body.text == "a\nb\nc"


def test_whitespace_between_stanzas_is_a_keepalive() -> None:
    parser = StreamParser()
    assert len(parser.feed(HEADER)) == 1
    assert parser.feed(b" \n\t\r\n ") == []
    assert [type(e) for e in parser.feed(b"<presence/> <presence/>")] == [StanzaReceived] * 2


def test_stream_end_is_reported_and_trailing_whitespace_accepted() -> None:
    parser = StreamParser()
    events = parser.feed(HEADER + b"<presence/>" + FOOTER)
    assert isinstance(events[-1], StreamEnded)
    assert parser.feed(b"\n") == []


def test_a_second_root_after_the_end_is_refused() -> None:
    parser = StreamParser()
    parser.feed(HEADER + FOOTER)
    with pytest.raises(XMLPolicyError) as caught:
        parser.feed(HEADER)
    assert caught.value.condition == "not-well-formed"


def test_stanza_is_reported_only_when_complete() -> None:
    parser = StreamParser()
    parser.feed(HEADER)
    assert parser.feed(b"<message><body>hel") == []
    assert parser.feed(b"lo</body></mess") == []
    (event,) = parser.feed(b"age>")
    assert isinstance(event, StanzaReceived)
    assert event.element[0].text == "hello"


def test_utf8_sequence_split_across_feeds() -> None:
    data = HEADER + "<message><body>ü😀</body></message>".encode()
    events = feed_pieces(StreamParser(), chunks(data, 1))
    assert isinstance(events[1], StanzaReceived)
    assert events[1].element[0].text == "ü😀"


def test_empty_feed_is_harmless() -> None:
    parser = StreamParser()
    assert parser.feed(b"") == []
    assert len(parser.feed(HEADER)) == 1
    assert parser.feed(b"") == []


def test_reset_expects_a_new_header() -> None:
    parser = StreamParser()
    events = parser.feed(HEADER + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    assert [type(e) for e in events] == [StreamOpened, StanzaReceived]
    parser.reset()
    events = parser.feed(HEADER + b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    assert [type(e) for e in events] == [StreamOpened, StanzaReceived]


def test_reset_discards_an_unfinished_stanza() -> None:
    parser = StreamParser()
    parser.feed(HEADER + b"<message><body>never fini")
    parser.reset()
    assert describe(parser.feed(HEADER + b"<presence/>")) == describe(
        StreamParser().feed(HEADER + b"<presence/>")
    )


def test_reset_restarts_the_header_limit() -> None:
    parser = StreamParser(ParserLimits(max_header_bytes=len(HEADER)))
    parser.feed(HEADER + b"<presence/>")
    parser.reset()
    assert len(parser.feed(HEADER)) == 1


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        ParserLimits(max_depth=0)


@pytest.mark.parametrize(
    ("limits", "ok", "too_much"),
    [
        (
            ParserLimits(max_depth=3),
            b"<a><b><c/></b></a>",
            b"<a><b><c><d/></c></b></a>",
        ),
        (
            ParserLimits(max_attributes=2),
            b"<a x='1' y='2' xmlns:p='urn:p'/>",
            b"<a x='1' y='2' z='3'/>",
        ),
        (
            ParserLimits(max_stanza_bytes=20),
            b"<a>" + b"x" * 17 + b"</a>",
            b"<a>" + b"x" * 18 + b"</a>",
        ),
        (
            ParserLimits(max_stanza_bytes=20),
            b"<a x='" + b"x" * 11 + b"'/>",
            b"<a x='" + b"x" * 12 + b"'/>",
        ),
        (
            ParserLimits(max_token_bytes=20),
            b"<a x='" + b"x" * 12 + b"'>" + b"y" * 100 + b"</a>",
            b"<a x='" + b"x" * 13 + b"'>" + b"y" * 100 + b"</a>",
        ),
        (
            ParserLimits(max_token_bytes=20),
            b"<a x='" + b"x" * 12 + b"'><b/></a>",
            b"<a x='" + b"x" * 13 + b"'><b/></a>",
        ),
        (
            ParserLimits(max_token_bytes=20),
            b"<a><b/></a" + b" " * 16 + b">",
            b"<a><b/></a" + b" " * 17 + b">",
        ),
    ],
)
def test_limits_are_exact(limits: ParserLimits, ok: bytes, too_much: bytes) -> None:
    for size in (len(ok) + len(HEADER), 1):
        events = feed_pieces(StreamParser(limits), chunks(HEADER + ok, size))
        assert [type(e) for e in events] == [StreamOpened, StanzaReceived]
        # The trailing space is an event after the last tag, which completes its check.
        with pytest.raises(XMLPolicyError) as caught:
            feed_pieces(StreamParser(limits), chunks(HEADER + too_much + b" ", size))
        assert caught.value.condition == "policy-violation"


def test_header_limit_is_exact() -> None:
    header = b"<stream xmlns='jabber:client'>"
    assert len(StreamParser(ParserLimits(max_header_bytes=len(header))).feed(header)) == 1
    with pytest.raises(XMLPolicyError) as caught:
        StreamParser(ParserLimits(max_header_bytes=len(header) - 1)).feed(header)
    assert caught.value.condition == "policy-violation"


def stream_of(stanzas: list[bytes]) -> bytes:
    return HEADER + b"\n".join(stanzas) + FOOTER


@settings(max_examples=150, deadline=None)
@given(
    st.lists(trees(ns=st.just("jabber:client")), min_size=1, max_size=4),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
)
def test_any_chunking_gives_the_same_events(stanzas: list[Element], cuts: list[int]) -> None:
    data = stream_of([serialize(tree, "jabber:client") for tree in stanzas])
    whole = describe(StreamParser().feed(data))
    assert whole[1:-1] == [("stanza", canonical(tree)) for tree in stanzas]
    assert describe(feed_pieces(StreamParser(), split(data, cuts))) == whole


def test_large_stream_in_one_feed() -> None:
    body = b"<message><body>" + b"x" * 1000 + b"</body></message>"
    events = StreamParser().feed(HEADER + body * 200 + FOOTER)
    assert len(events) == 202
    assert all(
        e.element[0].text == "x" * 1000 for e in events[1:-1] if isinstance(e, StanzaReceived)
    )


def test_long_text_in_many_pieces_is_joined() -> None:
    parser = StreamParser()
    parser.feed(HEADER + b"<message><body>")
    for _ in range(5000):
        assert parser.feed(b"ab\n&amp;") == []
    (event,) = parser.feed(b"</body></message>")
    assert isinstance(event, StanzaReceived)
    assert event.element[0].text == "ab\n&" * 5000

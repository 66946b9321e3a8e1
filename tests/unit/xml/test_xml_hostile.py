"""Hostile input: every kind RFC 6120 §11 forbids, or that would exhaust the server, is
refused with the exact stream-error condition, however the bytes are chunked."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from xml_trees import HEADER, chunks, describe, feed_pieces, split

from ironwall.xml import (
    ParserEvent,
    ParserLimits,
    StanzaReceived,
    StreamOpened,
    StreamParser,
    XMLPolicyError,
    parse_document,
)

SECRET = "hunter2"  # in every payload: no error text may repeat the input

BILLION_LAUGHS = (
    b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'hunter2'>"
    + b"".join(
        b"<!ENTITY lol%d '%s'>"
        % (n, b"".join(b"&lol%s;" % (b"" if n == 1 else b"%d" % (n - 1)) for _ in range(10)))
        for n in range(1, 10)
    )
    + b"]><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>&lol9;"
)
EXTERNAL_ENTITY = (
    b"<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>"
    b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><m>&xxe;hunter2</m>"
)
DEEP = b"<message>" + b"<x>" * 40 + b"hunter2" + b"</x>" * 40 + b"</message>"
ATTRIBUTES = b"<message " + b" ".join(b"a%d='hunter2'" % n for n in range(10_000)) + b"/>"
HUGE_TEXT = b"<message><body>" + b"hunter2 " * 40_000 + b"</body></message>"
HUGE_TAG = b"<message to='" + b"hunter2" * 3000 + b"'><body/></message>"

CASES: dict[str, tuple[bytes, str]] = {
    "billion laughs": (BILLION_LAUGHS, "restricted-xml"),
    "external entity": (EXTERNAL_ENTITY, "restricted-xml"),
    "doctype with external id": (
        b"<!DOCTYPE stream SYSTEM 'file:///etc/passwd'><stream/><!-- hunter2 -->",
        "restricted-xml",
    ),
    "doctype after declaration": (
        b"<?xml version='1.0'?>\n<!DOCTYPE x><x>hunter2</x>",
        "restricted-xml",
    ),
    "processing instruction before header": (
        b"<?xml version='1.0'?><?xml-stylesheet href='hunter2'?>" + HEADER,
        "restricted-xml",
    ),
    "processing instruction between stanzas": (HEADER + b"<?php hunter2 ?>", "restricted-xml"),
    "processing instruction in stanza": (
        HEADER + b"<message><?pi hunter2?></message>",
        "restricted-xml",
    ),
    "comment before header": (b"<!-- hunter2 -->" + HEADER, "restricted-xml"),
    "comment between stanzas": (HEADER + b"<presence/><!-- hunter2 -->", "restricted-xml"),
    "comment in stanza": (
        HEADER + b"<message><body>a<!--hunter2-->b</body></message>",
        "restricted-xml",
    ),
    "xml declaration not at start": (
        b" <?xml version='1.0'?>" + HEADER + b"hunter2",
        "not-well-formed",
    ),
    "iso-8859-1": (
        b"<?xml version='1.0' encoding='ISO-8859-1'?>" + HEADER[21:] + b"hunter2",
        "unsupported-encoding",
    ),
    "utf-16 declared": (
        b"<?xml version='1.0' encoding='UTF-16'?><s>hunter2",
        "unsupported-encoding",
    ),
    "invalid utf-8 byte": (
        HEADER + b"<message><body>hunter2\xff</body></message>",
        "not-well-formed",
    ),
    "overlong utf-8": (
        HEADER + b"<message><body>hunter2\xc0\xaf</body></message>",
        "not-well-formed",
    ),
    "utf-8 surrogate": (
        HEADER + b"<message><body>hunter2\xed\xa0\x80</body></message>",
        "not-well-formed",
    ),
    "truncated utf-8": (
        HEADER + b"<message><body>hunter2\xe2\x82</body></message>",
        "not-well-formed",
    ),
    "nul byte": (HEADER + b"<message><body>hunter2\x00</body></message>", "not-well-formed"),
    "reference to illegal character": (
        HEADER + b"<message>hunter2&#0;</message>",
        "not-well-formed",
    ),
    "undefined entity": (HEADER + b"<message>&hunter2;</message>", "not-well-formed"),
    "undefined prefix": (
        HEADER + b"<message><p:body>hunter2</p:body></message>",
        "not-well-formed",
    ),
    "duplicate attribute": (HEADER + b"<message to='hunter2' to='x'/>", "not-well-formed"),
    "mismatched tag": (HEADER + b"<message><body>hunter2</message>", "not-well-formed"),
    "unclosed tag": (HEADER + b"<message><body>hunter2</body></stream:stream>", "not-well-formed"),
    "garbage before header": (b"GET /hunter2 HTTP/1.1\r\n\r\n" + HEADER, "not-well-formed"),
    "header never finishes": (b"<stream:stream to='" + b"hunter2" * 1000, "policy-violation"),
    "whitespace instead of header": (b" " * 5000 + b"hunter2", "policy-violation"),
    "text between stanzas": (HEADER + b"<presence/>hunter2<presence/>", "bad-format"),
    "deep nesting": (HEADER + DEEP, "policy-violation"),
    "10,000 attributes": (HEADER + ATTRIBUTES, "policy-violation"),
    "oversize stanza": (HEADER + HUGE_TEXT, "policy-violation"),
    "oversize stanza never closed": (HEADER + HUGE_TEXT[:-17], "policy-violation"),
    "oversize start tag": (HEADER + HUGE_TAG, "policy-violation"),
    "unfinished oversize start tag": (HEADER + HUGE_TAG[:-20], "policy-violation"),
    "unfinished oversize comment": (HEADER + b"<!--" + b"hunter2" * 3000, "policy-violation"),
    "second root": (HEADER + b"</stream:stream><stream>hunter2", "not-well-formed"),
}


def refuse(data: bytes, chunk: int) -> XMLPolicyError:
    with pytest.raises(XMLPolicyError) as caught:
        feed_pieces(StreamParser(), chunks(data, chunk))
    return caught.value


@pytest.mark.parametrize(("data", "condition"), CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("chunk", [1 << 30, 1], ids=["one chunk", "1-byte chunks"])
def test_hostile_input_is_refused(data: bytes, condition: str, chunk: int) -> None:
    error = refuse(data, chunk)
    assert error.condition == condition
    assert SECRET not in str(error)
    assert SECRET not in error.text


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(sorted(CASES)),
    st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=20),
)
def test_hostile_input_is_refused_the_same_way_however_chunked(name: str, cuts: list[int]) -> None:
    data, condition = CASES[name]
    events: list[ParserEvent] = []
    with pytest.raises(XMLPolicyError) as caught:
        feed_pieces(StreamParser(), split(data, cuts), events)
    assert caught.value.condition == condition
    whole = refuse(data, len(data))
    assert describe(events + list(caught.value.events)) == describe(list(whole.events))


def test_oversize_stanza_fed_byte_by_byte_with_default_limits_is_cut_off_at_the_limit() -> None:
    parser = StreamParser()
    parser.feed(HEADER)
    at_limit = b"<message><body>" + b"x" * (ParserLimits().max_stanza_bytes - 15)
    assert feed_pieces(parser, chunks(at_limit, 1)) == []
    with pytest.raises(XMLPolicyError) as caught:
        parser.feed(b"x")
    assert caught.value.condition == "policy-violation"


def test_huge_unfinished_tag_in_small_chunks_stays_cheap() -> None:
    parser = StreamParser()
    parser.feed(HEADER + b"<message to='")
    start = time.perf_counter()
    with pytest.raises(XMLPolicyError) as caught:
        feed_pieces(parser, chunks(b"a" * ParserLimits().max_stanza_bytes, 1))
    assert caught.value.condition == "policy-violation"
    assert time.perf_counter() - start < 2.0


def test_error_keeps_the_events_before_it() -> None:
    parser = StreamParser()
    with pytest.raises(XMLPolicyError) as caught:
        parser.feed(HEADER + b"<presence/><!-- no -->")
    assert [type(e) for e in caught.value.events] == [StreamOpened, StanzaReceived]


def test_parser_refuses_everything_after_an_error() -> None:
    parser = StreamParser()
    with pytest.raises(XMLPolicyError):
        parser.feed(HEADER + b"junk")
    for data in (b" ", b"<presence/>", HEADER):
        with pytest.raises(XMLPolicyError) as caught:
            parser.feed(data)
        assert caught.value.condition == "bad-format"
    parser.reset()
    with pytest.raises(XMLPolicyError) as caught:
        parser.feed(HEADER)
    assert caught.value.condition == "bad-format"


def test_unknown_condition_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="condition"):
        XMLPolicyError("no-such-condition", "x")


DOCUMENT_CASES: dict[str, tuple[bytes, str]] = {
    "billion laughs": (BILLION_LAUGHS.replace(b"stream:stream", b"s") + b"</s>", "restricted-xml"),
    "external entity": (
        b"<!DOCTYPE s [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]><s>&xxe;</s>",
        "restricted-xml",
    ),
    "parameter entity": (
        b"<!DOCTYPE s [<!ENTITY % p SYSTEM 'http://127.0.0.1:9/hunter2'> %p;]><s/>",
        "restricted-xml",
    ),
    "processing instruction": (b"<?xml version='1.0'?><?pi hunter2?><s/>", "restricted-xml"),
    "comment": (b"<s><!-- hunter2 --></s>", "restricted-xml"),
    "iso-8859-1": (
        b"<?xml version='1.0' encoding='ISO-8859-1'?><s>hunter2</s>",
        "unsupported-encoding",
    ),
    "invalid utf-8": (b"<s>hunter2\xff</s>", "not-well-formed"),
    "unclosed": (b"<s><t>hunter2</t>", "not-well-formed"),
    "empty": (b"", "not-well-formed"),
    "two roots": (b"<s/><t>hunter2</t>", "not-well-formed"),
    "text after root": (b"<s/>hunter2", "not-well-formed"),
    "too deep": (b"<s>" * 65 + b"hunter2" + b"</s>" * 65, "policy-violation"),
    "too large": (b"<s>" + b"hunter2" * 150_000 + b"</s>", "policy-violation"),
    "too many attributes": (
        b"<s " + b" ".join(b"a%d='hunter2'" % n for n in range(65)) + b"/>",
        "policy-violation",
    ),
}


@pytest.mark.parametrize(("data", "condition"), DOCUMENT_CASES.values(), ids=DOCUMENT_CASES.keys())
def test_hostile_document_is_refused(data: bytes, condition: str) -> None:
    with pytest.raises(XMLPolicyError) as caught:
        parse_document(data)
    assert caught.value.condition == condition
    assert SECRET not in str(caught.value)


def test_document_limits_are_exact() -> None:
    deepest = b"<s>" * 64 + b"</s>" * 64
    assert parse_document(deepest).tag == "s"
    assert parse_document(b"<s/>", max_bytes=4).tag == "s"
    with pytest.raises(XMLPolicyError) as caught:
        parse_document(b"<s/>", max_bytes=3)
    assert caught.value.condition == "policy-violation"
    with pytest.raises(XMLPolicyError) as caught:
        parse_document(b"<s><t/></s>", max_depth=1)
    assert caught.value.condition == "policy-violation"


def test_document_is_parsed_with_namespaces() -> None:
    root = parse_document(
        b"<?xml version='1.0' encoding='utf-8'?>\n"
        b"<signcrypt xmlns='urn:xmpp:openpgp:0'><to jid='juliet@example.org'/>"
        b"<time stamp='2024-01-01T00:00:00Z'/><rpad>xyz</rpad>"
        b"<payload><body xmlns='jabber:client'>hi</body></payload></signcrypt>\n"
    )
    assert root.tag == "{urn:xmpp:openpgp:0}signcrypt"
    assert [child.tag for child in root] == [
        "{urn:xmpp:openpgp:0}to",
        "{urn:xmpp:openpgp:0}time",
        "{urn:xmpp:openpgp:0}rpad",
        "{urn:xmpp:openpgp:0}payload",
    ]
    assert root[0].attrib == {"jid": "juliet@example.org"}
    body = root.find("{urn:xmpp:openpgp:0}payload/{jabber:client}body")
    assert body is not None
    assert body.text == "hi"

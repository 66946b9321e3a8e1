"""serialize() and element(): namespaces, prefixes, escaping, refusals, round trips."""

from __future__ import annotations

from xml.etree.ElementTree import Comment, Element, SubElement

import pytest
from hypothesis import given, settings
from xml_trees import HEADER, XML_NS, canonical, trees

from ironwall.xml import StanzaReceived, StreamParser, element, parse_document, serialize

STREAMS = "http://etherx.jabber.org/streams"


def test_stanza_in_the_stream_namespace_has_no_xmlns() -> None:
    message = element(
        "{jabber:client}message",
        {"to": "juliet@example.org", "type": "chat", f"{{{XML_NS}}}lang": "en"},
        element("{jabber:client}body", text="Hi"),
        element("{urn:xmpp:hints}store"),
    )
    assert serialize(message, "jabber:client") == (
        b"<message to='juliet@example.org' type='chat' xml:lang='en'><body>Hi</body>"
        b"<store xmlns='urn:xmpp:hints'/></message>"
    )


def test_namespace_is_declared_where_it_changes() -> None:
    message = element(
        "{jabber:client}message",
        None,
        element(
            "{urn:xmpp:openpgp:0}openpgp",
            None,
            element("{urn:xmpp:openpgp:0}inner", text="x"),
            element("{jabber:client}body"),
        ),
    )
    assert serialize(message) == (
        b"<message xmlns='jabber:client'><openpgp xmlns='urn:xmpp:openpgp:0'><inner>x</inner>"
        b"<body xmlns='jabber:client'/></openpgp></message>"
    )


def test_element_without_namespace_undeclares_the_default() -> None:
    assert serialize(element("{jabber:client}iq", None, element("plain")), "jabber:client") == (
        b"<iq><plain xmlns=''/></iq>"
    )
    assert serialize(element("plain")) == b"<plain/>"


def test_namespaced_attributes_get_declared_prefixes() -> None:
    node = element(
        "{urn:x}x", {"{urn:a}one": "1", "{urn:b}two": "2", "{urn:a}three": "3", "plain": "4"}
    )
    assert serialize(node, "urn:x") == (
        b"<x xmlns:ns0='urn:a' ns0:one='1' xmlns:ns1='urn:b' ns1:two='2' ns0:three='3' plain='4'/>"
    )


def test_known_prefixes_are_used_without_declaration() -> None:
    features = element(
        f"{{{STREAMS}}}features",
        None,
        element(
            "{urn:ietf:params:xml:ns:xmpp-tls}starttls",
            None,
            element("{urn:ietf:params:xml:ns:xmpp-tls}required"),
        ),
        element("{jabber:client}x", {f"{{{STREAMS}}}a": "1", "{urn:a}b": "2"}),
    )
    assert serialize(
        features, "jabber:client", prefixes={STREAMS: "stream", "urn:other": "ns0"}
    ) == (
        b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
        b"<x stream:a='1' xmlns:ns1='urn:a' ns1:b='2'/></stream:features>"
    )


@pytest.mark.parametrize("prefix", ["xml", "xmlns", "a:b", "1a", ""])
def test_unusable_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        serialize(element("{urn:a}a"), prefixes={"urn:a": prefix})


def test_text_and_attributes_are_escaped() -> None:
    node = element("a", {"q": 'it\'s "quoted" & <tagged>\t\n\r'}, text="1 < 2 & 3 > 2 ]]> \r\n")
    node.append(element("b"))
    node[0].tail = "&tail<"
    assert serialize(node) == (
        b"<a q='it&apos;s &quot;quoted&quot; &amp; &lt;tagged&gt;&#9;&#10;&#13;'>"
        b"1 &lt; 2 &amp; 3 &gt; 2 ]]&gt; &#13;\n<b/>&amp;tail&lt;</a>"
    )
    assert parse_document(serialize(node)).attrib == node.attrib
    assert parse_document(serialize(node)).text == node.text


def test_non_ascii_is_utf8() -> None:
    assert (
        serialize(element("bödy", {"ü": "😀"}, text="日本")) == "<bödy ü='😀'>日本</bödy>".encode()
    )


def test_top_element_tail_is_not_part_of_it() -> None:
    node = element("a", text="x")
    node.tail = "outside"
    assert serialize(node) == b"<a>x</a>"


@pytest.mark.parametrize(
    "bad", ["\x00", "\x01", "\x0b", "\x1f", "\ufffe", "\uffff", "\ud800", "ok\udfffok"]
)
@pytest.mark.parametrize("where", ["text", "tail", "attribute", "namespace"])
def test_characters_xml_forbids_are_refused(bad: str, where: str) -> None:
    node = element("a")
    if where == "text":
        node.text = bad
    elif where == "tail":
        SubElement(node, "b").tail = bad
    elif where == "attribute":
        node.set("k", bad)
    else:
        node = element(f"{{urn:{bad}}}a")
    with pytest.raises(ValueError, match=r"XML 1\.0"):
        serialize(node)


@pytest.mark.parametrize(
    "tag", ["", "a b", "1a", "p:q", "-a", "a>", "{urn:x", "{urn:x}", "{urn:x}p:q", "a\x00"]
)
def test_invalid_names_are_refused(tag: str) -> None:
    with pytest.raises(ValueError, match="name"):
        serialize(element(tag))
    with pytest.raises(ValueError, match="name"):
        serialize(element("a", {tag: "v"}))


@pytest.mark.parametrize("key", ["xmlns", "{http://www.w3.org/2000/xmlns/}p"])
def test_namespace_declarations_as_attributes_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="declarations"):
        serialize(element("a", {key: "urn:x"}))


@pytest.mark.parametrize("ns", [XML_NS, "http://www.w3.org/2000/xmlns/"])
def test_elements_in_reserved_namespaces_are_refused(ns: str) -> None:
    with pytest.raises(ValueError, match="namespaces"):
        serialize(element(f"{{{ns}}}a"))


def test_comments_are_refused() -> None:
    node = element("a")
    node.append(Comment("no"))
    with pytest.raises(ValueError, match="comments"):
        serialize(node)


def test_element_builder() -> None:
    child = element("b")
    built = element("{urn:x}a", {"k": "v"}, child, text="t")
    assert (built.tag, built.attrib, built.text, list(built)) == (
        "{urn:x}a",
        {"k": "v"},
        "t",
        [child],
    )
    bare = element("a")
    assert (bare.attrib, bare.text, len(bare)) == ({}, None, 0)


def test_builder_copies_attributes() -> None:
    attrs = {"k": "v"}
    built = element("a", attrs)
    attrs["k"] = "changed"
    assert built.get("k") == "v"


@settings(max_examples=200, deadline=None)
@given(trees())
def test_document_round_trip(tree: Element) -> None:
    data = serialize(tree)
    parsed = parse_document(data)
    assert canonical(parsed) == canonical(tree)
    assert serialize(parsed) == data


@settings(max_examples=100, deadline=None)
@given(trees())
def test_stanza_round_trip_through_a_stream(tree: Element) -> None:
    data = serialize(tree, "jabber:client")
    _, received = StreamParser().feed(HEADER + data)
    assert isinstance(received, StanzaReceived)
    assert canonical(received.element) == canonical(tree)
    assert serialize(received.element, "jabber:client") == data

"""JIDs (RFC 7622): splitting, PRECIS preparation, comparison, limits, clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironwall.proto.jid import (
    JID,
    InvalidJID,
    _opaque,
    _prepare_localpart,
    _prepare_resourcepart,
    _username,
)


@pytest.mark.parametrize(
    ("text", "local", "domain", "resource"),
    [
        ("alice@localhost/phone", "alice", "localhost", "phone"),
        ("alice@localhost", "alice", "localhost", None),
        ("localhost", None, "localhost", None),
        ("localhost/admin", None, "localhost", "admin"),
        # The resource is everything after the first '/', '@' and '/' included.
        ("alice@localhost/a/b@c", "alice", "localhost", "a/b@c"),
        ("example.org/a@b", None, "example.org", "a@b"),
        ("a@[::1]/x", "a", "[::1]", "x"),
        ("a@127.0.0.1", "a", "127.0.0.1", None),
    ],
)
def test_parts(text: str, local: str | None, domain: str, resource: str | None) -> None:
    jid = JID.parse(text)
    assert (jid.local, jid.domain, jid.resource) == (local, domain, resource)
    assert str(jid) == text
    assert JID.build(local, domain, resource) == jid


@pytest.mark.parametrize(
    ("text", "prepared"),
    [
        ("Alice@Example.COM/Phone", "alice@example.com/Phone"),
        ("ALICE@LOCALHOST", "alice@localhost"),
        # UsernameCaseMapped maps full-width letters to their ASCII forms.
        ("ＡＬＩＣＥ@localhost", "alice@localhost"),
        ("Åsa@Bücher.example", "åsa@bücher.example"),
        # NFC: ANGSTROM SIGN becomes LATIN CAPITAL LETTER A WITH RING ABOVE in the resource.
        ("a@x/\u212bngstr\u00f6m", "a@x/\u00c5ngstr\u00f6m"),
        ("a@x/ spaced  out ", "a@x/ spaced  out "),
        # One final dot is the DNS root and is dropped.
        ("alice@localhost.", "alice@localhost"),
        ("a@[0:0:0:0:0:0:0:1]", "a@[::1]"),
        ("a@[FE80::1]", "a@[fe80::1]"),
    ],
)
def test_preparation(text: str, prepared: str) -> None:
    assert str(JID.parse(text)) == prepared


def test_same_address_compares_and_hashes_equal() -> None:
    assert JID.parse("Alice@LocalHost/phone") == JID.parse("alice@localhost/phone")
    assert hash(JID.parse("Alice@LocalHost")) == hash(JID.parse("alice@localhost"))
    assert JID.parse("alice@localhost/Phone") != JID.parse("alice@localhost/phone")
    assert JID.parse("alice@localhost") != JID.parse("alice@localhost/phone")


def test_bare_and_full() -> None:
    full = JID.parse("alice@localhost/phone")
    assert full.bare == JID.parse("alice@localhost")
    assert not full.is_bare
    assert full.bare.is_bare
    bare = full.bare
    assert bare.bare is bare
    assert full.bare.with_resource("Tablet") == JID.parse("alice@localhost/Tablet")
    with pytest.raises(InvalidJID, match="resourcepart is empty"):
        full.bare.with_resource("")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the domainpart is empty"),
        ("@localhost", "the localpart is empty"),
        ("alice@", "the domainpart is empty"),
        ("alice@localhost/", "the resourcepart is empty"),
        ("a@b@c", "the localpart contains a forbidden character"),
        ("a:b@x", "the localpart contains a forbidden character"),
        ("a'b@x", "the localpart contains a forbidden character"),
        ("a<b@x", "the localpart contains a forbidden character"),
        ("a b@localhost", "the localpart contains characters a JID may not use"),
        ("a\u0000@x", "the localpart contains characters a JID may not use"),
        # U+01C4 has a compatibility decomposition, which IdentifierClass refuses.
        ("\u01c4@localhost", "the localpart contains characters a JID may not use"),
        ("a@x/\u0007", "the resourcepart contains characters a JID may not use"),
        ("a@exa mple", "the domainpart contains a forbidden character"),
        ("a@x\\y", "the domainpart contains a forbidden character"),
        ("a@ex..com", "the domainpart has an empty label"),
        ("a@localhost..", "the domainpart has an empty label"),
        ("a@.", "the domainpart has an empty label"),
        ("a@[not-an-address]", "the domainpart is not a valid IPv6 address"),
    ],
)
def test_invalid_jid_says_why(text: str, message: str) -> None:
    with pytest.raises(InvalidJID) as raised:
        JID.parse(text)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("part", "build"),
    [
        ("localpart", lambda n: JID.build("a" * n, "x")),
        ("domainpart", lambda n: JID.build(None, "d" * n)),
        ("resourcepart", lambda n: JID.build(None, "x", "r" * n)),
    ],
)
def test_each_part_holds_at_most_1023_bytes(part: str, build: object) -> None:
    assert callable(build)
    build(1023)
    with pytest.raises(InvalidJID, match=f"the {part} is longer than 1023 bytes"):
        build(1024)


def test_length_is_counted_in_utf8_bytes() -> None:
    assert JID.build(None, "x", "é" * 511 + "a").resource == "é" * 511 + "a"
    with pytest.raises(InvalidJID, match="resourcepart is longer than 1023 bytes"):
        JID.build(None, "x", "é" * 512)


_jid_texts = st.one_of(
    st.text(max_size=30),
    st.lists(
        st.sampled_from(["a", "Z", "@", "/", ".", "é", "ß", "Ａ", " ", "[", "]", ":", "\u212b"]),
        max_size=20,
    ).map("".join),
)


@given(_jid_texts)
def test_a_jids_text_parses_back_to_the_same_jid(text: str) -> None:
    try:
        jid = JID.parse(text)
    except InvalidJID:
        return
    assert JID.parse(str(jid)) == jid
    assert str(JID.parse(str(jid))) == str(jid)


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1))
def test_ascii_shortcuts_agree_with_precis(text: str) -> None:
    """Plain ASCII skips PRECIS; what PRECIS would make of it must be the same."""
    assert _prepare_resourcepart(text) == _opaque.enforce(text)
    try:
        expected: str | None = _username.enforce(text)
    except UnicodeError:
        expected = None
    try:
        prepared: str | None = _prepare_localpart(text)
    except InvalidJID:
        prepared = None
    if expected is not None and not any(c in expected for c in "\"&'/:<>@"):
        assert prepared == expected
    else:
        assert prepared is None


def test_a_jid_cannot_be_changed() -> None:
    jid = JID.parse("alice@example.org/phone")
    with pytest.raises(AttributeError):
        jid.local = "mallory"
    assert jid.bare is jid.bare
    assert jid.bare == JID.parse("alice@example.org")
    assert str(jid.with_resource("laptop")) == "alice@example.org/laptop"

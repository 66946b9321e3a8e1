"""The `<signcrypt>` XML and the top-level packet framing, without any crypto."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironwall.e2e._packets import (
    TAG_LITERAL,
    TAG_PKESK,
    TAG_SEIP,
    Framing,
    FramingError,
    read_packets,
)
from ironwall.e2e.signcrypt import (
    MalformedSigncrypt,
    Signcrypt,
    build_signcrypt,
    parse_signcrypt,
    parse_stamp,
)

WHEN = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def test_exact_wire_form() -> None:
    content = Signcrypt(("juliet@capulet.lit", "nurse@capulet.lit"), WHEN, "Hi & <bye>", "o-1")
    assert build_signcrypt(content, rpad="Xy") == (
        b"<signcrypt xmlns='urn:xmpp:openpgp:0'>"
        b"<to jid='juliet@capulet.lit'/><to jid='nurse@capulet.lit'/>"
        b"<time stamp='2025-01-02T03:04:05Z'/><rpad>Xy</rpad>"
        b"<payload><body xmlns='jabber:client'>Hi &amp; &lt;bye&gt;</body>"
        b"<origin-id xmlns='urn:xmpp:sid:0' id='o-1'/></payload></signcrypt>"
    )


def test_go_sendxmpp_form_is_read() -> None:
    # What go-sendxmpp 0.5.6 writes: double quotes, no origin-id.
    data = (
        b'<signcrypt xmlns="urn:xmpp:openpgp:0"><to jid="alice@example.org"/>'
        b'<time stamp="2025-01-02T03:04:05Z"/><rpad>abc</rpad><payload>'
        b'<body xmlns="jabber:client">hi</body></payload></signcrypt>'
    )
    assert parse_signcrypt(data) == Signcrypt(("alice@example.org",), WHEN, "hi", None)


def test_round_trip_keeps_everything_but_the_padding() -> None:
    content = Signcrypt(("a@b",), WHEN, "line1\r\nline2\ttab", None)
    assert parse_signcrypt(build_signcrypt(content, rpad="")) == content


@pytest.mark.parametrize("body", ["\x00", "\x1b[31m", "\ud800", "\ufffe"])
def test_text_xml_cannot_carry_is_refused_when_sealing(body: str) -> None:
    with pytest.raises(ValueError, match=r"XML 1\.0"):
        build_signcrypt(Signcrypt(("a@b",), WHEN, body, None), rpad="")


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_signcrypt(Signcrypt(("a@b",), WHEN.replace(tzinfo=None), "x", None), rpad="")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-02T03:04:05Z", WHEN),
        ("2025-01-02T03:04:05.123Z", WHEN.replace(microsecond=123000)),
        ("2025-01-02T03:04:05.1234567891Z", WHEN.replace(microsecond=123456)),
        ("2025-01-02T05:04:05+02:00", WHEN),
        ("2025-01-01T22:04:05-05:00", WHEN),
    ],
)
def test_xep_0082_stamps(text: str, expected: dt.datetime) -> None:
    assert parse_stamp(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2025-01-02",
        "2025-01-02T03:04:05",
        "2025-13-02T03:04:05Z",
        "2025-01-02T03:04:05+0200",
        "2025-01-02T03:04:05+24:00",
        "2025-01-02 03:04:05Z",
        "２025-01-02T03:04:05Z",
    ],
)
def test_bad_stamps(text: str) -> None:
    with pytest.raises(MalformedSigncrypt):
        parse_stamp(text)


def _doc(inner: str, root: str = "signcrypt") -> bytes:
    return f"<{root} xmlns='urn:xmpp:openpgp:0'>{inner}</{root}>".encode()


TO = "<to jid='a@b'/>"
TIME = "<time stamp='2025-01-02T03:04:05Z'/>"
BODY = "<body xmlns='jabber:client'>x</body>"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<signcrypt",
        _doc(TO + TIME + f"<payload>{BODY}</payload>", root="crypt"),
        _doc(TIME + f"<payload>{BODY}</payload>"),
        _doc("<to/>" + TIME + f"<payload>{BODY}</payload>"),
        _doc(TO + f"<payload>{BODY}</payload>"),
        _doc(TO + TIME + TIME + f"<payload>{BODY}</payload>"),
        _doc(TO + "<time/>" + f"<payload>{BODY}</payload>"),
        _doc(TO + TIME),
        _doc(TO + TIME + "<payload/>"),
        _doc(TO + TIME + f"<payload>{BODY}{BODY}</payload>"),
        _doc(TO + TIME + "<payload><body xmlns='jabber:client'><b>x</b></body></payload>"),
        _doc(TO + TIME + "<payload><body>wrong namespace</body></payload>"),
        _doc(TO + TIME + f"<payload>{BODY}<origin-id xmlns='urn:xmpp:sid:0'/></payload>"),
        _doc(
            TO
            + TIME
            + f"<payload>{BODY}<origin-id xmlns='urn:xmpp:sid:0' id='{'x' * 257}'/></payload>"
        ),
        _doc(
            TO
            + TIME
            + f"<payload>{BODY}"
            + "<origin-id xmlns='urn:xmpp:sid:0' id='1'/>" * 2
            + "</payload>"
        ),
        b"<?xml version='1.0'?><!DOCTYPE s [<!ENTITY e 'x'>]>" + _doc(TO),
        _doc(TO + TIME + "<payload>" + "<x>" * 20 + "</x>" * 20 + BODY + "</payload>"),
    ],
)
def test_malformed_signcrypt(data: bytes) -> None:
    with pytest.raises(MalformedSigncrypt):
        parse_signcrypt(data)


def test_unknown_children_are_ignored() -> None:
    data = _doc(TO + TIME + "<future xmlns='x'/>" + f"<payload>{BODY}<thread>t</thread></payload>")
    assert parse_signcrypt(data).body == "x"


# -- framing ------------------------------------------------------------------------------


def test_framing_of_new_and_legacy_headers() -> None:
    v3 = bytes([3]) + bytes.fromhex("0102030405060708") + b"\x12" + b"k" * 10
    v6 = bytes([6, 21, 4]) + bytes(range(20)) + b"\x12" + b"k" * 10
    data = (
        bytes([0xC1, len(v3)])
        + v3
        + bytes([0x84, len(v6)])
        + v6  # legacy header, tag 1, one-octet length
        + bytes([0xD2, 0xE1])
        + b"ab"
        + bytes([0x02])
        + b"cd"  # partial lengths
    )
    assert read_packets(data) == [
        Framing(TAG_PKESK, "0102030405060708"),
        Framing(TAG_PKESK, bytes(range(20)).hex()),
        Framing(TAG_SEIP),
    ]


def test_framing_of_long_lengths() -> None:
    body = b"x" * 1000
    two_octets = bytes([0xCB, 192 + (1000 - 192) // 256, (1000 - 192) % 256]) + body
    five_octets = bytes([0xCB, 0xFF]) + (1000).to_bytes(4, "big") + body
    legacy_two = bytes([0xAD]) + (1000).to_bytes(2, "big") + body
    legacy_open = bytes([0xAF]) + body  # indeterminate length: to the end
    for data in (two_octets, five_octets, legacy_two, legacy_open):
        assert read_packets(data) == [Framing(TAG_LITERAL)]


def test_wildcard_and_foreign_recipients() -> None:
    wildcard_v3 = bytes([3]) + bytes(8) + b"\x12"
    wildcard_v6 = bytes([6, 0, 0x12])
    v6_key = bytes([6, 33, 6]) + bytes(32) + b"\x12"
    packets = read_packets(
        b"".join(bytes([0xC1, len(b)]) + b for b in (wildcard_v3, wildcard_v6, v6_key))
    )
    assert packets == [
        Framing(TAG_PKESK, "0000000000000000", wildcard=True),
        Framing(TAG_PKESK, None, wildcard=True),
        Framing(TAG_PKESK, None),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"\x41\x01x",
        b"\xc1",
        b"\xc1\x05abc",
        b"\xc1\xff\x00\x00",
        b"\xc1\xe1ab",
        b"\xc1\x01\x07",
        b"\xc1\x03\x06\x15\x04",
    ],
)
def test_bad_framing(data: bytes) -> None:
    with pytest.raises(FramingError):
        read_packets(data)


@given(st.binary(max_size=300))
def test_property_framing_never_fails_otherwise(data: bytes) -> None:
    try:
        packets = read_packets(data)
    except FramingError:
        return
    assert packets

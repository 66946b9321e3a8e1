"""ServerStream in memory: stream errors, closing, misuse of the API, and the same
session however its bytes are chunked."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stream_wire import (
    ALICE,
    CB,
    HEADER,
    PASSWORD,
    PHONE,
    STARTTLS,
    Wire,
    alice_record,
    auth,
    authenticated,
    bind,
    established,
    opened,
    secured,
    without_header,
)

from ironwall.proto.events import (
    Authenticated,
    BindRequested,
    CredentialsNeeded,
    StanzaReceived,
    StreamClosed,
    StreamEvent,
    TLSRequested,
)
from ironwall.proto.stream import LocalProtocolError, ServerStream, State, StreamOptions
from ironwall.xml import serialize
from support.raw import StreamError

# ----------------------------------------------------------------- stream errors


_NS = b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
_BAD_HEADERS = {
    "wrong stream namespace": (
        b"<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' to='localhost'"
        b" version='1.0'>",
        "invalid-namespace",
        True,
    ),
    "wrong root name": (
        b"<stream:flow " + _NS + b" to='localhost' version='1.0'>",
        "invalid-namespace",
        True,
    ),
    "server-to-server default namespace": (
        b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"
        b" to='localhost' version='1.0'>",
        "invalid-namespace",
        True,
    ),
    "no default namespace": (
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='localhost'"
        b" version='1.0'>",
        "invalid-namespace",
        True,
    ),
    "no to": (b"<stream:stream " + _NS + b" version='1.0'>", "host-unknown", False),
    "unknown to": (
        b"<stream:stream " + _NS + b" to='example.org' version='1.0'>",
        "host-unknown",
        False,
    ),
    "invalid to": (b"<stream:stream " + _NS + b" to='a b' version='1.0'>", "host-unknown", False),
    "version 0.9": (
        b"<stream:stream " + _NS + b" to='localhost' version='0.9'>",
        "unsupported-version",
        True,
    ),
    "no version": (b"<stream:stream " + _NS + b" to='localhost'>", "unsupported-version", True),
    "garbage first": (b"garbage" + HEADER, "not-well-formed", False),
    "doctype": (b"<!DOCTYPE stream>" + HEADER, "restricted-xml", False),
    "processing instruction": (b"<?php x?>" + HEADER, "restricted-xml", False),
    "not utf-8": (
        b"<?xml version='1.0' encoding='ISO-8859-1'?>" + HEADER[21:],
        "unsupported-encoding",
        False,
    ),
}


@pytest.mark.parametrize(("header", "condition", "served"), _BAD_HEADERS.values(), ids=_BAD_HEADERS)
def test_bad_header_gets_the_servers_header_then_a_stream_error(
    header: bytes, condition: str, served: bool
) -> None:
    wire = Wire()
    assert wire.send(header) == [StreamClosed(condition, by_peer=False)]
    without_header(wire.out)
    assert wire.view.header is not None
    assert wire.view.header.get("from") == ("localhost" if served else None)
    error = wire.closed_with()
    assert error is not None
    assert error.condition == condition


def test_garbage_after_the_tls_restart_gets_a_fresh_header_first() -> None:
    wire = opened()
    wire.send(STARTTLS)
    wire.restart()
    wire.took(wire.stream.tls_established(CB))
    assert wire.send(b"\x16\x03\x01\x02\x00") == [StreamClosed("not-well-formed", by_peer=False)]
    without_header(wire.out)
    assert wire.closed_with() is not None


@pytest.mark.parametrize(
    "element",
    [auth("SCRAM-SHA-256", "n,,n=alice,r=abc"), auth("PLAIN", "\0alice\0pw"), b"<message/>"],
    ids=["scram", "plain", "stanza"],
)
def test_anything_but_starttls_first_is_a_policy_violation(element: bytes) -> None:
    wire = opened()
    assert wire.send(element) == [StreamClosed("policy-violation", by_peer=False)]
    assert wire.closed_with() == StreamError(
        "policy-violation", "STARTTLS is required on this server"
    )


@pytest.mark.parametrize(
    "element",
    [
        b"<message to='bob@localhost'><body>hi</body></message>",
        b"<presence/>",
        b"<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>",
    ],
)
def test_stanza_before_authentication_is_not_authorized(element: bytes) -> None:
    wire = secured()
    assert wire.send(element) == [StreamClosed("not-authorized", by_peer=False)]
    error = wire.closed_with()
    assert error is not None
    assert error.condition == "not-authorized"


def test_bytes_after_starttls_are_refused_not_carried_into_tls() -> None:
    wire = opened()
    events = wire.send(
        STARTTLS + b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>"
    )
    assert events == [StreamClosed("policy-violation", by_peer=False)]
    assert b"<proceed" not in wire.out
    assert wire.closed_with() == StreamError(
        "policy-violation", "data sent between <starttls/> and the TLS handshake"
    )


def test_bytes_before_the_tls_handshake_are_refused() -> None:
    wire = opened()
    wire.send(STARTTLS)
    assert wire.send(b"<presence/>") == [StreamClosed("policy-violation", by_peer=False)]


def test_violation_after_a_question_ends_the_stream_once_it_is_answered() -> None:
    wire = secured()
    events = wire.send(auth("PLAIN", "\0alice\0" + PASSWORD) + b"<!-- x -->")
    assert events == [CredentialsNeeded("alice", "PLAIN")]
    assert wire.stream.state is State.SASL_LOOKUP
    assert wire.stream.supply_credentials(alice_record()) == [
        Authenticated(ALICE),
        StreamClosed("restricted-xml", by_peer=False),
    ]
    success = b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
    out = wire.stream.data_to_send()
    assert out.startswith(success)
    wire.restart()
    wire.view.feed(out.removeprefix(success))
    assert wire.closed_with() == StreamError("restricted-xml", "comments are not allowed")


def test_violation_after_a_bind_request_ends_the_stream_once_it_is_bound() -> None:
    wire = authenticated()
    assert wire.send(bind("phone") + b"<?pi x?>") == [BindRequested("phone")]
    assert wire.took(wire.stream.bind_resource(PHONE)) == [
        StreamClosed("restricted-xml", by_peer=False)
    ]
    assert wire.closed_with() == StreamError(
        "restricted-xml", "processing instructions are not allowed"
    )


# ---------------------------------------------------------------------- closing


def test_peer_closing_the_stream_is_answered_in_kind() -> None:
    wire = established()
    assert wire.send(b"</stream:stream>") == [StreamClosed(None, by_peer=True)]
    assert wire.out == b"</stream:stream>"
    assert wire.stream.state is State.CLOSED
    assert wire.send(b"<presence/>") == []
    assert wire.out == b""


def test_server_closes_with_and_without_an_error() -> None:
    wire = established()
    assert wire.took(wire.stream.close("system-shutdown", "bye")) == [
        StreamClosed("system-shutdown", by_peer=False)
    ]
    assert wire.closed_with() == StreamError("system-shutdown", "bye")
    assert wire.took(wire.stream.close()) == []
    quiet = established()
    assert quiet.took(quiet.stream.close()) == [StreamClosed(None, by_peer=False)]
    assert quiet.out == b"</stream:stream>"


_CALLS: dict[str, Callable[[ServerStream], object]] = {
    "tls_established": lambda s: s.tls_established(CB),
    "supply_credentials": lambda s: s.supply_credentials(alice_record()),
    "bind_resource": lambda s: s.bind_resource(PHONE),
    "refuse_bind": lambda s: s.refuse_bind("conflict"),
}
_STAGES: dict[str, Callable[[], Wire]] = {
    "before the header": Wire,
    "tls offered": opened,
    "auth offered": secured,
    "bind offered": authenticated,
    "established": established,
}


@pytest.mark.parametrize("stage", _STAGES)
@pytest.mark.parametrize("call", _CALLS)
def test_api_calls_out_of_turn_are_local_protocol_errors(stage: str, call: str) -> None:
    wire = _STAGES[stage]()
    for closed in (False, True):
        if closed:
            wire.took(wire.stream.close())
        state = wire.stream.state
        with pytest.raises(LocalProtocolError):
            _CALLS[call](wire.stream)
        assert wire.stream.state is state
        assert wire.stream.data_to_send() == b""


# ------------------------------------------------------------ chunking invariance

_SESSION = [
    HEADER + STARTTLS,
    HEADER + auth("PLAIN", "\0alice\0" + PASSWORD),
    HEADER + bind("phone"),
    "<presence/><message to='bob@localhost'><body>café ☕ 𝄞</body></message>".encode()
    + b"<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
    + b"<iq type='get' id='bad'/>\n  </stream:stream>",
]


def _run_session(split: Callable[[bytes], list[bytes]]) -> tuple[list[object], bytes]:
    """Play the session, answering every question at once; normalised events and output."""
    stream = ServerStream(StreamOptions(domains=["localhost"]))
    events: list[object] = []
    out = bytearray()

    def take(new: list[StreamEvent]) -> None:
        for event in new:
            if isinstance(event, StanzaReceived):
                events.append(("stanza", serialize(event.stanza, "jabber:client")))
                continue
            events.append(event)
            if isinstance(event, TLSRequested):
                take(stream.tls_established(CB))
            elif isinstance(event, CredentialsNeeded):
                take(stream.supply_credentials(alice_record()))
            elif isinstance(event, BindRequested):
                take(stream.bind_resource(PHONE))

    for phase in _SESSION:
        for chunk in split(phase):
            take(stream.receive_data(chunk))
            out += stream.data_to_send()
    return events, re.sub(rb"id='[\w-]{16}'", b"id='ID'", bytes(out))


def test_session_plays_to_its_end() -> None:
    events, out = _run_session(lambda phase: [phase])
    assert events[-4:-1] == [
        ("stanza", b"<presence from='alice@localhost/phone'/>"),
        (
            "stanza",
            "<message to='bob@localhost' from='alice@localhost/phone'>"
            "<body>café ☕ 𝄞</body></message>".encode(),
        ),
        (
            "stanza",
            b"<iq type='get' id='p1' to='localhost' from='alice@localhost/phone'>"
            b"<ping xmlns='urn:xmpp:ping'/></iq>",
        ),
    ]
    assert events[-1] == StreamClosed(None, by_peer=True)
    assert out.endswith(b"exactly one payload</text></error></iq></stream:stream>")


def test_one_byte_at_a_time_gives_the_same_session() -> None:
    whole = _run_session(lambda phase: [phase])
    assert _run_session(lambda phase: [phase[i : i + 1] for i in range(len(phase))]) == whole


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_chunking_gives_the_same_session(data: st.DataObject) -> None:
    def split(phase: bytes) -> list[bytes]:
        cuts = data.draw(st.lists(st.integers(1, len(phase) - 1), unique=True, max_size=12))
        bounds = [0, *sorted(cuts), len(phase)]
        return [phase[a:b] for a, b in itertools.pairwise(bounds)]

    assert _run_session(split) == _run_session(lambda phase: [phase])

"""ServerStream in memory, in the style of h11's tests: exact bytes in, exact events and the
important bytes out, from the first byte to a bound session. A real scramp client plays
the client's side of SASL."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import scramp
from stream_wire import (
    ALICE,
    CB,
    CB_ADVERT,
    FEATURES_BIND,
    FEATURES_TLS,
    HEADER,
    MECHANISMS,
    NOT_AUTHORIZED,
    PASSWORD,
    PHONE,
    SASL,
    STARTTLS,
    Wire,
    alice_record,
    auth,
    authenticated,
    bind,
    established,
    opened,
    response,
    sasl_data,
    secured,
    without_header,
)

from ironwall.proto.events import (
    Authenticated,
    AuthFailed,
    BindRequested,
    CredentialsNeeded,
    PreAuthStanza,
    StanzaReceived,
    StreamClosed,
    StreamEvent,
    StreamOpened,
    TLSRequested,
)
from ironwall.proto.stream import State
from ironwall.xml import serialize
from support.raw import StreamError

# ------------------------------------------------------------------ negotiation


def test_negotiation_from_first_byte_to_a_bound_session() -> None:
    wire = Wire()
    assert wire.send(HEADER) == [StreamOpened("localhost")]
    assert without_header(wire.out) == FEATURES_TLS
    assert wire.stream.state is State.TLS_OFFERED

    assert wire.send(STARTTLS) == [TLSRequested()]
    assert wire.out == b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
    wire.restart()
    assert wire.took(wire.stream.tls_established(CB)) == []
    assert wire.out == b""
    assert wire.stream.secure

    assert wire.send(HEADER) == [StreamOpened("localhost")]
    assert (
        without_header(wire.out)
        == b"<stream:features>" + MECHANISMS + CB_ADVERT + b"</stream:features>"
    )

    client = scramp.ScramClient(["SCRAM-SHA-256"], "alice", PASSWORD)
    first = wire.send(auth("SCRAM-SHA-256", client.get_client_first()))
    assert first == [CredentialsNeeded("alice", "SCRAM-SHA-256")]
    assert wire.out == b""
    assert wire.stream.state is State.SASL_LOOKUP
    assert wire.took(wire.stream.supply_credentials(alice_record())) == []
    client.set_server_first(sasl_data(wire.out, "challenge"))
    assert wire.send(response(client.get_client_final())) == [Authenticated(ALICE)]
    client.set_server_final(sasl_data(wire.out, "success"))
    wire.restart()

    assert wire.send(HEADER) == [StreamOpened("localhost")]
    assert without_header(wire.out) == FEATURES_BIND
    assert wire.send(bind("phone")) == [BindRequested("phone")]
    assert wire.out == b""
    assert wire.took(wire.stream.bind_resource(PHONE)) == []
    assert wire.out == (
        b"<iq type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        b"<jid>alice@localhost/phone</jid></bind></iq>"
    )
    assert wire.stream.state is State.ESTABLISHED
    assert wire.stream.jid == PHONE


def test_server_header_answers_the_clients_from() -> None:
    wire = Wire()
    wire.send(HEADER.replace(b"to=", b"from='Alice@localhost' to="))
    assert wire.view.header is not None
    assert wire.view.header["from"] == "localhost"
    assert wire.view.header["to"] == "alice@localhost"


@pytest.mark.parametrize(
    ("channel_binding", "client_binding", "events"),
    [
        (CB, CB, [Authenticated(ALICE)]),
        (CB, bytes(32), [AuthFailed("alice", "not-authorized")]),
    ],
    ids=["binding matches", "binding differs"],
)
def test_scram_sha_256_plus_binds_to_the_tls_connection(
    channel_binding: bytes, client_binding: bytes, events: list[StreamEvent]
) -> None:
    wire = secured(channel_binding)
    result = wire.scram("SCRAM-SHA-256-PLUS", record=alice_record(), channel_binding=client_binding)
    assert result == events


def test_without_channel_binding_data_no_plus_mechanism_is_offered() -> None:
    wire = secured(channel_binding=None)
    assert b"PLUS" not in wire.out
    assert b"sasl-channel-binding" not in wire.out
    client = scramp.ScramClient(
        ["SCRAM-SHA-256-PLUS"], "alice", PASSWORD, ("tls-server-end-point", CB)
    )
    assert wire.send(auth("SCRAM-SHA-256-PLUS", client.get_client_first())) == [
        AuthFailed(None, "invalid-mechanism")
    ]


@pytest.mark.parametrize(
    ("channel_binding", "outcome"),
    [(CB, "malformed-request"), (None, None)],
    ids=["server binds", "server cannot bind"],
)
def test_client_that_saw_no_plus_offer_is_refused_when_the_server_binds(
    channel_binding: bytes | None, outcome: str | None
) -> None:
    # scramp's client sends the 'y' flag here: "I could bind, but you offered no -PLUS".
    wire = secured(channel_binding)
    events = wire.scram("SCRAM-SHA-256", record=alice_record(), channel_binding=CB)
    expected = [AuthFailed("alice", outcome)] if outcome else [Authenticated(ALICE)]
    assert events == expected


def test_scram_sha_1() -> None:
    wire = secured()
    assert wire.scram("SCRAM-SHA-1", record=alice_record()) == [Authenticated(ALICE)]


@pytest.mark.parametrize(
    ("payload", "events"),
    [
        ("\0alice\0" + PASSWORD, [Authenticated(ALICE)]),
        ("alice@localhost\0alice\0" + PASSWORD, [Authenticated(ALICE)]),
        ("\0alice\0wrong password", [AuthFailed("alice", "not-authorized")]),
        ("bob@localhost\0alice\0" + PASSWORD, [AuthFailed("alice", "invalid-authzid")]),
    ],
    ids=["right password", "authzid is the account", "wrong password", "authzid of another"],
)
def test_plain_inside_tls(payload: str, events: list[StreamEvent]) -> None:
    wire = secured()
    assert wire.send(auth("PLAIN", payload)) == [CredentialsNeeded("alice", "PLAIN")]
    assert wire.took(wire.stream.supply_credentials(alice_record())) == events
    if events == [Authenticated(ALICE)]:
        assert wire.out == b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"


def test_plain_is_neither_offered_nor_accepted_without_tls() -> None:
    wire = opened(tls_required=False)
    assert without_header(wire.out) == (
        b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256"
        b"</mechanism><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>"
    )
    assert wire.send(auth("PLAIN", "\0alice\0" + PASSWORD)) == [
        AuthFailed(None, "invalid-mechanism")
    ]
    assert (
        wire.out
        == b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><invalid-mechanism/></failure>"
    )


def test_wrong_password_fails_and_the_third_failure_ends_the_stream() -> None:
    wire = secured()
    for _ in range(2):
        assert wire.scram(password="wrong", record=alice_record()) == [
            AuthFailed("alice", "not-authorized")
        ]
        assert wire.out == NOT_AUTHORIZED
        assert wire.stream.state is State.AUTH_OFFERED
    assert wire.scram(password="wrong", record=alice_record()) == [
        AuthFailed("alice", "not-authorized"),
        StreamClosed("policy-violation", by_peer=False),
    ]
    assert wire.out.startswith(NOT_AUTHORIZED)
    assert wire.closed_with() == StreamError(
        "policy-violation",
        "too many failed authentication attempts on this connection; "
        "check the password, then connect again",
    )


def test_unknown_user_looks_exactly_like_a_wrong_password() -> None:
    def challenge_and_failure(username: str, record: dict[str, Any] | None) -> tuple[str, bytes]:
        wire = secured()
        client = scramp.ScramClient(["SCRAM-SHA-256"], username, "wrong password")
        assert wire.send(auth("SCRAM-SHA-256", client.get_client_first())) == [
            CredentialsNeeded(username, "SCRAM-SHA-256")
        ]
        assert wire.took(wire.stream.supply_credentials(record)) == []
        challenge = sasl_data(wire.out, "challenge")
        client.set_server_first(challenge)
        assert wire.send(response(client.get_client_final())) == [
            AuthFailed(username, "not-authorized")
        ]
        return challenge, wire.out

    real_challenge, real_failure = challenge_and_failure("alice", alice_record())
    fake_challenge, fake_failure = challenge_and_failure("nobody", None)
    assert fake_failure == real_failure == NOT_AUTHORIZED
    real, fake = (
        dict(a.split("=", 1) for a in c.split(",")) for c in (real_challenge, fake_challenge)
    )
    assert fake.keys() == real.keys() == {"r", "s", "i"}
    assert fake["i"] == real["i"]
    assert len(base64.b64decode(fake["s"])) == len(base64.b64decode(real["s"]))


def test_sasl_abort_returns_to_the_mechanism_choice() -> None:
    wire = secured()
    client = scramp.ScramClient(["SCRAM-SHA-256"], "alice", PASSWORD)
    wire.send(auth("SCRAM-SHA-256", client.get_client_first()))
    wire.took(wire.stream.supply_credentials(alice_record()))
    assert wire.send(f"<abort xmlns='{SASL}'/>".encode()) == [AuthFailed("alice", "aborted")]
    assert wire.out == b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><aborted/></failure>"
    assert wire.scram(record=alice_record()) == [Authenticated(ALICE)]


def test_bind_refused_then_bound_with_another_resource() -> None:
    wire = authenticated()
    assert wire.send(bind("phone")) == [BindRequested("phone")]
    assert wire.took(wire.stream.refuse_bind("conflict")) == []
    assert wire.out == (
        b"<iq type='error' id='bind-1'><error type='cancel'>"
        b"<conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    assert wire.stream.state is State.BIND_OFFERED
    assert wire.send(bind("tablet")) == [BindRequested("tablet")]
    tablet = ALICE.with_resource("tablet")
    assert wire.took(wire.stream.bind_resource(tablet)) == []
    assert wire.stream.state is State.ESTABLISHED
    assert wire.stream.jid == tablet


def test_bind_without_resource_lets_the_server_choose() -> None:
    wire = authenticated()
    request = b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
    assert wire.send(request) == [BindRequested(None)]


def test_legacy_session_request_is_answered() -> None:
    wire = authenticated()
    request = b"<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>"
    assert wire.send(request) == []
    assert wire.out == b"<iq type='result' id='s1'/>"


def test_in_band_registration_request_before_login() -> None:
    wire = secured(registration=lambda domain: domain == "localhost")
    assert b"<register xmlns='http://jabber.org/features/iq-register'/>" in wire.out
    (event,) = wire.send(
        b"<iq type='get' id='r1' to='localhost'><query xmlns='jabber:iq:register'/></iq>"
    )
    assert isinstance(event, PreAuthStanza)
    assert serialize(event.stanza, "jabber:client") == (
        b"<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>"
    )


# --------------------------------------------------------------------- stanzas


@pytest.mark.parametrize(
    "claimed", ["", " from='alice@localhost'", " from='Alice@LOCALHOST/phone'"]
)
def test_stanza_gets_the_sessions_full_jid_as_from(claimed: str) -> None:
    wire = established()
    stanza = f"<message to='bob@localhost' type='chat'{claimed}><body>hi</body></message>"
    (event,) = wire.send(stanza.encode())
    assert isinstance(event, StanzaReceived)
    assert event.stanza.get("from") == "alice@localhost/phone"
    assert event.stanza.get("to") == "bob@localhost"
    assert event.stanza.findtext("{jabber:client}body") == "hi"


@pytest.mark.parametrize(
    ("claimed", "text"),
    [
        ("bob@localhost", "the 'from' address is not yours"),
        ("alice@localhost/laptop", "the 'from' address is not yours"),
        ("@localhost", "the 'from' address is not valid"),
    ],
)
def test_forged_from_is_an_invalid_from_stream_error(claimed: str, text: str) -> None:
    wire = established()
    stanza = f"<message to='bob@localhost' from='{claimed}'><body>hi</body></message>"
    assert wire.send(stanza.encode()) == [StreamClosed("invalid-from", by_peer=False)]
    assert wire.closed_with() == StreamError("invalid-from", text)


@pytest.mark.parametrize(
    ("iq", "text"),
    [
        (
            b"<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>",
            "an iq needs an id and a valid type",
        ),
        (
            b"<iq type='fetch' id='q'><ping xmlns='urn:xmpp:ping'/></iq>",
            "an iq needs an id and a valid type",
        ),
        (b"<iq id='q'><ping xmlns='urn:xmpp:ping'/></iq>", "an iq needs an id and a valid type"),
        (b"<iq type='get' id='q'/>", "an iq get or set carries exactly one payload"),
        (
            b"<iq type='set' id='q'><ping xmlns='urn:xmpp:ping'/>"
            b"<query xmlns='jabber:iq:roster'/></iq>",
            "an iq get or set carries exactly one payload",
        ),
    ],
    ids=["missing id", "bad type", "no type", "no payload", "two payloads"],
)
def test_invalid_iq_gets_bad_request_and_the_stream_lives_on(iq: bytes, text: str) -> None:
    wire = established()
    assert wire.send(iq) == []
    sid = b" id='q'" if b"id='q'" in iq else b""
    assert wire.out == (
        b"<iq type='error'" + sid + b" to='alice@localhost/phone'><error type='modify'>"
        b"<bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        b"<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>" + text.encode() + b"</text>"
        b"</error></iq>"
    )
    assert wire.stream.state is State.ESTABLISHED


def test_iq_result_without_payload_is_a_stanza() -> None:
    wire = established()
    (event,) = wire.send(b"<iq type='result' id='q' to='bob@localhost/pc'/>")
    assert isinstance(event, StanzaReceived)

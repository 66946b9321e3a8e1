"""Before login: the XEP-0445 invite token iq is let through like registration, no more."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import pytest
from stream_wire import opened, secured

from ironwall.proto.events import PreAuthStanza, StreamClosed
from ironwall.proto.stream import State
from support.raw import StreamError

PARS = "urn:xmpp:pars:0"
TOKEN_IQ = f"<iq type='set' id='t1' to='localhost'><preauth xmlns='{PARS}' token='abc'/></iq>"
INVITE_FEATURE = Element("{urn:xmpp:invite}register")


def invites(**options: object) -> dict[str, object]:
    return {
        "registration": lambda domain: domain == "localhost",
        "preauth_namespaces": [PARS],
        "preauth_features": lambda domain: [INVITE_FEATURE],
        **options,
    }


def test_token_iq_before_login_is_handed_to_the_server() -> None:
    wire = secured(**invites())
    assert b"<register xmlns='urn:xmpp:invite'/>" in wire.out
    (event,) = wire.send(TOKEN_IQ.encode())
    assert isinstance(event, PreAuthStanza)
    assert event.stanza[0].get("token") == "abc"
    assert event.stanza.get("to") is None


ONLY_REGISTRATION = "only in-band registration is possible before login"


@pytest.mark.parametrize(
    ("options", "iq", "text"),
    [
        # Not a namespace the server takes before login.
        ({"preauth_namespaces": []}, TOKEN_IQ, ONLY_REGISTRATION),
        # Only sets: nothing is answered to a get of a token.
        ({}, TOKEN_IQ.replace("'set'", "'get'"), ONLY_REGISTRATION),
        # Only where registration is open.
        ({"registration": lambda domain: False}, TOKEN_IQ, "authenticate first"),
    ],
)
def test_anything_else_before_login_ends_the_stream(
    options: dict[str, object], iq: str, text: str
) -> None:
    wire = secured(**invites(**options))
    (event,) = wire.send(iq.encode())
    assert isinstance(event, StreamClosed)
    assert wire.closed_with() == StreamError("not-authorized", text)


def test_token_iq_needs_tls_like_registration() -> None:
    wire = opened(**invites())
    assert b"urn:xmpp:invite" not in wire.out  # nothing offered before TLS
    wire.send(TOKEN_IQ.encode())
    assert wire.stream.state is State.CLOSED
    assert wire.closed_with() == StreamError(
        "policy-violation", "STARTTLS is required on this server"
    )

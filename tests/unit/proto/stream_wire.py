"""Shared by the ServerStream tests: an in-memory wire to a ServerStream, the client's
bytes, and the server's expected answers."""

from __future__ import annotations

import base64
import functools
import re
from typing import Any

import scramp

from ironwall.proto.events import (
    Authenticated,
    BindRequested,
    CredentialsNeeded,
    StreamEvent,
    StreamOpened,
    TLSRequested,
)
from ironwall.proto.jid import JID
from ironwall.proto.sasl import make_verifiers
from ironwall.proto.stream import ServerStream, State, StreamOptions
from support.raw import StreamError, StreamView

PASSWORD = "correct horse battery"
CB = bytes(range(32))  # the tls-server-end-point data of the imagined TLS connection
ALICE = JID.parse("alice@localhost")
PHONE = JID.parse("alice@localhost/phone")
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
)
STARTTLS = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
SERVER_HEADER = re.compile(
    rb"<\?xml version='1.0'\?><stream:stream xmlns='jabber:client' "
    rb"xmlns:stream='http://etherx.jabber.org/streams' id='[\w-]{16}' version='1.0' "
    rb"xml:lang='en'( from='localhost')?>"
)
FEATURES_TLS = (
    b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
    b"</starttls></stream:features>"
)
MECHANISMS = (
    b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256-PLUS"
    b"</mechanism><mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism>"
    b"<mechanism>PLAIN</mechanism></mechanisms>"
)
CB_ADVERT = (
    b"<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>"
    b"<channel-binding type='tls-server-end-point'/></sasl-channel-binding>"
)
FEATURES_BIND = (
    b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
    b"<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>"
    b"<sm xmlns='urn:xmpp:sm:3'/>"
    b"</stream:features>"
)
NOT_AUTHORIZED = b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"


@functools.cache
def alice_record() -> dict[str, Any]:
    """Alice's account record (made once: deriving it is deliberately slow)."""
    return make_verifiers(PASSWORD)


def auth(mechanism: str, payload: str | bytes) -> bytes:
    """The client's ``<auth/>`` with its initial response."""
    data = base64.b64encode(payload.encode() if isinstance(payload, str) else payload)
    return f"<auth xmlns='{SASL}' mechanism='{mechanism}'>{data.decode()}</auth>".encode()


def response(payload: str) -> bytes:
    """The client's SASL ``<response/>``."""
    data = base64.b64encode(payload.encode()).decode()
    return f"<response xmlns='{SASL}'>{data}</response>".encode()


def sasl_data(out: bytes, name: str) -> str:
    """The decoded payload of the server's ``<challenge/>`` or ``<success/>``, all of ``out``."""
    match = re.fullmatch(rf"<{name} xmlns='{SASL}'>([A-Za-z0-9+/=]+)</{name}>".encode(), out)
    assert match, out
    return base64.b64decode(match.group(1)).decode()


def bind(resource: str = "phone") -> bytes:
    """The client's resource binding request."""
    return (
        b"<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        + f"<resource>{resource}</resource>".encode()
        + b"</bind></iq>"
    )


def without_header(out: bytes) -> bytes:
    """``out`` after the server's stream header, which must come first."""
    match = SERVER_HEADER.match(out)
    assert match, out
    return out[match.end() :]


class Wire:
    """The client's end of an in-memory connection to a ServerStream."""

    def __init__(self, **options: Any) -> None:
        self.stream = ServerStream(StreamOptions(domains=["localhost"], **options))
        self.view = StreamView()
        self.out = b""

    def send(self, data: bytes) -> list[StreamEvent]:
        """Feed bytes to the server; ``out`` is then what it answered."""
        return self.took(self.stream.receive_data(data))

    def took(self, events: list[StreamEvent]) -> list[StreamEvent]:
        """Record the server's output after any call on the stream; return its events."""
        self.out = self.stream.data_to_send()
        self.view.feed(self.out)
        return events

    def restart(self) -> None:
        """The server's next bytes start a new stream (after TLS or SASL)."""
        self.view = StreamView()

    def closed_with(self) -> StreamError | None:
        """The stream error the closed stream ended with, checking that it did end."""
        assert self.stream.state is State.CLOSED
        assert self.view.ended
        return self.view.stream_error

    def scram(
        self,
        mechanism: str = "SCRAM-SHA-256",
        password: str = PASSWORD,
        *,
        username: str = "alice",
        record: dict[str, Any] | None = None,
        channel_binding: bytes | None = None,
    ) -> list[StreamEvent]:
        """Run a SCRAM exchange with scramp's client; return the events of the last step."""
        binding = None if channel_binding is None else ("tls-server-end-point", channel_binding)
        client = scramp.ScramClient([mechanism], username, password, channel_binding=binding)
        asked = self.send(auth(mechanism, client.get_client_first()))
        assert asked == [CredentialsNeeded(username, mechanism)]
        events = self.took(self.stream.supply_credentials(record))
        if self.stream.state is not State.SASL_CHALLENGED:
            return events
        assert events == []
        client.set_server_first(sasl_data(self.out, "challenge"))
        events = self.send(response(client.get_client_final()))
        if events == [Authenticated(ALICE)]:
            client.set_server_final(sasl_data(self.out, "success"))  # checks the server's proof
            self.restart()
        return events


def opened(**options: Any) -> Wire:
    """A stream whose header was answered, TLS not yet negotiated."""
    wire = Wire(**options)
    assert wire.send(HEADER) == [StreamOpened("localhost")]
    return wire


def secured(channel_binding: bytes | None = CB, **options: Any) -> Wire:
    """A stream restarted inside TLS, offering its SASL mechanisms."""
    wire = opened(**options)
    assert wire.send(STARTTLS) == [TLSRequested()]
    wire.restart()
    assert wire.took(wire.stream.tls_established(channel_binding)) == []
    assert wire.send(HEADER) == [StreamOpened("localhost")]
    return wire


def authenticated() -> Wire:
    """Alice's stream after SCRAM-SHA-256, offering resource binding."""
    wire = secured()
    assert wire.scram(record=alice_record()) == [Authenticated(ALICE)]
    assert wire.send(HEADER) == [StreamOpened("localhost")]
    return wire


def established() -> Wire:
    """Alice's stream bound to alice@localhost/phone."""
    wire = authenticated()
    assert wire.send(bind("phone")) == [BindRequested("phone")]
    assert wire.took(wire.stream.bind_resource(PHONE)) == []
    return wire

"""Fuzz the server's sans-IO stream core (ironwall.proto.stream.ServerStream).

Input: one option byte, then what the client sends; ``0xFF`` (never in UTF-8) ends a chunk
given to ``receive_data``. The harness plays the I/O layer as the server does: it finishes
TLS when asked, looks up the account ``alice`` (password ``PASSWORD``; any other name is
unknown), binds the requested resource, answers XEP-0198 requests (a session parked under
the id ``parked`` can be resumed) and echoes each message back, as routing to oneself
would. Option bits:

    1 TLS optional   2 no channel binding   4 registration open
    8 refuse the first bind   16 alice is unknown too   32 XEP-0352 nonzas registered

What must hold for any input: no exception escapes the stream; the server's output is
well-formed XML, one document per stream restart, complete once the stream is closed;
nothing is authenticated without a looked-up account, no stanza passes before a resource
is bound, and every stanza passed on carries the bound JID as ``from`` and serializes;
every request event can still be answered when the I/O layer gets to it (the stream holds
the input behind it), and XEP-0198 acknowledgements count every stanza handled since
``<enable/>``, pipelined ones included.
"""

from __future__ import annotations

import functools
from typing import Any
from xml.etree.ElementTree import Element, XMLPullParser

from fuzz_common import SEPARATOR, fuzz, instrumented

with instrumented(__name__):
    from ironwall.proto.events import (
        AckRequested,
        Authenticated,
        AuthFailed,
        BindRequested,
        CredentialsNeeded,
        NonzaReceived,
        PreAuthStanza,
        SMEnableRequested,
        SMResumeRequested,
        StanzaReceived,
        StreamClosed,
        StreamEvent,
        StreamOpened,
        TLSRequested,
    )
    from ironwall.proto.jid import JID, InvalidJID
    from ironwall.proto.sasl import make_verifiers
    from ironwall.proto.sm import StreamManagement
    from ironwall.proto.stream import ServerStream, State, StreamOptions
    from ironwall.xml import serialize

PASSWORD = "correct horse battery"  # noqa: S105 - the test account's
CHANNEL_BINDING = bytes(range(32))
ALICE = JID.parse("alice@localhost")
CSI_NONZAS = ("{urn:xmpp:csi:0}active", "{urn:xmpp:csi:0}inactive")
PARKED = ALICE.with_resource("parked")
TLS_OPTIONAL, NO_CHANNEL_BINDING, REGISTRATION, REFUSE_BIND, NO_ACCOUNT, CSI = (
    1 << bit for bit in range(6)
)
# The server writes this before each stream header it sends, and "<" is always escaped
# in content, so it marks exactly where a new output document begins.
_DECLARATION = b"<?xml version='1.0'?>"


@functools.cache
def alice_record() -> dict[str, Any]:
    """Alice's SCRAM verifiers (made once: deriving them is slow on purpose)."""
    return make_verifiers(PASSWORD)


class _Output:
    """The server's output read by the standard library's parser, document by document.

    A new document (stream header) may start only at the beginning, or after a TLS or
    SASL success told the peer that the stream restarts.
    """

    def __init__(self) -> None:
        self._parser: XMLPullParser[Element] | None = None
        self._depth = 0
        self.ended = False
        self.restarts_allowed = 0

    def feed(self, data: bytes) -> None:
        while data:
            if data.startswith(_DECLARATION):
                if self._parser is not None:
                    assert self.restarts_allowed > 0, f"a restart nobody asked for: {data!r}"
                    self.restarts_allowed -= 1
                self._parser = XMLPullParser(events=("start", "end"))
                self._depth = 0
            assert self._parser is not None, f"output before the stream header: {data!r}"
            assert not self.ended, f"output after </stream:stream>: {data!r}"
            end = data.find(_DECLARATION, 1)
            part, data = (data, b"") if end < 0 else (data[:end], data[end:])
            self._parser.feed(part)  # ParseError here is a finding: malformed output
            for event in self._parser.read_events():
                self._depth += 1 if event[0] == "start" else -1
                self.ended = self._depth == 0


class _Session:
    """The harness's I/O layer for one stream, and what it has seen so far."""

    def __init__(self, options: int) -> None:
        self.options = options
        self.stream = ServerStream(
            StreamOptions(
                domains=["localhost"],
                tls_required=not options & TLS_OPTIONAL,
                registration=lambda _domain: bool(options & REGISTRATION),
                extension_nonzas=CSI_NONZAS if options & CSI else (),
            )
        )
        self.output = _Output()
        self.closed = False
        self.bound: JID | None = None
        self.refused = False
        self.record_given = False
        self.authenticated = False
        #: Stanzas received since <enable/>, once the client asked for stream management.
        self.counted: int | None = None

    def receive(self, chunk: bytes) -> None:
        queue = list(self.stream.receive_data(chunk))
        while queue:
            event = queue.pop(0)
            self._check(event)
            queue[:0] = self._answer(event)  # answers come first, as in the server
        self.output.feed(self.stream.data_to_send())

    def _answer(self, event: StreamEvent) -> list[StreamEvent]:
        stream = self.stream
        if isinstance(event, TLSRequested):
            binding = None if self.options & NO_CHANNEL_BINDING else CHANNEL_BINDING
            return stream.tls_established(binding)
        if isinstance(event, CredentialsNeeded):
            self.record_given = event.username == "alice" and not self.options & NO_ACCOUNT
            return stream.supply_credentials(alice_record() if self.record_given else None)
        if isinstance(event, BindRequested):
            if self.options & REFUSE_BIND and not self.refused:
                self.refused = True
                return stream.refuse_bind("conflict", "try another resource")
            try:
                full = ALICE.with_resource(event.requested or "fuzz")
            except InvalidJID:
                return stream.refuse_bind("bad-request", "not a valid resource")
            self.bound = full
            return stream.bind_resource(full)
        if isinstance(event, SMEnableRequested):
            return stream.enable_sm("fuzz-resumption-id" if event.resume else None, 300)
        if isinstance(event, AckRequested):
            stream.send_ack(event.handled)
        elif isinstance(event, SMResumeRequested):
            if event.previd != "parked":
                return stream.refuse_resume()
            self.bound = PARKED
            return stream.resume_sm(PARKED, _parked_state(), event.handled)
        elif isinstance(event, StanzaReceived) and event.stanza.tag == "{jabber:client}message":
            stream.send_stanza(event.stanza)
        return []

    def _check(self, event: StreamEvent) -> None:
        """The security properties of one event."""
        assert not self.closed, f"{event} after the stream closed"
        if isinstance(event, TLSRequested):
            self.output.restarts_allowed += 1
        elif isinstance(event, Authenticated):
            assert self.record_given, "authenticated without an account record"
            assert event.jid == ALICE == self.stream.jid, event
            self.authenticated = True
            self.output.restarts_allowed += 1
        elif isinstance(event, StanzaReceived):
            assert self.bound is not None, "a stanza before a resource was bound"
            assert event.stanza.get("from") == str(self.bound), event.stanza.attrib
            serialize(event.stanza)  # the router serializes what it passes on
            if self.counted is not None:
                self.counted += 1
        elif isinstance(event, SMEnableRequested):
            self.counted = 0
        elif isinstance(event, SMResumeRequested):
            self.counted = None if event.previd != "parked" else 0
        elif isinstance(event, AckRequested):
            if self.counted is not None:
                assert event.handled == self.counted, (event, self.counted)
        elif isinstance(event, NonzaReceived):
            assert self.authenticated, event
            assert self.options & CSI, event
            serialize(event.element)
        elif isinstance(event, PreAuthStanza):
            assert self.options & REGISTRATION, event
            assert not self.authenticated, event
            serialize(event.stanza)
        elif isinstance(event, StreamClosed):
            self.closed = True
        else:
            assert isinstance(
                event,
                StreamOpened
                | CredentialsNeeded
                | AuthFailed
                | BindRequested
                | SMEnableRequested
                | SMResumeRequested
                | AckRequested,
            ), event


def _parked_state() -> StreamManagement:
    """A session parked after sending two stanzas, none of them acknowledged."""
    state = StreamManagement("parked")
    for number in (1, 2):
        message = Element("{jabber:client}message", {"to": str(PARKED), "id": f"p{number}"})
        state.sent(message)
    return state


def test_one_input(data: bytes) -> None:
    """Run one client session from ``data`` (option byte, then chunks) against the stream."""
    if not data:
        return
    session = _Session(data[0])
    for chunk in data[1:].split(SEPARATOR):
        session.receive(chunk)
    if session.stream.state is State.CLOSED:
        assert session.closed, "closed without a StreamClosed event"
        assert session.output.ended, "closed without ending the output"
        assert session.stream.receive_data(b"<presence/>") == []
        assert session.stream.data_to_send() == b""


if __name__ == "__main__":
    fuzz(test_one_input)

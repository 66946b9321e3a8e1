"""A raw XMPP client over asyncio streams: it sends exactly the bytes a test gives it.

For tests that must send what no real client would (hostile XML, protocol violations)
and assert the server's exact answer. The server's output is parsed with the standard
library's XML parser, not Ironwall's, so the server's own parser is not trusted to
judge the server. Every read is bounded in time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ssl
import time
from dataclasses import dataclass
from xml.etree.ElementTree import Element, XMLPullParser, tostring

from scramp import ScramClient

from support.tls import test_pki

TIMEOUT = 5.0
STREAM = "http://etherx.jabber.org/streams"
STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"
TLS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
)


@dataclass(frozen=True)
class StreamError:
    """The condition and text of a ``<stream:error>`` the server sent."""

    condition: str
    text: str | None


class ServerClosed(AssertionError):
    """The server closed the connection while the test still expected an element."""


class StreamView:
    """The server's side of one stream as a client sees it: header, elements, end.

    Sans-IO, so that the in-memory stream tests read the server's output the same way.
    """

    def __init__(self) -> None:
        #: Raw bytes of the stream so far.
        self.received = bytearray()
        #: The server's stream header attributes, once it arrived.
        self.header: dict[str, str] | None = None
        #: Every top-level element so far, in order.
        self.elements: list[Element] = []
        #: True once ``</stream:stream>`` arrived.
        self.ended = False
        self._parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
        self._depth = 0

    def feed(self, data: bytes) -> list[Element]:
        """Parse more of the server's output; return the top-level elements it completed."""
        self.received += data
        self._parser.feed(data)
        done = []
        for event, element in self._parser.read_events():  # type: ignore[misc]
            assert isinstance(element, Element)
            if event == "start":
                self._depth += 1
                if self._depth == 1:
                    self.header = dict(element.attrib)
                continue
            if self._depth == 2:
                done.append(element)
            elif self._depth == 1:
                self.ended = True
            self._depth -= 1
        self.elements += done
        return done

    @property
    def stream_error(self) -> StreamError | None:
        """The ``<stream:error>`` the server sent, if any."""
        for element in self.elements:
            if element.tag == f"{{{STREAM}}}error":
                conditions = [c.tag for c in element if c.tag != f"{{{STREAMS}}}text"]
                assert len(conditions) == 1, xml_text(element)
                assert conditions[0].startswith(f"{{{STREAMS}}}"), xml_text(element)
                text = element.findtext(f"{{{STREAMS}}}text")
                return StreamError(conditions[0].split("}")[1], text)
        return None


class RawClient:
    """One TCP connection to the server, spoken to byte by byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        #: The server's current stream (replaced at each stream restart).
        self.view = StreamView()
        #: True once the server closed the connection.
        self.closed = False
        self._unread = 0

    @classmethod
    async def connect(cls, port: int, source: str | None = None) -> RawClient:
        """Open a plain TCP connection to the server on 127.0.0.1.

        ``source`` is the local address to connect from (any of 127.0.0.0/8 on Linux), for
        tests of per-address limits that need a second address.
        """
        local = (source, 0) if source is not None else None
        opening = asyncio.open_connection("127.0.0.1", port, local_addr=local)
        reader, writer = await asyncio.wait_for(opening, TIMEOUT)
        return cls(reader, writer)

    @classmethod
    async def logged_in(
        cls,
        port: int,
        username: str,
        password: str,
        resource: str | None = None,
        *,
        source: str | None = None,
    ) -> RawClient:
        """A connection that has done STARTTLS, SCRAM-SHA-256 and resource binding."""
        client = await cls.connect(port, source)
        await client.starttls()
        await client.open_stream()
        outcome = await client.authenticate(username, password)
        assert outcome == "success", outcome
        reply = await client.bind(resource)
        assert reply.get("type") == "result", xml_text(reply)
        return client

    @property
    def stream_error(self) -> StreamError | None:
        """The ``<stream:error>`` the server sent on the current stream, if any."""
        return self.view.stream_error

    # ------------------------------------------------------------- writing

    async def send(self, data: bytes) -> None:
        """Write ``data`` as it is and wait until the kernel took it."""
        self._writer.write(data)
        await asyncio.wait_for(self._writer.drain(), TIMEOUT)

    async def open_stream(self) -> Element:
        """Send the standard stream header and return the server's ``<stream:features>``."""
        await self.send(HEADER)
        features = await self.next_element()
        assert features.tag == f"{{{STREAM}}}features", xml_text(features)
        return features

    async def starttls(self) -> None:
        """Open a stream and upgrade it to TLS (trusting the test CA).

        The server then waits for a new stream header: ``open_stream()``, or a test's own.
        """
        await self.open_stream()
        await self.send(f"<starttls xmlns='{TLS}'/>".encode())
        proceed = await self.next_element()
        assert proceed.tag == f"{{{TLS}}}proceed", xml_text(proceed)
        context = ssl.create_default_context(cafile=str(test_pki().ca_pem))
        upgrade = self._writer.start_tls(context, server_hostname="localhost")
        await asyncio.wait_for(upgrade, TIMEOUT)
        self._restart()

    def channel_binding(self) -> bytes:
        """This connection's ``tls-server-end-point`` data (RFC 5929), for SCRAM-PLUS.

        SHA-256 of the server certificate: right for the test CA, which signs with SHA-256.
        """
        ssl_object = self._writer.get_extra_info("ssl_object")
        assert ssl_object is not None, "not a TLS connection"
        return hashlib.sha256(ssl_object.getpeercert(binary_form=True)).digest()

    async def authenticate(
        self,
        username: str,
        password: str,
        *,
        mechanism: str = "SCRAM-SHA-256",
        channel_binding: bytes | None = None,
    ) -> str:
        """Run SCRAM; return "success" (the stream is then restarted), the SASL failure
        condition, or "closed" if the server ended the stream instead (see ``stream_error``).
        """
        binding = None if channel_binding is None else ("tls-server-end-point", channel_binding)
        scram = ScramClient([mechanism], username, password, channel_binding=binding)
        first = base64.b64encode(scram.get_client_first().encode()).decode()
        await self.send(f"<auth xmlns='{SASL}' mechanism='{mechanism}'>{first}</auth>".encode())
        answer = await self._sasl_answer()
        if answer.tag != f"{{{SASL}}}challenge":
            return _outcome(answer)
        scram.set_server_first(base64.b64decode(answer.text or "").decode())
        final = base64.b64encode(scram.get_client_final().encode()).decode()
        await self.send(f"<response xmlns='{SASL}'>{final}</response>".encode())
        answer = await self._sasl_answer()
        if answer.tag != f"{{{SASL}}}success":
            return _outcome(answer)
        scram.set_server_final(base64.b64decode(answer.text or "").decode())
        self._restart()
        await self.open_stream()
        return "success"

    async def _sasl_answer(self) -> Element:
        try:
            answer = await self.next_element()
        except ServerClosed:
            return Element("closed")
        if answer.tag == f"{{{STREAM}}}error":
            await self.wait_closed()
            return Element("closed")
        return answer

    async def bind(self, resource: str | None = None) -> Element:
        """Ask for a resource; return the server's ``<iq>`` reply."""
        inner = f"<resource>{resource}</resource>" if resource else ""
        request = f"<iq type='set' id='bind-1'><bind xmlns='{BIND}'>{inner}</bind></iq>"
        await self.send(request.encode())
        return await self.next_element()

    # ------------------------------------------------------------- reading

    async def next_element(self, timeout: float = TIMEOUT) -> Element:
        """The server's next top-level element; ServerClosed if it closes first."""
        deadline = time.monotonic() + timeout
        while self._unread == len(self.view.elements):
            if self.closed:
                sent = bytes(self.view.received)
                raise ServerClosed(f"the server closed the stream; it sent {sent!r}")
            await self._read(deadline)
        self._unread += 1
        return self.view.elements[self._unread - 1]

    async def wait_closed(self, timeout: float = TIMEOUT) -> bytes:
        """Read until the server closes the connection; return what its stream held."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            await self._read(deadline)
        return bytes(self.view.received)

    async def read_for(self, seconds: float) -> bytes:
        """Read whatever arrives during ``seconds`` (the connection may stay open)."""
        deadline = time.monotonic() + seconds
        start = len(self.view.received)
        while not self.closed and time.monotonic() < deadline:
            try:
                await self._read(deadline)
            except TimeoutError:
                break
        return bytes(self.view.received[start:])

    async def _read(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            sent = bytes(self.view.received)
            raise TimeoutError(f"the server neither sent more nor closed; it sent {sent!r}")
        try:
            data = await asyncio.wait_for(self._reader.read(65536), remaining)
        except (ConnectionError, ssl.SSLError):
            data = b""
        if not data:
            self.closed = True
            self._writer.close()
            return
        self.view.feed(data)

    def _restart(self) -> None:
        self.view = StreamView()
        self._unread = 0

    async def close(self) -> None:
        """Drop the connection without closing the stream."""
        self._writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), TIMEOUT)


def _outcome(answer: Element) -> str:
    if answer.tag == "closed":
        return "closed"
    assert answer.tag == f"{{{SASL}}}failure", xml_text(answer)
    (condition,) = [c.tag.split("}")[1] for c in answer if c.tag != f"{{{SASL}}}text"]
    return condition


def xml_text(element: Element) -> str:
    """An element as XML text, for assertion messages."""
    return tostring(element, encoding="unicode")

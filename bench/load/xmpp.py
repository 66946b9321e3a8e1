"""A minimal raw asyncio XMPP client for load generation: log in, then send and count.

Written by hand because a full client library (slixmpp) costs far more CPU and memory per
connection than the servers under test would, and the load generator must not be the
bottleneck. It knows only what a benchmark session needs: the stream header, optional
STARTTLS, SASL SCRAM-SHA-1 (every bench account shares a password and salt, so the salted
password is derived once per process and cached), resource binding, the roster get and
initial presence. During login, replies are matched with small patterns on the received
bytes; afterwards ``on_data`` hands every received chunk to the benchmark.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

__all__ = ["LoginError", "Session", "XmppProtocol", "login"]

_HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'>"
)
_FEATURES = re.compile(rb"<stream:features\b.*?</stream:features>", re.S)
_PROCEED = re.compile(rb"<(proceed|failure)\b[^>]*>")
_SASL_REPLY = re.compile(rb"<(challenge|success|failure)\b[^>]*?(?:/>|>(.*?)</\1>)", re.S)
_BOUND = re.compile(rb"<jid>([^<]+)</jid>|<iq\b[^>]*type=['\"]error['\"]")
_ROSTER = re.compile(rb"<iq\b[^>]*\bid=['\"]roster['\"][^>]*>")
_PRESENCE = re.compile(rb"<presence\b")
_STREAM_ERROR = re.compile(rb"<stream:error>\s*<([a-z-]+)")
_SALTED: dict[tuple[str, bytes, int], bytes] = {}


class LoginError(Exception):
    """A login step failed; ``step`` names it for the failure summary."""

    def __init__(self, step: str, detail: str = "") -> None:
        super().__init__(f"{step}: {detail}" if detail else step)
        self.step = step


class XmppProtocol(asyncio.Protocol):
    """One client connection: buffers input until ``on_data`` takes over."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.on_data: Callable[[bytes], None] | None = None
        self.lost = asyncio.get_running_loop().create_future()
        self._waiter: tuple[re.Pattern[bytes], asyncio.Future[re.Match[bytes]]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport (asyncio passes the STARTTLS one through ``start_tls``)."""
        # uvloop's TCP transport implements asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        """Hand data to the benchmark, or keep it for ``expect``."""
        if self.on_data is not None:
            self.on_data(data)
            return
        self.buffer += data
        if self._waiter is not None:
            self._match()

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail a pending ``expect`` and resolve ``lost``."""
        if not self.lost.done():
            self.lost.set_result(None)
        if self._waiter is not None and not self._waiter[1].done():
            self._waiter[1].set_exception(LoginError("closed", self._stream_error()))

    def _stream_error(self) -> str:
        found = _STREAM_ERROR.search(self.buffer)
        return found.group(1).decode() if found else "connection closed"

    def _match(self) -> None:
        assert self._waiter is not None
        pattern, future = self._waiter
        # A copy: the match must not change when the buffer is cut below.
        found = pattern.search(bytes(self.buffer))
        if found is not None:
            del self.buffer[: found.end()]
            self._waiter = None
            if not future.done():
                future.set_result(found)
        elif b"<stream:error" in self.buffer and b"</stream:error>" in self.buffer:
            self._waiter = None
            if not future.done():
                future.set_exception(LoginError("stream-error", self._stream_error()))

    async def expect(
        self, pattern: re.Pattern[bytes], step: str, limit_s: float
    ) -> re.Match[bytes]:
        """Wait up to ``limit_s`` s for ``pattern`` in the input; consume through the match."""
        future: asyncio.Future[re.Match[bytes]] = asyncio.get_running_loop().create_future()
        self._waiter = (pattern, future)
        self._match()
        try:
            return await asyncio.wait_for(future, limit_s)
        except TimeoutError:
            raise LoginError(step, "timed out") from None
        finally:
            self._waiter = None

    def send(self, data: bytes) -> None:
        """Write bytes unless the connection is gone."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def close(self) -> None:
        """Send the closing tag and close the connection."""
        self.send(b"</stream:stream>")
        if self.transport is not None:
            self.transport.close()


@dataclass(slots=True)
class Session:
    """A logged-in client: its connection and full JID."""

    index: int
    protocol: XmppProtocol
    jid: str

    @property
    def bare(self) -> str:
        """The account's bare JID."""
        return self.jid.partition("/")[0]


def _salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    key = (password, salt, iterations)
    salted = _SALTED.get(key)
    if salted is None:
        salted = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, iterations)
        _SALTED[key] = salted
    return salted


def _scram_attributes(message: bytes) -> dict[str, bytes]:
    return {part[:1].decode(): part[2:] for part in message.split(b",") if len(part) > 1}


async def _sasl_scram_sha1(
    protocol: XmppProtocol, user: str, password: str, limit_s: float
) -> None:
    nonce = secrets.token_urlsafe(18).encode()
    first_bare = b"n=" + user.encode() + b",r=" + nonce
    protocol.send(
        b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>"
        + base64.b64encode(b"n,," + first_bare)
        + b"</auth>"
    )
    reply = await protocol.expect(_SASL_REPLY, "sasl", limit_s)
    if reply.group(1) != b"challenge":
        raise LoginError("sasl", "no challenge")
    server_first = base64.b64decode(reply.group(2) or b"")
    attrs = _scram_attributes(server_first)
    if not attrs.get("r", b"").startswith(nonce):
        raise LoginError("sasl", "bad server nonce")
    salted = _salted_password(password, base64.b64decode(attrs["s"]), int(attrs["i"]))
    final_bare = b"c=biws,r=" + attrs["r"]
    auth_message = first_bare + b"," + server_first + b"," + final_bare
    client_key = hmac.digest(salted, b"Client Key", "sha1")
    # SCRAM-SHA-1 is defined on SHA-1 (RFC 5802), and it is what all three servers offer.
    stored_key = hashlib.sha1(client_key).digest()  # noqa: S324
    signature = hmac.digest(stored_key, auth_message, "sha1")
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    protocol.send(
        b"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
        + base64.b64encode(final_bare + b",p=" + base64.b64encode(proof))
        + b"</response>"
    )
    reply = await protocol.expect(_SASL_REPLY, "sasl", limit_s)
    if reply.group(1) != b"success":
        raise LoginError("sasl", "authentication failed")
    server_key = hmac.digest(salted, b"Server Key", "sha1")
    expected = b"v=" + base64.b64encode(hmac.digest(server_key, auth_message, "sha1"))
    if base64.b64decode(reply.group(2) or b"") != expected:
        raise LoginError("sasl", "server signature mismatch")


async def login(
    host: str,
    port: int,
    *,
    index: int,
    user: str,
    domain: str,
    password: str,
    tls: ssl.SSLContext | None = None,
    limit_s: float = 30.0,
) -> Session:
    """Connect and log in ``user``: SCRAM-SHA-1, bind, roster get, initial presence.

    STARTTLS is used if ``tls`` is given (and required of the server then). Every step
    waits at most ``limit_s`` s. Returns when the server has echoed the initial presence,
    i.e. the session is fully set up.
    """
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await asyncio.wait_for(
            loop.create_connection(XmppProtocol, host, port), limit_s
        )
    except (OSError, TimeoutError) as exc:
        raise LoginError("connect", type(exc).__name__) from None
    header = _HEADER.format(domain=domain).encode()
    try:
        protocol.send(header)
        features = await protocol.expect(_FEATURES, "features", limit_s)
        if tls is not None:
            if b"<starttls" not in features.group(0):
                raise LoginError("starttls", "not offered")
            protocol.send(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            if (await protocol.expect(_PROCEED, "starttls", limit_s)).group(1) != b"proceed":
                raise LoginError("starttls", "refused")
            protocol.buffer.clear()
            secure = await asyncio.wait_for(
                loop.start_tls(transport, protocol, tls, server_hostname=domain), limit_s
            )
            protocol.transport = cast(asyncio.Transport, secure)
            protocol.send(header)
            features = await protocol.expect(_FEATURES, "features", limit_s)
        if b"SCRAM-SHA-1<" not in features.group(0):
            raise LoginError("features", "SCRAM-SHA-1 not offered")
        await _sasl_scram_sha1(protocol, user, password, limit_s)
        protocol.buffer.clear()
        protocol.send(header)
        await protocol.expect(_FEATURES, "features", limit_s)
        protocol.send(
            b"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            b"<resource>bench</resource></bind></iq>"
        )
        bound = await protocol.expect(_BOUND, "bind", limit_s)
        if bound.group(1) is None:
            raise LoginError("bind", "refused")
        protocol.send(b"<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>")
        roster = await protocol.expect(_ROSTER, "roster", limit_s)
        if b"result" not in roster.group(0):
            raise LoginError("roster", "error reply")
        protocol.send(b"<presence/>")
        await protocol.expect(_PRESENCE, "presence", limit_s)
    except BaseException:
        protocol.close()
        raise
    protocol.buffer.clear()
    return Session(index=index, protocol=protocol, jid=bound.group(1).decode())

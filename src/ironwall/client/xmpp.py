"""The XMPP connection under the client: slixmpp, with failures turned into clear errors.

Requests are written as XML and answers read as ElementTree elements, so the exact
wire format (XEP-0060 publish-options, XEP-0373 nodes) is visible in the code that
sends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

from ironwall.client.errors import AccountExists, ConnectFailed

__all__ = ["Connection", "IqFailed", "ServerAddress", "connect"]

TIMEOUT = 20.0

# slixmpp logs certificate and connection problems at ERROR level; the client reports
# them itself, once, in words the user can act on.
logging.getLogger("slixmpp").setLevel(logging.CRITICAL)


class IqFailed(Exception):
    """An iq request got an error reply: ``condition`` is the XMPP stanza error."""

    def __init__(self, condition: str, text: str = "") -> None:
        super().__init__(f"{condition}{': ' + text if text else ''}")
        self.condition = condition
        self.text = text


class ServerAddress:
    """Where to connect (None: the JID's domain, by DNS) and which CA file to trust."""

    def __init__(
        self, host: str | None = None, port: int = 5222, ca_file: Path | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.ca_file = ca_file

    @classmethod
    def parse(cls, text: str | None, ca_file: Path | None = None) -> ServerAddress:
        """``host``, ``host:port`` or None."""
        if not text:
            return cls(None, 5222, ca_file)
        host, _, port = text.rpartition(":") if ":" in text else (text, "", "5222")
        try:
            number = int(port)
        except ValueError:
            raise ConnectFailed(f"'{text}' is not HOST or HOST:PORT") from None
        return cls(host or text, number, ca_file)

    def describe(self, domain: str) -> str:
        """Human form for messages."""
        return f"{self.host}:{self.port}" if self.host else domain


class Connection(slixmpp.ClientXMPP):
    """A client stream that records why it failed, for a one-line error."""

    def __init__(self, jid: str, password: str, address: ServerAddress, *, register: bool) -> None:
        super().__init__(jid, password)
        self.server_address = address
        self.failure: str | None = None
        self.started = asyncio.Event()
        self.ended = asyncio.Event()
        self.registration_failure: str | None = None
        context = ssl.create_default_context()
        if address.ca_file is not None:
            try:
                context.load_verify_locations(cafile=str(address.ca_file))
            except (OSError, ssl.SSLError):
                raise ConnectFailed(
                    f"cannot read the CA certificate {address.ca_file}; check the --ca path"
                ) from None
        self.ssl_context = context
        for plugin in ("xep_0030", "xep_0199", "xep_0115", "xep_0163", "xep_0060", "xep_0198"):
            self.register_plugin(plugin)
        self.whitespace_keepalive = True
        if address.host:
            # A host:port given by the user is a STARTTLS port (XEP-0368 direct TLS comes from SRV).
            self.enable_direct_tls = False
        if register:
            self.register_plugin("xep_0077")
            self.plugin["xep_0077"].force_registration = True
            self.add_event_handler("register", self._register)
        self.add_event_handler("session_start", lambda _e: self.started.set())
        # slixmpp tries each way in (direct TLS, STARTTLS) and then starts over after a
        # delay, forever: the first "reconnect_delay" means every way has failed.
        self.add_event_handler("reconnect_delay", self._connection_failed)
        self.add_event_handler("ssl_invalid_chain", self._bad_certificate)
        self.add_event_handler("failed_all_auth", self._auth_failed)
        self.closed = asyncio.Event()
        self.add_event_handler("disconnected", self._disconnected)
        self.add_event_handler("stream_error", self._stream_error)

    def _disconnected(self, _event: Any) -> None:
        self.ended.set()
        self.closed.set()

    def _fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
        self.cancel_connection_attempt()
        self.ended.set()

    def _connection_failed(self, _error: Any) -> None:
        where = self.server_address.describe(self.boundjid.domain)
        self._fail(
            f"cannot reach the server at {where}; check that it runs and the address is right"
        )

    def _bad_certificate(self, _error: Any) -> None:
        self._fail(
            "the server's TLS certificate is not trusted; if it is yours and self-signed, "
            "pass its certificate with --ca FILE"
        )

    def _auth_failed(self, _event: Any) -> None:
        self._fail("the server refused the login: wrong passphrase or password, or no such account")

    def _stream_error(self, error: Any) -> None:
        condition = error["condition"]
        self._fail(
            f"the server closed the connection ({condition}: {error['text'] or 'no reason given'})"
        )

    async def _register(self, _event: Any) -> None:
        form = self.Iq()
        form["type"] = "set"
        form["register"]["username"] = self.boundjid.user
        form["register"]["password"] = self.password
        try:
            await form.send(timeout=TIMEOUT)  # type: ignore[no-untyped-call]
        except IqError as exc:
            condition = exc.iq["error"]["condition"]
            self.registration_failure = condition
            if condition == "conflict":
                self._fail("exists")
            else:
                text = exc.iq["error"]["text"]
                self._fail(
                    f"the server refused the registration ({condition}{': ' + text if text else ''})"
                )
        except IqTimeout:
            self._fail("the server did not answer the registration")

    async def request(self, xml: str, wait: float = TIMEOUT) -> ET.Element:
        """Send an iq written as XML; return the answer's element or raise IqFailed."""
        iq = self.Iq(xml=ET.fromstring(xml))  # noqa: S314 - our own XML, not network input
        if not iq["id"]:
            iq["id"] = self.new_id()
        try:
            answer = await iq.send(timeout=wait)  # type: ignore[no-untyped-call]
        except IqError as exc:
            raise IqFailed(exc.iq["error"]["condition"], exc.iq["error"]["text"]) from None
        except IqTimeout:
            raise IqFailed("remote-server-timeout", "no answer in time") from None
        element: ET.Element = answer.xml
        return element


async def _close(connection: Connection) -> None:
    """Close the stream politely (bounded in time) and release slixmpp's tasks."""
    if not connection.closed.is_set():
        connection.disconnect(wait=2.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(connection.closed.wait(), 5)
    await _finish(connection)


async def _finish(connection: Connection) -> None:
    # slixmpp cancels its outgoing-filter task only when the object is garbage-collected,
    # which asyncio then reports as "Task was destroyed but it is pending": end it here.
    task = connection._run_out_filters
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def connect(
    jid: str,
    password: str,
    address: ServerAddress,
    *,
    register: bool = False,
    setup: Callable[[Connection], None] | None = None,
) -> AsyncIterator[Connection]:
    """A logged-in connection (registering first if asked), closed when the block ends."""
    connection = Connection(jid, password, address, register=register)
    if setup is not None:
        setup(connection)
    if address.host:
        connection.connect(address.host, address.port)
    else:
        connection.connect()
    started = asyncio.ensure_future(connection.started.wait())
    ended = asyncio.ensure_future(connection.ended.wait())
    done, pending = await asyncio.wait(
        {started, ended}, timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
    if started not in done:
        reason = (
            connection.failure
            or f"no answer from {address.describe(connection.boundjid.domain)} in time"
        )
        connection.cancel_connection_attempt()
        await _close(connection)
        if reason == "exists":
            raise AccountExists(
                f"the account {jid} already exists; log in instead, or pick another name"
            )
        raise ConnectFailed(reason)
    try:
        yield connection
    finally:
        await _close(connection)

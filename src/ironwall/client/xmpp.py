"""The XMPP connection under the client: slixmpp, with failures turned into clear errors.

Requests are written as XML and answers read as ElementTree elements, so the exact
wire format (XEP-0060 publish-options, XEP-0373 nodes) is visible in the code that
sends it. A ``Connection`` is one slixmpp stream object; ``connect_once`` logs it in (or
says why it could not), and the session calls it again after a drop, which resumes the
stream (XEP-0198) when the server still holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import quoteattr

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatcherId

from ironwall.client import scram
from ironwall.client.errors import (
    AccountDisabled,
    AccountExists,
    ClientError,
    ConnectFailed,
    LoginRefused,
    ServerUnreachable,
    UntrustedCertificate,
)
from ironwall.client.scram import SaltedPassword, used_salted_password

__all__ = ["Connection", "IqFailed", "ServerAddress", "connect", "connect_once"]

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
        if not 0 < number < 65536:
            raise ConnectFailed(f"the port in '{text}' is out of range")
        return cls(host or text, number, ca_file)

    def describe(self, domain: str) -> str:
        """Human form for messages."""
        return f"{self.host}:{self.port}" if self.host else domain


class Connection(slixmpp.ClientXMPP):
    """A client stream that records why it failed, as a typed error."""

    def __init__(
        self,
        jid: str,
        address: ServerAddress,
        *,
        password: str | None = None,
        salted: SaltedPassword | None = None,
        register: bool = False,
        invite: str | None = None,
    ) -> None:
        # Without a password the cached SaltedPassword is the only way in: a random
        # placeholder makes sure nothing else is ever sent as one.
        super().__init__(jid, password if password is not None else secrets.token_urlsafe(24))
        if salted is not None:
            self.credentials[scram.CREDENTIAL] = salted.to_json()
        self.server_address = address
        #: An invite token (XEP-0401), shown to the server before registering.
        self.invite = invite
        self.failure: ClientError | None = None
        self.started = asyncio.Event()
        self.ended = asyncio.Event()
        self.closed = asyncio.Event()
        #: The SaltedPassword of the last successful login, to keep instead of a password.
        self.salted_password: SaltedPassword | None = None
        self.ssl_context = _tls_context(address)
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
        self.add_event_handler("session_start", self._logged_in)
        self.add_event_handler("session_resumed", self._logged_in)
        # slixmpp tries each way in (direct TLS, STARTTLS) and then starts over after a
        # delay, forever: the first "reconnect_delay" means every way has failed.
        self.add_event_handler("reconnect_delay", self._connection_failed)
        self.add_event_handler("ssl_invalid_chain", self._bad_certificate)
        self.add_event_handler("failed_auth", self._auth_failed)
        self.add_event_handler("disconnected", self._disconnected)
        self.add_event_handler("stream_error", self._stream_error)

    @property
    def domain(self) -> str:
        """The account's domain."""
        return str(self.boundjid.domain)

    def _logged_in(self, _event: Any) -> None:
        mechanism = self.plugin["feature_mechanisms"].mech
        salted = used_salted_password(mechanism)
        if salted is not None:
            self.salted_password = salted
        self.started.set()

    def _disconnected(self, _event: Any) -> None:
        self.ended.set()
        self.closed.set()

    def _fail(self, failure: ClientError) -> None:
        if self.failure is None:
            self.failure = failure
        self.cancel_connection_attempt()
        self.ended.set()

    def _connection_failed(self, _error: Any) -> None:
        where = self.server_address.describe(self.domain)
        self._fail(
            ServerUnreachable(
                f"cannot reach the server at {where}; check that it runs and the address is right"
            )
        )

    def _bad_certificate(self, _error: Any) -> None:
        self._fail(
            UntrustedCertificate(
                "the server's TLS certificate is not trusted; if it is yours and self-signed, "
                "pass its certificate with --ca FILE"
            )
        )

    def _auth_failed(self, failure: Any) -> None:
        # One refusal is the answer: trying the server's other mechanisms with the same
        # secret would only count as more failed logins against this user's address.
        mechanisms = self.plugin["feature_mechanisms"]
        mechanisms.use_mechs = set(mechanisms.attempted_mechs)
        condition = failure["condition"]
        text = failure["text"] or ""
        if condition == "account-disabled":
            self._fail(
                AccountDisabled(
                    f"the server refuses this account: {text or 'it was disabled or revoked'}"
                )
            )
        elif condition in ("temporary-auth-failure", "aborted") or "try again" in text:
            self._fail(
                ServerUnreachable(f"the server refused the login for now: {text or condition}")
            )
        else:
            self._fail(
                LoginRefused(
                    "the server refused the login: wrong passphrase or password, or no such account"
                )
            )

    def _stream_error(self, error: Any) -> None:
        condition = error["condition"]
        text = error["text"] or "no reason given"
        message = f"the server closed the connection ({condition}: {text})"
        if condition == "not-authorized" and "revoked" in text:
            self._fail(AccountDisabled(message))
        elif condition in ("policy-violation", "not-authorized", "reset", "conflict"):
            self._fail(ConnectFailed(message))
        else:
            self._fail(ServerUnreachable(message))

    async def _register(self, _event: Any) -> None:
        if self.invite is not None and not await self._present_invite(self.invite):
            return
        form = self.Iq()
        form["type"] = "set"
        form["register"]["username"] = self.boundjid.user
        form["register"]["password"] = self.password
        try:
            await form.send(timeout=TIMEOUT)  # type: ignore[no-untyped-call]
        except IqError as exc:
            condition = exc.iq["error"]["condition"]
            if condition == "conflict":
                self._fail(AccountExists(f"the account {self.boundjid.bare} already exists"))
            else:
                text = exc.iq["error"]["text"]
                self._fail(
                    ConnectFailed(
                        f"the server refused the registration ({condition}{': ' + text if text else ''})"
                    )
                )
        except IqTimeout:
            self._fail(ServerUnreachable("the server did not answer the registration"))

    async def _present_invite(self, token: str) -> bool:
        # XEP-0379/0401: the token goes first, on the stream that then registers. slixmpp
        # holds back every iq but registration's before login, so this one goes out raw.
        iq_id = self.new_id()
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def answered(stanza: Any) -> None:
            if not answer.done():
                answer.set_result(stanza)

        self.register_handler(Callback(f"preauth-{iq_id}", MatcherId(iq_id), answered, once=True))
        self.send_raw(
            f"<iq type='set' id={quoteattr(iq_id)}>"
            f"<preauth xmlns='urn:xmpp:pars:0' token={quoteattr(token)}/></iq>"
        )
        try:
            stanza = await asyncio.wait_for(answer, TIMEOUT)
        except TimeoutError:
            self._fail(ServerUnreachable("the server did not answer the invite"))
            return False
        finally:
            self.remove_handler(f"preauth-{iq_id}")
        if stanza["type"] == "error":
            text = stanza["error"]["text"] or stanza["error"]["condition"]
            self._fail(ConnectFailed(f"the server refused the invite: {text}"))
            return False
        return True

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


def _tls_context(address: ServerAddress) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if address.ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(address.ca_file))
        except (OSError, ssl.SSLError):
            raise ConnectFailed(
                f"cannot read the CA certificate {address.ca_file}; check the --ca path"
            ) from None
    return context


async def connect_once(connection: Connection, timeout: float = TIMEOUT) -> None:  # noqa: ASYNC109
    """Connect and log in (or resume); raise the ``ConnectFailed`` that says why not."""
    connection.failure = None
    connection.started.clear()
    connection.ended.clear()
    connection.closed.clear()
    address = connection.server_address
    if address.host:
        connection.connect(address.host, address.port)
    else:
        connection.connect()
    started = asyncio.ensure_future(connection.started.wait())
    ended = asyncio.ensure_future(connection.ended.wait())
    try:
        done, _pending = await asyncio.wait(
            {started, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        started.cancel()
        ended.cancel()
    if started in done and connection.started.is_set():
        return
    failure = connection.failure or ServerUnreachable(
        f"no answer from {address.describe(connection.domain)} in time"
    )
    connection.cancel_connection_attempt()
    await close(connection)
    raise failure


async def close(connection: Connection) -> None:
    """Close the stream politely (bounded in time) and release slixmpp's tasks."""
    if not connection.closed.is_set():
        connection.disconnect(wait=2.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(connection.closed.wait(), 5)
    await finish(connection)


async def finish(connection: Connection) -> None:
    """End slixmpp's outgoing-filter task, which it otherwise leaves pending."""
    # slixmpp cancels it only when the object is garbage-collected, which asyncio then
    # reports as "Task was destroyed but it is pending".
    task = connection._run_out_filters
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def connect(
    jid: str,
    address: ServerAddress,
    *,
    password: str | None = None,
    salted: SaltedPassword | None = None,
    register: bool = False,
    invite: str | None = None,
    setup: Callable[[Connection], None] | None = None,
) -> AsyncIterator[Connection]:
    """A logged-in connection (registering first if asked), closed when the block ends."""
    connection = Connection(
        jid, address, password=password, salted=salted, register=register, invite=invite
    )
    if setup is not None:
        setup(connection)
    await connect_once(connection)
    try:
        yield connection
    finally:
        await close(connection)

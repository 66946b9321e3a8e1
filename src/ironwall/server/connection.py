"""asyncio glue for one client connection: socket bytes in and out of a ``ServerStream``.

All protocol decisions live in ``ironwall.proto.stream``; this file only does the I/O
the stream asks for (TLS upgrade, account lookup, resource binding), enforces time
limits, and hands bound stanzas to the router.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

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
    TLSRequested,
)
from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.sm import StreamManagement
from ironwall.proto.stream import ServerStream, State
from ironwall.server.session import Session

if TYPE_CHECKING:
    from ironwall.server.app import Server

__all__ = ["ClientConnection", "PreAuthRequest"]

log = logging.getLogger(__name__)

_READ_SIZE = 65536
_HIGH_WATER = 1 << 20


class PreAuthRequest:
    """An in-band registration request from a connection that has not logged in."""

    def __init__(self, connection: ClientConnection, stanza: Element, domain: str) -> None:
        self.connection = connection
        self.stanza = stanza
        self.domain = domain

    def reply(self, stanza: Element) -> None:
        """Send the answer on the same stream."""
        self.connection.send(stanza)


class ClientConnection:
    """Runs one client stream until it closes."""

    def __init__(
        self, server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self._reader = reader
        self._writer = writer
        peer = writer.get_extra_info("peername")
        self.address: str = peer[0] if isinstance(peer, tuple) else "local"
        self.stream = ServerStream(server.stream_options)
        self.session: Session | None = None
        self._closing = False
        self._opened_at = time.monotonic()

    async def run(self) -> None:
        """Serve the connection; returns when the stream is closed."""
        limiter = self.server.limiter
        if not limiter.connection_opened(self.address):
            self.stream.close("policy-violation", "too many connections from your address")
            await self._flush_and_close()
            return
        self.server.connections.add(self)
        try:
            await self._serve()
        finally:
            self.server.connections.discard(self)
            limiter.connection_closed(self.address)
            await self._teardown()

    async def _serve(self) -> None:
        limits = self.server.config.limits
        while self.stream.state is not State.CLOSED:
            established = self.stream.state is State.ESTABLISHED
            timeout = limits.keepalive_interval if established else self._login_time_left()
            try:
                data = await asyncio.wait_for(self._reader.read(_READ_SIZE), timeout)
            except TimeoutError:
                if self.stream.state is State.ESTABLISHED:
                    self.stream.send_keepalive()
                    if self.stream.sm is not None and self.stream.sm.unacked:
                        self.stream.request_ack()
                    self._write_out()
                    continue
                await self._handle(
                    self.stream.close("connection-timeout", "no login within the time limit")
                )
                break
            except (ConnectionError, OSError):
                break
            if not data:
                break
            await self._handle(self.stream.receive_data(data))
            if self._writer.transport.get_write_buffer_size() > _HIGH_WATER:
                with contextlib.suppress(ConnectionError, OSError):
                    await self._writer.drain()

    async def _handle(self, events: list[StreamEvent]) -> None:
        queue = list(events)
        while queue:
            event = queue.pop(0)
            if isinstance(event, StanzaReceived):
                self._write_out()
                await self.server.router.route(event.stanza, self.session)
            elif isinstance(event, NonzaReceived):
                await self.server.hooks.fire(f"nonza/{event.element.tag}", (self, event.element))
            elif isinstance(event, TLSRequested):
                queue[:0] = await self._start_tls()
            elif isinstance(event, CredentialsNeeded):
                queue[:0] = await self._lookup(event)
            elif isinstance(event, AuthFailed):
                self.server.limiter.login_failed(self.address)
                log.info("failed login from %s (%s)", self.address, event.condition)
            elif isinstance(event, Authenticated):
                log.info("login %s from %s", event.jid, self.address)
            elif isinstance(event, BindRequested):
                queue[:0] = self._bind(event.requested)
                if self.session is not None:
                    self._write_out()
                    await self.server.hooks.fire("session-bound", self.session)
            elif isinstance(event, PreAuthStanza):
                assert self.stream.domain is not None
                request = PreAuthRequest(self, event.stanza, self.stream.domain)
                await self.server.hooks.fire("iq-preauth/jabber:iq:register", request)
            elif isinstance(event, AckRequested):
                # Every stanza before the <r/> has been routed (and stored) by now.
                self.stream.send_ack(event.handled)
            elif isinstance(event, SMEnableRequested):
                queue[:0] = self._enable_sm(event.resume)
            elif isinstance(event, SMResumeRequested):
                queue[:0] = self._resume(event)
            elif isinstance(event, StreamClosed):
                self._closing = True
        self._write_out()

    async def _start_tls(self) -> list[StreamEvent]:
        tls = self.server.tls
        assert tls is not None
        self._write_out()
        try:
            await self._writer.drain()
            # Within the login time limit, not on top of it.
            await asyncio.wait_for(self._writer.start_tls(tls.context), self._login_time_left())
        except (TimeoutError, ConnectionError, OSError) as exc:
            log.info("TLS handshake with %s failed: %s", self.address, exc.__class__.__name__)
            self._closing = True
            return self.stream.close()
        return self.stream.tls_established(tls.channel_binding)

    def _login_time_left(self) -> float:
        elapsed = time.monotonic() - self._opened_at
        return max(0.0, self.server.config.limits.auth_timeout - elapsed)

    async def _lookup(self, event: CredentialsNeeded) -> list[StreamEvent]:
        if not self.server.limiter.may_try_login(self.address):
            return self.stream.close(
                "policy-violation", "too many failed logins from your address; try again later"
            )
        record = None
        assert self.stream.domain is not None
        try:
            jid = JID.build(event.username, self.stream.domain)
        except InvalidJID:
            jid = None
        if jid is not None:
            record = await self.server.accounts.record(jid)
        return self.stream.supply_credentials(record)

    def _bind(self, requested: str | None) -> list[StreamEvent]:
        account = self.stream.jid
        assert account is not None
        session = Session(account, self.address, self.send, self._close_from_server)
        result = self.server.router.bind(session, requested)
        if isinstance(result, str):
            text = "too many sessions on this account" if result == "resource-constraint" else ""
            return self.stream.refuse_bind(result, text)
        self.session = result
        return self.stream.bind_resource(result.jid)

    def _enable_sm(self, resume: bool) -> list[StreamEvent]:
        resumption_id = secrets.token_urlsafe(18) if resume else None
        timeout = int(self.server.config.limits.resumption_timeout)
        events = self.stream.enable_sm(resumption_id, timeout)
        if resumption_id is not None:
            self.server.resumption.live(resumption_id, self)
        return events

    def _resume(self, event: SMResumeRequested) -> list[StreamEvent]:
        account = self.stream.jid
        assert account is not None
        taken = self.server.resumption.take(event.previd, account)
        if taken is None:
            return self.stream.refuse_resume()
        session, state = taken
        session.rebind(self.send, self._close_from_server)
        self.session = session
        events = self.stream.resume_sm(session.jid, state, event.handled)
        if state.id is not None:
            self.server.resumption.live(state.id, self)
        log.info("session %s resumed from %s", session.jid, self.address)
        return events

    def hand_over(self) -> tuple[Session, StreamManagement]:
        """Give this connection's session to a client resuming it elsewhere, and close."""
        session, state = self.session, self.stream.sm
        assert session is not None
        assert state is not None
        self.session = None
        self.stream.sm = None
        self._closing = True
        self._writer.transport.close()
        return session, state

    def send(self, stanza: Element) -> None:
        """Queue a stanza for this client and write it out."""
        self.stream.send_stanza(stanza)
        self._write_out()

    def _close_from_server(self, condition: str, text: str) -> None:
        self.stream.close(condition, text)
        self._write_out()
        self._closing = True
        # Wake the read loop so the connection ends promptly.
        self._writer.transport.close()

    def _write_out(self) -> None:
        data = self.stream.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)

    async def _flush_and_close(self) -> None:
        self._write_out()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.drain()
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()

    async def _teardown(self) -> None:
        session, self.session = self.session, None
        state = self.stream.sm
        if self.stream.state is not State.CLOSED:
            self.stream.close()
        resumption = self.server.resumption
        if session is not None:
            if state is not None and state.id is not None and not self._closing:
                # The connection dropped without a goodbye: the client may resume.
                resumption.park(session, state)
            else:
                resumption.forget(state.id if state is not None else None)
                await resumption.end(session, state)
        await self._flush_and_close()

    async def shutdown(self) -> None:
        """Close this connection because the server is stopping."""
        self._close_from_server("system-shutdown", "the server is shutting down")

"""asyncio glue for one client connection: socket bytes in and out of a ``ServerStream``.

All protocol decisions live in ``ironwall.proto.stream``; this file only does the I/O
the stream asks for (TLS upgrade, account lookup, resource binding), enforces time
limits, and hands bound stanzas to the router.

It is an ``asyncio.Protocol`` rather than a stream reader and writer, because the hot
path of a busy server is one small read and one small write per message: the
transport hands bytes to ``data_received``, one task per connection works through
them in order (routing may wait on storage), and output is written once per event-loop
turn however many stanzas were queued in it. Time limits are one timer per connection
instead of a timeout around every read.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import time
from typing import TYPE_CHECKING, cast
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
from ironwall.proto.stanza import error_reply
from ironwall.proto.stream import ServerStream, State
from ironwall.server.events import SESSION_BOUND, Nonza, nonza, preauth_iq
from ironwall.server.session import Session

if TYPE_CHECKING:
    from ironwall.server.app import Server

__all__ = ["ClientConnection", "PreAuthRequest"]

log = logging.getLogger(__name__)

# Unprocessed input held per connection before the socket stops being read, so that a
# client cannot make the server buffer without bound while its stanzas wait on storage.
_INBOX_HIGH = 1 << 18
# Output buffered for a client that does not read before its own input stops being read.
_OUTBOX_HIGH = 1 << 20
# How long a closing connection may take to hand its last bytes to the peer.
_CLOSE_GRACE = 10.0
# SASL failures that are a wrong guess of credentials, counted by the failed-login limits
# (a malformed request or an abort guesses nothing; a disabled account was no guess).
_GUESSES = frozenset({"not-authorized", "invalid-authzid"})


class PreAuthRequest:
    """An in-band registration request (or its invite token) from a connection that has
    not logged in."""

    def __init__(self, connection: ClientConnection, stanza: Element, domain: str) -> None:
        self.connection = connection
        self.stanza = stanza
        self.domain = domain

    def reply(self, stanza: Element) -> None:
        """Send the answer on the same stream."""
        self.connection.send(stanza)


class ClientConnection(asyncio.Protocol):
    """Runs one client stream until it closes."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.address = "local"
        self.stream = ServerStream(server.stream_options)
        self.session: Session | None = None
        self._closing = False
        # The server closed the stream (a revocation, a password change, a newer login):
        # what the client had sent before the close but the server had not acted on yet
        # is dropped, or a session that was ended could still act.
        self._ended_by_server = False
        self._authenticated_at = 0.0
        # Accounts this connection failed to log in to: a client that tries one wrong
        # password with several mechanisms made one failed attempt, not several.
        self._failed_accounts: set[str | None] = set()
        self._opened_at = self._last_activity = self._loop.time()
        self._inbox: collections.deque[bytes] = collections.deque()
        self._inbox_bytes = 0
        self._reading_paused = False
        self._writing_paused = False
        self._lost = False
        # The connection's task waits on this for input, or for the peer to read.
        self._wakeup: asyncio.Future[None] | None = None
        self._flush_scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._gone: asyncio.Future[None] = self._loop.create_future()

    # ------------------------------------------------ asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start serving the new connection."""
        # Always a stream transport here (uvloop's does not derive from asyncio's class).
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=_OUTBOX_HIGH)
        peer = transport.get_extra_info("peername")
        self.address = peer[0] if isinstance(peer, tuple) else "local"
        self._task = self._loop.create_task(self._run())

    def data_received(self, data: bytes) -> None:
        """Queue input for the connection's task."""
        self._inbox.append(data)
        self._inbox_bytes += len(data)
        self._last_activity = self._loop.time()
        if self._inbox_bytes > _INBOX_HIGH and not self._reading_paused and self.transport:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        """The peer will send nothing more: finish what arrived, then end."""
        self._lost = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is closed."""
        self._lost = True
        self._cancel_timer()
        if not self._gone.done():
            self._gone.set_result(None)
        self._wake()

    def pause_writing(self) -> None:
        """The peer reads slower than it is written to: stop reading its input."""
        self._writing_paused = True

    def resume_writing(self) -> None:
        """The peer caught up."""
        self._writing_paused = False
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _wait(self) -> None:
        self._wakeup = self._loop.create_future()
        try:
            await self._wakeup
        finally:
            self._wakeup = None

    # --------------------------------------------------------------- the task

    async def _run(self) -> None:
        try:
            await self.run()
        except Exception:
            log.exception("connection from %s failed", self.address)
            if self.transport is not None:
                self.transport.abort()

    async def run(self) -> None:
        """Serve the connection; returns when the stream is closed."""
        limiter = self.server.limiter
        if not limiter.connection_opened(self.address):
            self.stream.close("policy-violation", "too many connections from your address")
            await self._flush_and_close()
            return
        self.server.connections.add(self)
        self._arm_timer()
        try:
            await self._serve()
        finally:
            self.server.connections.discard(self)
            limiter.connection_closed(self.address)
            self._cancel_timer()
            await self._teardown()

    async def _serve(self) -> None:
        inbox = self._inbox
        while self.stream.state is not State.CLOSED:
            if not inbox:
                if self._lost:
                    break
                await self._wait()
                continue
            data = inbox.popleft() if len(inbox) == 1 else b"".join(inbox)
            inbox.clear()
            self._inbox_bytes = 0
            if self._reading_paused and self.transport is not None:
                self._reading_paused = False
                self.transport.resume_reading()
            await self._handle(self.stream.receive_data(data))
            while self._writing_paused and not self._lost:
                await self._wait()

    async def _handle(self, events: list[StreamEvent]) -> None:
        queue = collections.deque(events)
        while queue and not self._ended_by_server:
            event = queue.popleft()
            if isinstance(event, StanzaReceived):
                await self.server.router.route(event.stanza, self.session)
            elif isinstance(event, NonzaReceived):
                await self.server.hooks.fire(nonza(event.element.tag), Nonza(self, event.element))
            elif isinstance(event, TLSRequested):
                queue.extendleft(reversed(await self._start_tls()))
            elif isinstance(event, CredentialsNeeded):
                queue.extendleft(reversed(await self._lookup(event)))
            elif isinstance(event, AuthFailed):
                self._login_failed(event)
            elif isinstance(event, Authenticated):
                self._authenticated_at = time.monotonic()
                log.info("login %s from %s", event.jid, self.address)
            elif isinstance(event, BindRequested):
                queue.extendleft(reversed(self._bind(event.requested)))
                if self.session is not None:
                    self._write_soon()
                    await self.server.hooks.fire(SESSION_BOUND, self.session)
            elif isinstance(event, PreAuthStanza):
                assert self.stream.domain is not None
                request = PreAuthRequest(self, event.stanza, self.stream.domain)
                payload_ns = event.stanza[0].tag[1:].partition("}")[0]
                if not await self.server.hooks.fire(preauth_iq(payload_ns), request):
                    reply = error_reply(event.stanza, "service-unavailable")
                    if reply is not None:
                        request.reply(reply)
            elif isinstance(event, AckRequested):
                # Every stanza before the <r/> has been routed (and stored) by now.
                self.stream.send_ack(event.handled)
            elif isinstance(event, SMEnableRequested):
                queue.extendleft(reversed(self._enable_sm(event.resume)))
            elif isinstance(event, SMResumeRequested):
                queue.extendleft(reversed(self._resume(event)))
            elif isinstance(event, StreamClosed):
                self._closing = True
        self._write_soon()

    # ------------------------------------------------------------ time limits

    def _arm_timer(self) -> None:
        """(Re)start the timer for the limit of the stream's current state."""
        self._cancel_timer()
        limits = self.server.config.limits
        if self.stream.state is State.ESTABLISHED:
            when = max(self._last_activity, self._loop.time()) + limits.keepalive_interval
        else:
            when = self._opened_at + limits.auth_timeout
        self._timer = self._loop.call_at(when, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self._lost or self.stream.state is State.CLOSED:
            return
        limits = self.server.config.limits
        now = self._loop.time()
        if self.stream.state is State.ESTABLISHED:
            if now - self._last_activity >= limits.keepalive_interval:
                # Quiet for a whole interval: show the client the stream is alive, and let
                # a dead connection surface as a write error.
                self.stream.send_keepalive()
                if self.stream.sm is not None and self.stream.sm.unacked:
                    self.stream.request_ack()
                self._write_now()
                self._last_activity = now
            self._arm_timer()
        elif now - self._opened_at >= limits.auth_timeout:
            self.close_from_server("connection-timeout", "no login within the time limit")
        else:
            self._arm_timer()

    def _login_time_left(self) -> float:
        elapsed = self._loop.time() - self._opened_at
        return max(0.0, self.server.config.limits.auth_timeout - elapsed)

    # ------------------------------------------------------ answers to events

    async def _start_tls(self) -> list[StreamEvent]:
        tls = self.server.tls
        assert tls is not None
        assert self.transport is not None
        # Written now and handed to the TLS layer before this task yields: the client's
        # handshake must not reach data_received as stream input.
        self._write_now()
        try:
            async with asyncio.timeout(self._login_time_left()):
                upgraded = await self._loop.start_tls(
                    self.transport, self, tls.context, server_side=True
                )
        except (TimeoutError, ConnectionError, OSError) as exc:
            log.info("TLS handshake with %s failed: %s", self.address, exc.__class__.__name__)
            self._closing = True
            return self.stream.close()
        if upgraded is None:
            self._closing = True
            return self.stream.close()
        self.transport = upgraded
        return self.stream.tls_established(tls.channel_binding)

    @property
    def login_account(self) -> JID | None:
        """The account this connection is logged in to, or is logging in to."""
        return self.stream.login_account

    def _account_name(self, username: str | None) -> str | None:
        assert self.stream.domain is not None
        if username is None:
            return None
        try:
            return str(JID.build(username, self.stream.domain))
        except InvalidJID:
            return None

    async def _lookup(self, event: CredentialsNeeded) -> list[StreamEvent]:
        account = self._account_name(event.username)
        # Decided before the account is looked up, and alike for accounts that do not
        # exist: a refusal says nothing about whether the account exists.
        refusal = self.server.failed_logins.refusal(self.address, account)
        if refusal is not None:
            log.info("login from %s refused: %s", self.address, refusal)
            return self.stream.close("policy-violation", refusal)
        state = None
        if account is not None:
            state = await self.server.accounts.state(JID.parse(account))
        if self.stream.state is not State.SASL_LOOKUP:
            # The account's sessions were ended while it was looked up; this login with them.
            return []
        if state is None:
            return self.stream.supply_credentials(None)
        return self.stream.supply_credentials(state.scram, disabled=state.disabled)

    def _login_failed(self, event: AuthFailed) -> None:
        log.info("failed login from %s (%s)", self.address, event.condition)
        if event.condition not in _GUESSES:
            return
        account = self._account_name(event.username)
        if account in self._failed_accounts:
            return
        self._failed_accounts.add(account)
        self.server.failed_logins.failed(self.address, account)

    def _bind(self, requested: str | None) -> list[StreamEvent]:
        account = self.stream.jid
        assert account is not None
        session = Session(account, self.address, self.send, self.close_from_server)
        session.authenticated_at = self._authenticated_at
        result = self.server.router.bind(session, requested)
        if isinstance(result, str):
            text = "too many sessions on this account" if result == "resource-constraint" else ""
            return self.stream.refuse_bind(result, text)
        self.session = result
        events = self.stream.bind_resource(result.jid)
        # From now on the limit is the keepalive interval, not the login deadline.
        self._arm_timer()
        return events

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
        session.rebind(self.send, self.close_from_server)
        # The password was just proven on this connection.
        session.authenticated_at = self._authenticated_at
        self.session = session
        events = self.stream.resume_sm(session.jid, state, event.handled)
        if state.id is not None:
            self.server.resumption.live(state.id, self)
        self._arm_timer()
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
        if self.transport is not None:
            self.transport.close()
        self._wake()
        return session, state

    # ------------------------------------------------------------------ output

    def send(self, stanza: Element) -> None:
        """Queue a stanza for this client; it is written at the end of this loop turn."""
        self.stream.send_stanza(stanza)
        self._write_soon()

    def _write_soon(self) -> None:
        # Every stanza queued for this client in one event-loop turn goes out in one write.
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._write_now)

    def _write_now(self) -> None:
        self._flush_scheduled = False
        data = self.stream.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close_from_server(self, condition: str, text: str) -> None:
        """Close the stream with a stream error; its session (if any) acts no more."""
        self._ended_by_server = True
        if self.session is not None:
            self.session.closed = True
        self.stream.close(condition, text)
        self._write_now()
        self._closing = True
        if self.transport is not None:
            # The buffered bytes still go out (within _CLOSE_GRACE, in the teardown).
            self.transport.close()
        self._wake()

    async def _flush_and_close(self) -> None:
        self._write_now()
        if self.transport is None:
            return
        self.transport.close()
        try:
            async with asyncio.timeout(_CLOSE_GRACE):
                await asyncio.shield(self._gone)
        except TimeoutError:
            # A peer that does not read its last bytes does not hold the socket open.
            self.transport.abort()

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
        self.close_from_server("system-shutdown", "the server is shutting down")

"""The client event API: one unlocked account, kept connected, publishing typed events.

A `ClientSession` is what every user interface stands on (the CLI, the terminal chat, the
web page). It unlocks the identity once (`Account.open`), connects, and stays connected —
reconnecting with backoff after a drop and resuming the stream (XEP-0198) when the server
still holds it — while it publishes immutable events (`ironwall.client.events`) to every
subscriber of `events()`. Commands (`send`, `add_contact`, `verify`, `history`, ...) do the
rest. Errors are typed (`ironwall.client.errors`); the UI turns them into words. Crypto runs
in worker threads, so the event loop is never held up by it.

On every fresh login (not a resumption) the session reads the roster, turns on carbons,
reads the archive (history on every device), then announces presence (which brings
offline messages; they are the archive's copies and are recorded once), retries messages
it could not open before, reads every contact's keys and the shared record of verified
contacts, and sends the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from slixmpp import JID
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ironwall.client import ox
from ironwall.client.addresses import contact_address
from ironwall.client.archive import sync_archive
from ironwall.client.errors import (
    AccountDisabled,
    ClientError,
    ConnectFailed,
    LoginRefused,
    ServerUnreachable,
    UntrustedCertificate,
)
from ironwall.client.events import (
    ChatState,
    ConnectionChanged,
    ConnectionState,
    Contact,
    ContactChanged,
    Event,
    Message,
    MessageUpdated,
    PresenceChanged,
    SubscriptionRequested,
    SyncFinished,
)
from ironwall.client.keyring import KeyRing
from ironwall.client.receiving import Inbox
from ironwall.client.scram import SaltedPassword
from ironwall.client.sending import Sending
from ironwall.client.server_account import register_revocation_verifier
from ironwall.client.state import LocalState
from ironwall.client.xmpp import Connection, IqFailed, close, connect_once
from ironwall.e2e import (
    ContactTrust,
    Identity,
    TrustError,
    TrustState,
    UserAcceptedChange,
    UserVerified,
    revocation_verifier,
)

if TYPE_CHECKING:
    from ironwall.client.account import Account

__all__ = ["ClientSession", "EventStream"]

log = logging.getLogger(__name__)

CARBONS = "urn:xmpp:carbons:2"
_FIRST_RETRY = 1.0
_LONGEST_RETRY = 60.0
_BACKLOG = 10_000
#: Failures that trying again cannot mend: the user has to act.
_FATAL = (LoginRefused, AccountDisabled, UntrustedCertificate)


class EventStream:
    """One subscriber's events, in order, as an async iterator (`ClientSession.events`)."""

    def __init__(self, session: ClientSession) -> None:
        self._session = session
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        session._subscribers.add(self._queue)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    async def next(self, timeout: float | None = None) -> Event | None:  # noqa: ASYNC109
        """The next event, or None when ``timeout`` passes or the session closes."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        return item

    def close(self) -> None:
        """Stop receiving events."""
        self._session._subscribers.discard(self._queue)
        self._queue.put_nowait(None)


class ClientSession:
    """An unlocked account on this device, connected for as long as it is open."""

    def __init__(
        self,
        account: Account,
        identity: Identity,
        state: LocalState,
        *,
        password: str | None,
        available: bool,
    ) -> None:
        self.account = account
        self.jid = account.jid
        self.identity = identity
        self.state = state
        #: Whether this session announces presence (and so receives messages live).
        self.available = available
        self._password = password
        self._subscribers: set[asyncio.Queue[Event | None]] = set()
        #: Events before the first subscriber came, for it (None once it has them).
        self._backlog: list[Event] | None = []
        self.keyring = KeyRing(self, self.emit)
        self.inbox = Inbox(self)
        self.sending = Sending(self)
        self._connection: Connection | None = None
        self.connection_state = ConnectionState.OFFLINE
        #: Why the session stopped trying to connect (the user must act), if it did.
        self.fatal: ConnectFailed | None = None
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._resumed = False
        self._requests: list[str] = []
        self._online = asyncio.Event()

    # ----------------------------------------------------------------- events

    def events(self, *, replay: bool = True) -> EventStream:
        """Subscribe: every event from now on, in order.

        With ``replay``, the first subscriber also gets what happened before it subscribed
        (while the session was starting), so a UI that subscribes after `Account.open`
        misses nothing.
        """
        stream = EventStream(self)
        backlog, self._backlog = self._backlog, None
        for event in backlog if replay and backlog else ():
            stream._queue.put_nowait(event)
        return stream

    def emit(self, event: Event) -> None:
        """Publish ``event`` to every subscriber."""
        if self._backlog is not None and len(self._backlog) < _BACKLOG:
            self._backlog.append(event)
        for queue in list(self._subscribers):
            queue.put_nowait(event)

    def spawn(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Run ``work`` in the background; a failure is logged (never with content)."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                error = finished.exception()
                log.warning("%s failed: %s", what, error.__class__.__name__)

        task.add_done_callback(done)

    # ------------------------------------------------------------- connection

    @property
    def connection(self) -> Connection:
        """The XMPP stream (which may be down: see ``online``)."""
        assert self._connection is not None
        return self._connection

    def is_closing(self) -> bool:
        """Whether ``close`` was called."""
        return self._closing

    @property
    def online(self) -> bool:
        """Whether the stream is up and logged in."""
        return self.connection_state in (ConnectionState.ONLINE, ConnectionState.RESUMED)

    def _set_state(
        self, state: ConnectionState, reason: str = "", retry_in: float | None = None
    ) -> None:
        self.connection_state = state
        if state in (ConnectionState.ONLINE, ConnectionState.RESUMED):
            self._online.set()
        else:
            self._online.clear()
        self.emit(ConnectionChanged(state, reason, retry_in))

    async def start(self, *, offline_ok: bool = False) -> None:
        """Connect; return once online, or raise the `ConnectFailed` that says why not.

        With ``offline_ok`` an unreachable server is not an error: the session starts
        offline and keeps trying in the background (the events say how it goes).
        """
        self._connection = self._make_connection()
        self.inbox.start()
        try:
            await self._connect()
        except ServerUnreachable as exc:
            if not offline_ok:
                raise
            self._set_state(ConnectionState.OFFLINE, str(exc), _FIRST_RETRY)
            self._runner = asyncio.ensure_future(self._stay_connected(connect_first=True))
            return
        self._runner = asyncio.ensure_future(self._stay_connected())

    def _make_connection(self) -> Connection:
        salted = SaltedPassword.from_json(self.state.get("scram") or "")
        conn = Connection(self.jid, self.account.address, password=self._password, salted=salted)
        conn.plugin["xep_0198"].window = 1
        conn.plugin["xep_0198"].window_counter = 1
        conn.register_handler(
            Callback(
                "ironwall-messages", MatchXPath("{jabber:client}message"), self.inbox.on_stanza
            )
        )
        conn.add_event_handler("session_resumed", lambda _e: setattr(self, "_resumed", True))
        conn.add_event_handler("session_start", lambda _e: setattr(self, "_resumed", False))
        conn.add_event_handler("stanza_acked", self.sending.on_acked)
        conn.add_event_handler("changed_status", self._on_presence)
        conn.add_event_handler("presence_subscribe", self._on_subscribe)
        conn.add_event_handler("presence_subscribed", self._on_subscribed)
        conn.add_event_handler("roster_update", self._on_roster_update)
        conn.auto_authorize = None
        conn.auto_subscribe = False
        return conn

    async def _connect(self) -> None:
        self._set_state(ConnectionState.CONNECTING)
        conn = self.connection
        await connect_once(conn)
        if conn.salted_password is not None:
            self.state.set("scram", conn.salted_password.to_json())
        resumed = self._resumed
        self._set_state(ConnectionState.RESUMED if resumed else ConnectionState.ONLINE)
        try:
            await self._after_login(resumed=resumed)
        except (ClientError, IqFailed) as exc:
            log.warning("setting up the session failed: %s", exc.__class__.__name__)

    async def _stay_connected(self, *, connect_first: bool = False) -> None:
        """Reconnect after every drop, backing off up to a minute, until closed or refused."""
        delay = _FIRST_RETRY
        connected = not connect_first
        while not self.is_closing():
            if connected:
                await self.connection.closed.wait()
                if self.is_closing():
                    return
                failure = self.connection.failure
                if isinstance(failure, _FATAL):
                    self._give_up(failure)
                    return
                delay = _FIRST_RETRY
                reason = str(failure) if failure else "the connection was lost"
                self._set_state(ConnectionState.OFFLINE, reason, delay)
            await asyncio.sleep(delay)
            try:
                await self._connect()
                connected = True
            except _FATAL as exc:
                self._give_up(exc)
                return
            except ConnectFailed as exc:
                connected = False
                delay = min(delay * 2, _LONGEST_RETRY) * random.uniform(0.8, 1.2)
                self._set_state(ConnectionState.OFFLINE, str(exc), delay)

    def _give_up(self, failure: ConnectFailed) -> None:
        self.fatal = failure
        self._set_state(ConnectionState.OFFLINE, str(failure), None)

    async def _after_login(self, *, resumed: bool) -> None:
        if resumed:
            await self.sending.flush()
            return
        conn = self.connection
        await conn.get_roster()
        await self._register_revocation()
        # Before any message is read: what another device verified labels them here too.
        try:
            await self.keyring.sync_verified()
        except (ClientError, IqFailed) as exc:
            log.info(
                "the record of verified contacts could not be read: %s", exc.__class__.__name__
            )
        if self.available:
            with contextlib.suppress(IqFailed):
                await conn.request(f"<iq type='set'><enable xmlns='{CARBONS}'/></iq>")
            # The archive first: what arrived meanwhile is read there, as history, before
            # presence brings the offline copies of the same messages.
            count = await sync_archive(self)
            self.emit(SyncFinished(count))
            await self._announce_presence()
            self.inbox.retry_deferred()
            self.spawn(self.keyring.refresh_all(self._contact_jids()), "key refresh")
            self.spawn(self._check_own_key(), "own key check")
        await self.sending.flush()

    async def _register_revocation(self) -> None:
        if self.state.get("revocation_registered"):
            return
        if await register_revocation_verifier(self.connection, revocation_verifier(self.identity)):
            self.state.set("revocation_registered", "1")

    async def _announce_presence(self) -> None:
        conn = self.connection
        # The server echoes initial presence to its sender (RFC 6121 §4.2.2): once it is
        # back, the server counts this session as available and delivers to it.
        echoed = asyncio.get_running_loop().create_future()

        def on_presence(presence: Any) -> None:
            if presence["from"] == conn.boundjid and not echoed.done():
                echoed.set_result(None)

        conn.add_event_handler("presence_available", on_presence)
        try:
            # XEP-0163 +notify: contacts' servers tell us at once when their keys change,
            # and our own server when another of our devices verified someone. The server
            # learns it from the caps hash (XEP-0115) of our presence: computed first. The
            # features belong to the bound full JID, known only now.
            for node in (ox.KEYS_NODE, ox.VERIFIED_NODE):
                conn.plugin["xep_0163"].add_interest(node, jid=conn.boundjid)
            await conn.plugin["xep_0115"].update_caps(conn.boundjid, broadcast=False)
            conn.send_presence()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(echoed, 10)
        finally:
            conn.del_event_handler("presence_available", on_presence)

    async def _check_own_key(self) -> None:
        """Publish our key again if the server does not list it (a server or an attacker
        may have dropped it; contacts could not write to us then)."""
        announced, _keys = await ox.fetch_public_keys(self.connection, self.jid)
        if self.identity.fingerprint not in announced:
            await ox.publish_public_key(self.connection, self.identity.public_key)

    async def close(self) -> None:
        """Disconnect and stop; idempotent."""
        if self._closing:
            return
        self._closing = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.inbox.stop()
        if self._connection is not None:
            await close(self._connection)
        for queue in list(self._subscribers):
            queue.put_nowait(None)
        self._subscribers.clear()

    async def ping(self) -> None:
        """Return once the server has processed everything sent so far."""
        conn = self.connection
        await conn.plugin["xep_0199"].ping(JID(conn.domain), timeout=20)

    async def settled(self) -> None:
        """Wait until the server took what was sent, every received message is processed,
        and the background work of the login (key refreshes, syncs) is done."""
        await self.ping()
        await self.inbox.drained()
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.wait(pending)
        await self.inbox.drained()

    def send_xml(self, xml: str) -> None:
        """Send a small stanza written as XML now, if online (receipts, markers, states)."""
        if not self.online:
            return
        from xml.etree import ElementTree as ET

        self.connection.Message(xml=ET.fromstring(xml)).send()  # noqa: S314 - our own XML

    # ------------------------------------------------------------- contacts

    def _contact_jids(self) -> list[str]:
        roster = self.connection.client_roster
        names = {str(jid) for jid in roster if str(jid) != self.jid}
        return sorted(names | set(self.state.contacts()))

    def shares_presence_with(self, jid: str) -> bool:
        """Whether ``jid`` sees our presence (subscription ``from`` or ``both``)."""
        if self._connection is None:
            return False
        roster = self.connection.client_roster
        return jid in roster and bool(roster[jid]["from"])

    def contact(self, jid: str) -> Contact:
        """One contact as the contact list shows it."""
        return self._contact(jid, self.state.unread_counts())

    def _contact(self, jid: str, unread_counts: dict[str, int]) -> Contact:
        trust = self.state.trust(jid)
        item: Any = None
        if self._connection is not None and jid in self.connection.client_roster:
            item = self.connection.client_roster[jid]
        waiting = trust.offered or (trust.pinned if trust.state is TrustState.CHANGED else set())
        return Contact(
            jid=jid,
            subscription=item["subscription"] if item is not None else "none",
            request_sent=bool(item["pending_out"]) if item is not None else False,
            online=bool(item.resources) if item is not None else False,
            trust=trust.state,
            plaintext_allowed=self.state.plaintext_allowed(jid),
            unread=unread_counts.get(jid, 0),
            fingerprints=tuple(sorted(trust.offered or trust.pinned - trust.revoked)),
            waiting_fingerprints=tuple(sorted(waiting)),
        )

    def contacts(self) -> list[Contact]:
        """Every contact: the roster, and anyone this device holds keys or history for."""
        names = set(self.state.peers())
        if self._connection is not None:
            names |= {str(jid) for jid in self.connection.client_roster}
        names |= set(self.state.contacts())
        names.discard(self.jid)
        unread_counts = self.state.unread_counts()
        return [self._contact(jid, unread_counts) for jid in sorted(names)]

    def pending_requests(self) -> list[str]:
        """Who asked to become a contact and has not been answered yet."""
        return list(self._requests)

    async def add_contact(self, jid: str) -> ContactTrust:
        """Ask to see ``jid``'s presence, approve its request in advance, and pin its keys."""
        jid = contact_address(jid)
        conn = self.connection
        conn.update_roster(JID(jid), subscription="none")
        conn.send_presence(pto=jid, ptype="subscribed")
        conn.send_presence(pto=jid, ptype="subscribe")
        return await self.keyring.refresh(jid)

    async def accept_contact(self, jid: str) -> ContactTrust:
        """Approve ``jid``'s subscription request, subscribe back, and pin its keys."""
        jid = contact_address(jid)
        self.connection.send_presence(pto=jid, ptype="subscribed")
        self.connection.send_presence(pto=jid, ptype="subscribe")
        self._answered(jid)
        return await self.keyring.refresh(jid)

    def deny_contact(self, jid: str) -> None:
        """Refuse ``jid``'s subscription request."""
        jid = contact_address(jid)
        self.connection.send_presence(pto=jid, ptype="unsubscribed")
        self._answered(jid)

    async def remove_contact(self, jid: str) -> None:
        """Remove ``jid`` from the roster (ending both subscriptions) and forget its trust.

        The history with ``jid`` stays on this device.
        """
        jid = contact_address(jid)
        try:
            await self.connection.request(
                "<iq type='set'><query xmlns='jabber:iq:roster'>"
                f"<item jid='{jid}' subscription='remove'/></query></iq>"
            )
        except IqFailed as exc:
            if exc.condition != "item-not-found":
                raise ClientError(f"the server refused to remove {jid} ({exc.condition})") from None
        self.state.forget_contact(jid)
        self.emit(ContactChanged(None, jid))

    def _answered(self, jid: str) -> None:
        with contextlib.suppress(ValueError):
            self._requests.remove(jid)

    async def _on_subscribe(self, presence: Any) -> None:
        sender = str(presence["from"].bare)
        item = self.connection.client_roster[sender]
        if item["pending_out"] or item["to"]:
            # We asked first: their request is the other half of the same handshake.
            self.connection.send_presence(pto=sender, ptype="subscribed")
            with contextlib.suppress(ClientError):
                await self.keyring.refresh(sender)
            return
        if sender not in self._requests:
            self._requests.append(sender)
        self.emit(SubscriptionRequested(sender))

    async def _on_subscribed(self, presence: Any) -> None:
        sender = str(presence["from"].bare)
        self.emit(ContactChanged(self.contact(sender), sender))
        with contextlib.suppress(ClientError):
            await self.keyring.refresh(sender)

    def _on_roster_update(self, iq: Any) -> None:
        for jid in iq["roster"]["items"]:
            name = str(jid)
            if name != self.jid:
                self.emit(ContactChanged(self.contact(name), name))

    def _on_presence(self, presence: Any) -> None:
        sender = presence["from"]
        bare = str(sender.bare)
        if bare == self.jid or not sender.user:
            return
        roster = self.connection.client_roster
        online = bare in roster and bool(roster[bare].resources)
        show = presence["show"] if presence["type"] != "unavailable" else ""
        self.emit(PresenceChanged(bare, online, str(show or ""), str(presence["status"] or "")))

    # ------------------------------------------------------------------ keys

    async def refresh_keys(self, jid: str) -> ContactTrust:
        """Read ``jid``'s keys from its server now."""
        return await self.keyring.refresh(contact_address(jid))

    async def verify(self, jid: str) -> ContactTrust:
        """Mark the contact's current keys as verified in person (on every device)."""
        trust = self.state.trust(jid)
        candidates = trust.offered or trust.pinned - trust.revoked
        try:
            trust = trust.apply(UserVerified(frozenset(candidates)))
        except TrustError:
            raise ClientError(f"{jid} has no current key to verify") from None
        self.state.set_trust(jid, trust)
        self.emit(ContactChanged(self.contact(jid), jid))
        if self.online:
            try:
                await self.keyring.publish_verified(jid, trust.pinned)
            except (ClientError, IqFailed) as exc:
                log.warning("the verification could not be shared: %s", exc.__class__.__name__)
        return trust

    def accept_key(self, jid: str) -> ContactTrust:
        """Acknowledge a contact's changed key: sending resumes, unverified."""
        trust = self.state.trust(jid)
        try:
            trust = trust.apply(UserAcceptedChange())
        except TrustError:
            raise ClientError(f"{jid}'s key has not changed; there is nothing to accept") from None
        self.state.set_trust(jid, trust)
        self.emit(ContactChanged(self.contact(jid), jid))
        return trust

    def allow_plaintext(self, jid: str, allowed: bool) -> None:
        """The user's explicit choice: unencrypted messages to ``jid`` when it has no key."""
        self.state.allow_plaintext(jid, allowed)
        self.emit(ContactChanged(self.contact(jid), jid))

    # -------------------------------------------------------------- messages

    async def send(self, jid: str, body: str) -> Message:
        """Send ``body`` to ``jid``, encrypted (see `Sending.send`); queued while offline."""
        return await self.sending.send(contact_address(jid), body)

    def history(self, jid: str, *, limit: int = 50, before_id: int | None = None) -> list[Message]:
        """A page of the conversation with ``jid``, oldest first."""
        return self.state.history(jid, limit=limit, before_id=before_id)

    def search(self, jid: str, text: str) -> list[Message]:
        """Messages with ``jid`` containing ``text``."""
        return self.state.search(jid, text)

    def unread_counts(self) -> dict[str, int]:
        """Unread messages per contact."""
        return self.state.unread_counts()

    def mark_read(self, jid: str | None = None) -> list[Message]:
        """Mark ``jid``'s (or all) unread messages read, and tell the sender (XEP-0333)."""
        read = self.state.mark_read(jid)
        newest: dict[str, Message] = {}
        for message in read:
            updated = self.state.message(message.id)
            if updated is not None:
                self.emit(MessageUpdated(updated))
            if message.origin_id is not None:
                newest[message.peer] = message
        for peer, message in newest.items():
            if message.origin_id is not None and self.shares_presence_with(peer):
                self.sending.displayed(peer, message.origin_id)
        return read

    def read_elsewhere(self, peer: str, stanza_id: str) -> None:
        """Another device of ours showed ``peer``'s messages up to ``stanza_id``."""
        for message in self.state.history(peer, limit=200):
            if message.origin_id == stanza_id:
                for read in self.state.mark_read(peer, up_to=message.id):
                    updated = self.state.message(read.id)
                    if updated is not None:
                        self.emit(MessageUpdated(updated))
                return

    def set_chat_state(self, jid: str, state: ChatState) -> None:
        """Tell ``jid`` that we are typing, paused, or gone (only contacts who see us)."""
        if self.shares_presence_with(jid):
            self.sending.chat_state(jid, state)

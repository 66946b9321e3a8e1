"""The Ironwall client: an account on this device, and its secure messaging session.

``Account`` is what lives on the device (local state, server address, the cached
sealed key). ``Account.session(passphrase)`` logs in, unlocks the identity and yields a
``Session`` that sends and receives end-to-end encrypted messages, keeps contacts'
keys pinned and their trust states current, and refuses any silent downgrade.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import secrets
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from slixmpp import JID
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ironwall.client import ox
from ironwall.client.errors import (
    ClientError,
    ContactHasNoKey,
    SendingBlocked,
    UnknownAccount,
)
from ironwall.client.state import HistoryEntry, LocalState
from ironwall.client.xmpp import Connection, IqFailed, ServerAddress, connect
from ironwall.e2e import (
    ContactTrust,
    Identity,
    InvalidKey,
    KeyRevoked,
    KeysAnnounced,
    KeyUnusable,
    PublicKey,
    TrustError,
    TrustState,
    UntrustedMessage,
    UserAcceptedChange,
    UserVerified,
    WeakPassphrase,
    WrongPassphrase,
    change_passphrase_async,
    check_passphrase,
    derive_login_password_async,
    new_recovery_code,
    open_message,
    open_secret_key_async,
    seal_message,
    seal_secret_key_async,
)

__all__ = ["FALLBACK_BODY", "Account", "Incoming", "Session"]

OX_NS = "urn:xmpp:openpgp:0"
CARBONS = "urn:xmpp:carbons:2"
FORWARD = "urn:xmpp:forward:0"
MAM = "urn:xmpp:mam:2"
SID = "urn:xmpp:sid:0"
FALLBACK_BODY = (
    "This message is encrypted with OpenPGP for XMPP (XEP-0373); your client cannot show it."
)


@dataclass(frozen=True)
class Incoming:
    """A message as ``listen`` reports it (see ``HistoryEntry`` for ``status``)."""

    sender: str
    body: str | None
    status: str
    detail: str
    sent_at: float


def _bare(jid: str) -> str:
    return jid.split("/", 1)[0]


class Account:
    """One XMPP account on this device."""

    def __init__(self, jid: str, home: Path, *, insecure_fast_kdf_for_tests: bool = False) -> None:
        self.jid = _bare(jid)
        # Test suites only: makes every Argon2id here nearly free (see ironwall.e2e).
        self.fast_kdf = insecure_fast_kdf_for_tests
        self.directory = home / self.jid
        self.state = LocalState(self.directory / "state.db")

    @property
    def address(self) -> ServerAddress:
        """Where this device connects for the account."""
        host = self.state.get("server_host")
        port = int(self.state.get("server_port") or 5222)
        ca = self.state.get("ca_file")
        return ServerAddress(host, port, Path(ca) if ca else None)

    def remember_address(self, address: ServerAddress) -> None:
        """Keep the server address and CA file for later commands."""
        self.state.set("server_host", address.host)
        self.state.set("server_port", str(address.port))
        self.state.set("ca_file", str(address.ca_file) if address.ca_file else None)

    def close(self) -> None:
        """Close the local state."""
        self.state.close()

    # ----------------------------------------------------------- lifecycle

    async def create(
        self,
        passphrase: str,
        *,
        existing_password: str | None = None,
    ) -> tuple[str, str]:
        """Register (or use the existing account), make and publish the keys.

        Returns the fingerprint and a recovery code to show the user once.
        """
        try:
            check_passphrase(passphrase, user_inputs=[self.jid, self.jid.split("@")[0]])
        except WeakPassphrase as exc:
            raise ClientError(f"that passphrase is too weak: {exc}") from None
        identity = Identity.generate(self.jid)
        code = new_recovery_code()
        blob = await seal_secret_key_async(
            identity,
            passphrase,
            recovery_code=code,
            insecure_fast_kdf_for_tests=self.fast_kdf,
        )
        password = existing_password or await self._derive(passphrase)
        async with connect(
            self.jid, password, self.address, register=existing_password is None
        ) as conn:
            await ox.publish_public_key(conn, identity.public_key)
            await ox.store_sealed_key(conn, blob)
        self._remember_login(password, blob, identity)
        self.state.set("login_kind", "given" if existing_password else "derived")
        return identity.fingerprint, code

    def _remember_login(self, password: str, blob: bytes, identity: Identity) -> None:
        # The login password is derived from the passphrase (or given for an existing
        # account); caching it lets this device log in for a recovery. It cannot
        # decrypt anything: the sealed key still needs the passphrase.
        self.state.set("login_password", password)
        self.state.set("sealed_key", base64.b64encode(blob).decode())
        self.state.set("fingerprint", identity.fingerprint)

    async def _login_password(self, passphrase: str, given: str | None) -> str:
        if given is not None:
            return given
        cached = self.state.get("login_password")
        if cached is not None:
            return cached
        return await self._derive(passphrase)

    async def _derive(self, passphrase: str) -> str:
        return await derive_login_password_async(
            passphrase, self.jid, insecure_fast_kdf_for_tests=self.fast_kdf
        )

    async def _unlock(self, blob: bytes, secret: str) -> Identity:
        try:
            return await open_secret_key_async(blob, secret)
        except WrongPassphrase:
            raise ClientError(
                "wrong passphrase; nothing was changed (try again, or use 'ironwall account recover')"
            ) from None

    @contextlib.asynccontextmanager
    async def session(
        self,
        passphrase: str,
        *,
        password: str | None = None,
        available: bool = False,
        showing: bool | None = None,
    ) -> AsyncIterator[Session]:
        """Log in, unlock the identity, and yield a messaging session.

        Only an ``available`` session announces presence, and so receives messages
        (including those stored while offline, XEP-0160); other sessions leave them on
        the server for the next one that is.
        """
        login = await self._login_password(passphrase, password)
        cached = self.state.get("sealed_key")
        identity = await self._unlock(base64.b64decode(cached), passphrase) if cached else None
        session = Session(self, identity)
        session.showing = available if showing is None else showing
        async with connect(self.jid, login, self.address, setup=session.attach) as conn:
            session.connection = conn
            if identity is None:
                blob = await ox.fetch_sealed_key(conn)
                if blob is None:
                    raise ClientError(
                        f"{self.jid} has no Ironwall key on its server; create one with "
                        "'ironwall account create --existing'"
                    )
                session.identity = identity = await self._unlock(blob, passphrase)
                self._remember_login(login, blob, identity)
                self.state.set("login_kind", "given" if password else "derived")
            elif password is not None:
                self.state.set("login_password", password)
            await session.start(available=available)
            reconnecting = asyncio.ensure_future(session.stay_connected()) if available else None
            try:
                yield session
            finally:
                if reconnecting is not None:
                    reconnecting.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reconnecting

    async def recover(
        self, recovery_code: str, new_passphrase: str, *, password: str | None = None
    ) -> None:
        """Unlock with the recovery code and seal the key under a new passphrase."""
        try:
            check_passphrase(new_passphrase, user_inputs=[self.jid])
        except WeakPassphrase as exc:
            raise ClientError(f"that passphrase is too weak: {exc}") from None
        login = password or self.state.get("login_password")
        if login is None:
            raise ClientError(
                "this device never logged in to the account: ask the server's admin to set a new "
                "account password, then run 'ironwall account recover --password-file FILE'"
            )
        async with connect(self.jid, login, self.address) as conn:
            blob = await ox.fetch_sealed_key(conn)
            if blob is None:
                raise ClientError(f"{self.jid} has no sealed key on its server to recover")
            identity = await self._unlock(blob, recovery_code)
            resealed = await change_passphrase_async(
                blob, recovery_code, new_passphrase, insecure_fast_kdf_for_tests=self.fast_kdf
            )
            await ox.store_sealed_key(conn, resealed)
            new_login = login if password else await self._derive(new_passphrase)
            if new_login != login:
                await _change_password(conn, self.jid, new_login)
        self._remember_login(new_login, resealed, identity)

    def forget(self) -> None:
        """Delete everything this device holds for the account."""
        self.state.close()
        shutil.rmtree(self.directory, ignore_errors=True)


async def _change_password(conn: Connection, jid: str, password: str) -> None:
    user = jid.split("@", 1)[0]
    try:
        await conn.request(
            f"<iq type='set' to={quoteattr(jid.split('@', 1)[1])}><query xmlns='jabber:iq:register'>"
            f"<username>{escape(user)}</username><password>{escape(password)}</password></query></iq>"
        )
    except IqFailed as exc:
        raise ClientError(f"the server refused the password change ({exc.condition})") from None


class Session:
    """A logged-in, unlocked account: send, receive, manage contacts and keys."""

    def __init__(self, account: Account, identity: Identity | None) -> None:
        self.account = account
        self.state = account.state
        self.identity: Identity | None = identity
        self.connection: Connection | None = None
        self.incoming: asyncio.Queue[Incoming] = asyncio.Queue()
        self.requests: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._open_lock = asyncio.Lock()
        #: True while a user watches incoming messages ('listen'): they are shown, not kept for later.
        self.showing = False

    @property
    def jid(self) -> str:
        """The account's bare JID."""
        return self.account.jid

    def attach(self, conn: Connection) -> None:
        """Hook the connection's events before it connects (so nothing is missed)."""
        # slixmpp's "message" event only fires for messages with a <body>; an OX message
        # whose fallback body was stripped on the way must still be seen (and checked).
        conn.register_handler(
            Callback(
                "ironwall-ox-message",
                MatchXPath(f"{{jabber:client}}message/{{{OX_NS}}}openpgp"),
                self._on_ox_message,
            )
        )
        for kind in ("received", "sent"):
            conn.register_handler(
                Callback(
                    f"ironwall-carbon-{kind}",
                    MatchXPath(f"{{jabber:client}}message/{{{CARBONS}}}{kind}"),
                    self._on_carbon,
                )
            )
        conn.add_event_handler("message", self._on_plain_message)
        conn.add_event_handler("presence_subscribe", self._on_subscribe)
        conn.auto_authorize = None
        conn.auto_subscribe = False

    async def start(self, *, available: bool) -> None:
        """Fetch the roster; if ``available``, announce presence (which brings offline messages)."""
        conn = self._conn
        await conn.get_roster()
        if not available:
            return
        # The server echoes initial presence to its sender (RFC 6121 §4.2.2): once it is
        # back, the server counts this session as available and delivers to it.
        echoed = asyncio.get_running_loop().create_future()

        def on_presence(presence: Any) -> None:
            if presence["from"] == conn.boundjid and not echoed.done():
                echoed.set_result(None)

        conn.add_event_handler("presence_available", on_presence)
        try:
            conn.send_presence()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(echoed, 10)
        finally:
            conn.del_event_handler("presence_available", on_presence)
        # XEP-0280: see what this account's other devices send and receive.
        with contextlib.suppress(IqFailed):
            await conn.request(f"<iq type='set'><enable xmlns='{CARBONS}'/></iq>")
        await self.sync_archive()

    async def stay_connected(self, *, attempts: int = 5) -> None:
        """Reconnect after a dropped connection and resume the stream (XEP-0198).

        The server keeps the session and what it could not deliver; on resumption it
        sends again what this client never acknowledged. Runs until cancelled.
        """
        conn = self._conn
        address = self.account.address
        failures = 0
        while failures < attempts:
            await conn.closed.wait()
            resumed, fresh = asyncio.Event(), asyncio.Event()

            def on_resumed(_event: Any, done: asyncio.Event = resumed) -> None:
                done.set()

            def on_fresh(_event: Any, done: asyncio.Event = fresh) -> None:
                done.set()

            conn.closed.clear()
            conn.ended.clear()
            conn.failure = None
            conn.add_event_handler("session_resumed", on_resumed)
            conn.add_event_handler("session_start", on_fresh)
            try:
                if address.host:
                    conn.connect(address.host, address.port)
                else:
                    conn.connect()
                waiters = [asyncio.ensure_future(e.wait()) for e in (resumed, fresh)]
                done, pending = await asyncio.wait(
                    waiters, timeout=30, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()
                if not done:
                    failures += 1
                    continue
                failures = 0
                if fresh.is_set() and not resumed.is_set():
                    # The server could not resume (it restarted): start over as at login.
                    await self.start(available=True)
            finally:
                conn.del_event_handler("session_resumed", on_resumed)
                conn.del_event_handler("session_start", on_fresh)

    @property
    def _conn(self) -> Connection:
        assert self.connection is not None
        return self.connection

    @property
    def _me(self) -> Identity:
        assert self.identity is not None
        return self.identity

    # ------------------------------------------------------------------ keys

    async def refresh_keys(self, jid: str) -> ContactTrust:
        """Fetch ``jid``'s published keys and update its trust state (pins on first use)."""
        jid = _bare(jid)
        trust = self.state.trust(jid)
        try:
            announced, keys = await ox.fetch_public_keys(self._conn, jid)
        except IqFailed as exc:
            if exc.condition in (
                "service-unavailable",
                "item-not-found",
                "remote-server-not-found",
            ):
                raise ClientError(
                    f"{jid} does not exist or cannot be reached ({exc.condition})"
                ) from None
            raise ClientError(
                f"cannot fetch the keys of {jid}: the server answered {exc.condition}"
            ) from None
        usable = set()
        for key in keys:
            if not key.names(jid):
                continue
            key = self._remember_key(jid, key)
            if key.is_revoked:
                trust = _apply(trust, KeyRevoked(key.fingerprint))
            elif key.is_usable():
                usable.add(key.fingerprint)
        # A withdrawn key may have been withdrawn because it was revoked: look at it.
        for fingerprint in trust.pinned - set(announced):
            withdrawn = await ox.fetch_key(self._conn, jid, fingerprint)
            if withdrawn is not None and self._remember_key(jid, withdrawn).is_revoked:
                trust = _apply(trust, KeyRevoked(fingerprint))
        if usable:
            trust = _apply(trust, KeysAnnounced(frozenset(usable)))
        self.state.set_trust(jid, trust)
        return trust

    def _remember_key(self, jid: str, key: PublicKey) -> PublicKey:
        """Store ``key`` merged with the copy already held, so no revocation is ever lost."""
        stored = self.state.key(key.fingerprint)
        if stored is not None:
            with contextlib.suppress(InvalidKey, ValueError):
                key = PublicKey.from_bytes(stored).merge(key)
        self.state.store_key(jid, key.fingerprint, key.to_bytes())
        return key

    def _keys(self, fingerprints: frozenset[str]) -> list[PublicKey]:
        keys = []
        for fingerprint in sorted(fingerprints):
            data = self.state.key(fingerprint)
            if data is None:
                continue
            with contextlib.suppress(InvalidKey):
                keys.append(PublicKey.from_bytes(data))
        return keys

    def verify(self, jid: str) -> ContactTrust:
        """Mark the contact's current keys as verified in person."""
        trust = self.state.trust(jid)
        candidates = trust.offered or trust.pinned - trust.revoked
        try:
            trust = trust.apply(UserVerified(frozenset(candidates)))
        except TrustError:
            raise ClientError(
                f"{jid} has no current key to verify; try 'ironwall contacts' first"
            ) from None
        self.state.set_trust(jid, trust)
        return trust

    def accept_change(self, jid: str) -> ContactTrust:
        """Accept a contact's changed key (sending resumes, unverified)."""
        trust = self.state.trust(jid)
        try:
            trust = trust.apply(UserAcceptedChange())
        except TrustError:
            raise ClientError(f"{jid}'s key has not changed; there is nothing to accept") from None
        self.state.set_trust(jid, trust)
        return trust

    # ------------------------------------------------------------- contacts

    async def add_contact(self, jid: str) -> ContactTrust:
        """Ask to see ``jid``'s presence, approve its request in advance, and pin its keys."""
        jid = _bare(jid)
        conn = self._conn
        conn.update_roster(JID(jid), subscription="none")
        conn.send_presence(pto=jid, ptype="subscribed")
        conn.send_presence(pto=jid, ptype="subscribe")
        return await self.refresh_keys(jid)

    async def accept_contact(self, jid: str) -> ContactTrust:
        """Approve ``jid``'s subscription request, subscribe back, and pin its keys."""
        jid = _bare(jid)
        self._conn.send_presence(pto=jid, ptype="subscribed")
        self._conn.send_presence(pto=jid, ptype="subscribe")
        return await self.refresh_keys(jid)

    def deny_contact(self, jid: str) -> None:
        """Refuse ``jid``'s subscription request."""
        self._conn.send_presence(pto=_bare(jid), ptype="unsubscribed")

    def roster(self) -> dict[str, dict[str, Any]]:
        """The server-side roster: JID -> subscription and presence."""
        conn = self._conn
        result: dict[str, dict[str, Any]] = {}
        for jid in conn.client_roster:
            if jid == self.jid:
                continue
            item = conn.client_roster[jid]
            online = bool(item.resources)
            result[jid] = {
                "subscription": item["subscription"],
                "pending_out": item["pending_out"],
                "online": bool(online),
            }
        return result

    async def _on_subscribe(self, presence: Any) -> None:
        sender = presence["from"].bare
        item = self._conn.client_roster[sender]
        if item["pending_out"] or item["to"]:
            # We asked first: their request is the other half of the same handshake.
            self._conn.send_presence(pto=sender, ptype="subscribed")
            await self.refresh_keys(sender)
            return
        await self.requests.put(sender)

    # ------------------------------------------------------------- messages

    async def send(self, to: str, body: str) -> str:
        """Encrypt and send ``body`` to ``to``; return its origin-id.

        Plaintext only goes to a contact with no key and only if the user allowed it for
        that contact; a changed key of a verified contact, or a revoked key, stops sending.
        """
        to = _bare(to)
        trust = self.state.trust(to)
        if trust.state is TrustState.NONE or not trust.encrypt_to:
            trust = await self.refresh_keys(to)
        if trust.state is TrustState.REVOKED:
            raise SendingBlocked(
                f"{to} revoked their key: their account is compromised. Nothing was sent."
            )
        if trust.state is TrustState.NONE:
            if not self.state.plaintext_allowed(to):
                raise ContactHasNoKey(
                    f"{to} has no encryption key, so nothing was sent. If they cannot use "
                    f"encryption, allow plaintext with 'ironwall contacts allow-plaintext {to}'"
                )
            return self._send_plaintext(to, body)
        if not trust.can_send:
            raise SendingBlocked(
                f"{to}'s key changed and they were verified: check the new key with "
                f"'ironwall verify {to}', then accept it. Nothing was sent."
            )
        keys = self._keys(trust.encrypt_to)
        try:
            sealed = seal_message(self._me, {to: keys}, body)
        except KeyUnusable as exc:
            raise SendingBlocked(f"cannot encrypt to {to}: {exc}. Nothing was sent.") from None
        stanza = (
            f"<message xmlns='jabber:client' to={quoteattr(to)} type='chat' id='{uuid.uuid4()}'>"
            f"<openpgp xmlns='{OX_NS}'>{sealed.text}</openpgp>"
            f"<encryption xmlns='urn:xmpp:eme:0' namespace='{OX_NS}'/>"
            "<store xmlns='urn:xmpp:hints'/>"
            f"<body>{escape(FALLBACK_BODY)}</body></message>"
        )
        self._conn.send_raw(stanza)
        # Our own copy comes back from the archive and other devices' carbons: known already.
        self.state.add(self.jid, sealed.origin_id)
        self.state.record(
            HistoryEntry(to, "out", body, time.time(), trust.state.value, "", sealed.origin_id)
        )
        return sealed.origin_id

    async def sync(self) -> None:
        """Return once the server has processed everything sent so far (a ping round trip)."""
        conn = self._conn
        await conn.plugin["xep_0199"].ping(JID(conn.boundjid.domain), timeout=20)

    def _send_plaintext(self, to: str, body: str) -> str:
        message_id = str(uuid.uuid4())
        self._conn.send_message(mto=JID(to), mbody=body, mtype="chat")
        self.state.record(HistoryEntry(to, "out", body, time.time(), "plaintext", "", message_id))
        return message_id

    async def _on_plain_message(self, message: Any) -> None:
        if message["type"] in ("error", "groupchat", "headline"):
            return
        if message.xml.find(f"{{{OX_NS}}}openpgp") is not None:
            return
        body = message["body"]
        if body:
            sender = message["from"].bare
            detail = "sent without encryption"
            if self.state.trust(sender).state is not TrustState.NONE:
                detail += f", although {sender} has a key: the encryption may have been stripped on the way"
            await self._deliver(Incoming(sender, body, "plaintext", detail, time.time()))

    def _on_ox_message(self, message: Any) -> None:
        if message["type"] in ("error", "groupchat", "headline"):
            return
        self._spawn(self._handle_stanza(message.xml, archived=False))

    def _on_carbon(self, message: Any) -> None:
        # A carbon must come from our own account; anyone else sending one is forging.
        if message["from"] != JID(self.jid):
            return
        for kind in ("received", "sent"):
            inner = message.xml.find(
                f"{{{CARBONS}}}{kind}/{{{FORWARD}}}forwarded/{{jabber:client}}message"
            )
            if inner is not None:
                self._spawn(self._handle_stanza(inner, archived=False))

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _own_archive_id(self, stanza: ET.Element) -> str | None:
        for element in stanza.findall(f"{{{SID}}}stanza-id"):
            if element.get("by") == self.jid and element.get("id"):
                return element.get("id")
        return None

    async def _handle_stanza(
        self, stanza: ET.Element, *, archived: bool, archive_id: str | None = None
    ) -> None:
        """One message, live or from the archive: opened, checked, recorded once."""
        # Opening may wait on the network (key lookups): one at a time keeps arrival order.
        async with self._open_lock:
            archive_id = archive_id or self._own_archive_id(stanza)
            if archive_id is not None and not self.state.first_sight(archive_id):
                return  # the same archived message again (live, offline, archive query)
            outer_from, outer_to = stanza.get("from") or "", stanza.get("to") or ""
            payload = stanza.find(f"{{{OX_NS}}}openpgp")
            if payload is None:
                body = stanza.findtext("{jabber:client}body")
                if archived and body:
                    entry = Incoming(
                        _bare(outer_from), body, "plaintext", "sent without encryption", time.time()
                    )
                    self._record_in(entry, None, archived=True)
                return
            if _bare(outer_from) == self.jid:
                self._open_own(outer_from, outer_to, payload.text or "")
            else:
                await self._open(
                    _bare(outer_from), outer_from, outer_to, payload.text or "", archived=archived
                )

    def _open_own(self, outer_from: str, outer_to: str, text: str) -> None:
        """A message this account sent from any device (a sent carbon or the archive)."""
        try:
            opened = open_message(
                self._me,
                text,
                outer_from=outer_from,
                outer_to=outer_to,
                sender_keys=[self._me.public_key],
                replay_cache=self.state,
            )
        except UntrustedMessage:
            return  # our own copy seen before, or not ours to trust: nothing to show
        peer = _bare(outer_to)
        status = self.state.trust(peer).state.value
        self.state.record(
            HistoryEntry(
                peer, "out", opened.body, opened.sent_at.timestamp(), status, "", opened.origin_id
            )
        )

    async def _open(
        self, sender: str, outer_from: str, outer_to: str, text: str, *, archived: bool = False
    ) -> None:
        trust = self.state.trust(sender)
        if trust.state is TrustState.NONE:
            trust = await self.refresh_keys(sender)
        sender_keys = self._keys(trust.pinned | trust.revoked)
        try:
            opened = open_message(
                self._me,
                text,
                outer_from=outer_from,
                outer_to=outer_to,
                sender_keys=sender_keys,
                replay_cache=self.state,
            )
        except UntrustedMessage as exc:
            if archived and exc.reason.value == "replay":
                return  # the archive holds every message, also those already seen
            await self._deliver(
                Incoming(sender, None, "rejected", exc.reason.description, time.time()),
                archived=archived,
            )
            if exc.reason.value in ("unknown-sender-key", "revoked-key"):
                # A key we do not hold signed it: look for a change, so it is shown.
                with contextlib.suppress(ClientError, IqFailed):
                    await self.refresh_keys(sender)
            return
        status = trust.state.value
        detail = (
            "key changed: check it with 'ironwall verify'"
            if trust.state is TrustState.CHANGED
            else ""
        )
        sent = opened.sent_at.timestamp()
        entry = Incoming(sender, opened.body, status, detail, sent)
        await self._deliver(entry, opened.origin_id, archived=archived)

    async def _deliver(
        self, entry: Incoming, origin_id: str | None = None, *, archived: bool = False
    ) -> None:
        self._record_in(entry, origin_id, archived=archived)
        if self.showing and not archived:
            await self.incoming.put(entry)

    def _record_in(self, entry: Incoming, origin_id: str | None, *, archived: bool) -> None:
        # What is not shown now (archive catch-up, or no one listening) is shown by the
        # next 'listen' first.
        unseen = archived or not self.showing
        history = HistoryEntry(
            entry.sender, "in", entry.body, entry.sent_at, entry.status, entry.detail, origin_id
        )
        self.state.record(history, unseen=unseen)

    # ----------------------------------------------------------------- archive

    async def sync_archive(self, *, page: int = 100, limit: int = 10_000) -> int:
        """Fetch what the account's archive (XEP-0313) holds since the last sync; return how many.

        Every message is opened and checked like a live one; copies of messages already
        seen are skipped. A server without an archive is not an error.
        """
        conn = self._conn
        results: list[tuple[str, ET.Element]] = []
        query_id = uuid.uuid4().hex

        def collect(message: Any) -> None:
            result = message.xml.find(f"{{{MAM}}}result")
            if result is None or result.get("queryid") != query_id:
                return
            inner = result.find(f"{{{FORWARD}}}forwarded/{{jabber:client}}message")
            if inner is not None and result.get("id"):
                results.append((result.get("id") or "", inner))

        handler = f"ironwall-mam-{query_id}"
        conn.register_handler(
            Callback(handler, MatchXPath(f"{{jabber:client}}message/{{{MAM}}}result"), collect)
        )
        fetched = 0
        try:
            after = self.state.get("archive_last")
            while fetched < limit:
                rsm = f"<max>{page}</max>" + (f"<after>{escape(after)}</after>" if after else "")
                try:
                    answer = await conn.request(
                        f"<iq type='set'><query xmlns='{MAM}' queryid='{query_id}'>"
                        f"<set xmlns='http://jabber.org/protocol/rsm'>{rsm}</set></query></iq>"
                    )
                except IqFailed as exc:
                    if exc.condition in ("item-not-found",) and after:
                        # Our bookmark was expired by retention: start over from the beginning.
                        after = None
                        self.state.set("archive_last", None)
                        continue
                    return fetched
                batch, results[:] = list(results), []
                for archive_id, inner in batch:
                    await self._handle_stanza(inner, archived=True, archive_id=archive_id)
                fetched += len(batch)
                fin = answer.find(f"{{{MAM}}}fin")
                last = (
                    fin.findtext(
                        "{http://jabber.org/protocol/rsm}set/{http://jabber.org/protocol/rsm}last"
                    )
                    if fin is not None
                    else None
                )
                if last:
                    after = last
                    self.state.set("archive_last", last)
                if fin is None or fin.get("complete") == "true" or not batch:
                    return fetched
            return fetched
        finally:
            conn.remove_handler(handler)

    # ---------------------------------------------------------- key lifecycle

    async def change_passphrase(self, old: str, new: str, *, derived_login: bool) -> None:
        """Re-seal the key under ``new``; with a derived login, change the account password too."""
        try:
            check_passphrase(new, user_inputs=[self.jid])
        except WeakPassphrase as exc:
            raise ClientError(f"that passphrase is too weak: {exc}") from None
        blob = await ox.fetch_sealed_key(self._conn)
        if blob is None:
            raise ClientError("the server holds no sealed key for this account")
        resealed = await change_passphrase_async(
            blob, old, new, insecure_fast_kdf_for_tests=self.account.fast_kdf
        )
        await ox.store_sealed_key(self._conn, resealed)
        login = self.state.get("login_password") or ""
        if derived_login:
            login = await self.account._derive(new)
            await _change_password(self._conn, self.jid, login)
        self.account._remember_login(login, resealed, self._me)

    async def revoke(self) -> None:
        """The account is compromised: publish a self-signed revocation, withdraw the key,
        and lock the account by setting a random password nobody knows."""
        revoked = self._me.revoke()
        conn = self._conn
        await ox.publish_public_key(conn, revoked.public_key)
        await ox.withdraw_keys(conn)
        await _change_password(conn, self.jid, secrets.token_urlsafe(32))
        self.state.set("revoked", dt.datetime.now(dt.UTC).isoformat())
        self.state.set("login_password", None)

    async def delete_account(self) -> None:
        """Remove the account from the server (XEP-0077)."""
        try:
            await self._conn.request(
                "<iq type='set'><query xmlns='jabber:iq:register'><remove/></query></iq>"
            )
        except IqFailed as exc:
            if exc.condition not in ("remote-server-timeout",):
                raise ClientError(
                    f"the server refused to delete the account ({exc.condition})"
                ) from None


def _apply(trust: ContactTrust, event: Any) -> ContactTrust:
    try:
        return trust.apply(event)
    except TrustError:
        return trust


def require_account(home: Path, jid: str | None) -> Account:
    """The account to use: the one named, or the only one on this device."""
    if jid is None:
        accounts = (
            sorted(p.name for p in home.iterdir() if (p / "state.db").exists())
            if home.exists()
            else []
        )
        if len(accounts) != 1:
            raise UnknownAccount(
                "no account on this device: create one with 'ironwall account create JID'"
                if not accounts
                else f"several accounts on this device ({', '.join(accounts)}): pick one with --account JID"
            )
        jid = accounts[0]
    return Account(jid, home)

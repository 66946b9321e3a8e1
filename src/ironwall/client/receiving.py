"""Incoming messages: classified as they arrive, opened and checked one at a time, recorded once.

Every ``<message>`` the session receives comes through `Inbox.on_stanza`. Receipts, read
markers, chat states and PEP notifications are handled at once; messages with content
(an OX payload, or a plaintext body) go into a queue that one worker task opens in arrival
order, so a slow key lookup never reorders a conversation. The worker never loses a
message: one that cannot be opened for now (its sender's keys are out of reach) is kept
in the local state and tried again when the connection is back, and one that fails in
an unexpected way is still recorded, as rejected, with a note saying so.

Origins are checked before anything is believed: carbons (XEP-0280) must come from the
account's own bare JID, archive results (XEP-0313) from the account or the server, PEP
notifications of a contact's keys from that contact.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from slixmpp import JID
from slixmpp.jid import InvalidJID

from ironwall.client import ox
from ironwall.client.errors import ClientError
from ironwall.client.events import (
    CHECK_NAMES,
    ChatState,
    ChatStateChanged,
    Delivery,
    Direction,
    Message,
    MessageReceived,
    MessageSent,
    MessageStatus,
    MessageUpdated,
)
from ironwall.client.keyring import KeysUnavailable
from ironwall.e2e import (
    OpenedMessage,
    PublicKey,
    Reason,
    TrustState,
    UntrustedMessage,
    open_message,
)

if TYPE_CHECKING:
    from ironwall.client.session import ClientSession

__all__ = ["Inbox"]

log = logging.getLogger(__name__)

OX_NS = "urn:xmpp:openpgp:0"
CARBONS = "urn:xmpp:carbons:2"
FORWARD = "urn:xmpp:forward:0"
MAM = "urn:xmpp:mam:2"
SID = "urn:xmpp:sid:0"
RECEIPTS = "urn:xmpp:receipts"
MARKERS = "urn:xmpp:chat-markers:0"
CHATSTATES = "http://jabber.org/protocol/chatstates"
PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event"
_CLIENT = "{jabber:client}"

# Which receiver check (index into CHECK_NAMES) each rejection reason is the failure of.
_FAILED_CHECK = {
    Reason.MALFORMED: 0,
    Reason.NOT_ENCRYPTED: 0,
    Reason.NOT_FOR_ME: 0,
    Reason.CORRUPTED: 0,
    Reason.NOT_SIGNED: 0,
    Reason.BAD_SIGNATURE: 0,
    Reason.UNKNOWN_SENDER_KEY: 1,
    Reason.SENDER_MISMATCH: 1,
    Reason.WRONG_RECIPIENT: 2,
    Reason.BAD_TIMESTAMP: 3,
    Reason.STALE: 3,
    Reason.REPLAY: 3,
    Reason.REVOKED_KEY: 4,
    Reason.EXPIRED_KEY: 4,
}
_ALL_PASSED = tuple((name, True) for name in CHECK_NAMES)


def _checks(reason: Reason) -> tuple[tuple[str, bool | None], ...]:
    failed = _FAILED_CHECK[reason]
    return tuple(
        (name, True if i < failed else False if i == failed else None)
        for i, name in enumerate(CHECK_NAMES)
    )


def _bare(jid: str) -> str:
    return jid.partition("/")[0]


@dataclass
class _Replay:
    """Collects the pair `open_message` would record; the loop records it afterwards."""

    pair: tuple[str, str, dt.datetime] | None = None

    def add(self, sender: str, message_id: str, sent_at: dt.datetime) -> bool:
        self.pair = (sender, message_id, sent_at)
        return True


@dataclass
class _Item:
    stanza: ET.Element
    archived: bool
    archive_id: str | None


class Inbox:
    """The session's incoming messages."""

    def __init__(self, session: ClientSession) -> None:
        self._session = session
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def _jid(self) -> str:
        return self._session.jid

    def start(self) -> None:
        """Start the worker (once)."""
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._work())

    async def stop(self) -> None:
        """Stop the worker after what is queued."""
        if self._worker is not None:
            self._queue.put_nowait(None)
            await self._worker
            self._worker = None

    async def drained(self) -> None:
        """Wait until every queued message is processed."""
        await self._idle.wait()

    def add(self, stanza: ET.Element, *, archived: bool, archive_id: str | None = None) -> None:
        """Queue a message with content for opening."""
        self._idle.clear()
        self._queue.put_nowait(_Item(stanza, archived, archive_id))

    # ----------------------------------------------------------- classifying

    def on_stanza(self, message: Any) -> None:
        """Every ``<message>`` the connection receives (a slixmpp callback)."""
        try:
            self._classify(message.xml)
        except Exception:
            log.exception("an incoming stanza could not be classified")

    def _classify(self, stanza: ET.Element, *, carbon: bool = False) -> None:
        kind = stanza.get("type") or "normal"
        sender = stanza.get("from") or ""
        if kind == "error":
            self._session.sending.on_error(stanza)
            return
        if not carbon:
            for direction in ("received", "sent"):
                inner = stanza.find(
                    f"{{{CARBONS}}}{direction}/{{{FORWARD}}}forwarded/{_CLIENT}message"
                )
                if inner is not None:
                    # A carbon comes from our own bare JID; anyone else sending one forges it.
                    if sender == self._jid:
                        self._classify(inner, carbon=True)
                    return
        if stanza.find(f"{{{MAM}}}result") is not None:
            return  # collected by the archive query that asked for it
        event = stanza.find(f"{{{PUBSUB_EVENT}}}event")
        if event is not None:
            self._on_pep_event(sender, event)
            return
        if kind in ("groupchat", "headline"):
            return
        self._on_signals(stanza, carbon=carbon)
        if (
            stanza.find(f"{{{OX_NS}}}openpgp") is not None
            or stanza.find(f"{_CLIENT}body") is not None
        ):
            self.add(stanza, archived=False)

    def _on_signals(self, stanza: ET.Element, *, carbon: bool) -> None:
        """Receipts, read markers and chat states: what the other side's client reports."""
        sender, to = _bare(stanza.get("from") or ""), _bare(stanza.get("to") or "")
        outgoing = sender == self._jid
        peer = to if outgoing else sender
        if not peer or peer == self._jid:
            return
        sending = self._session.sending
        received = stanza.find(f"{{{RECEIPTS}}}received")
        if received is not None and not outgoing and received.get("id"):
            sending.on_receipt(peer, received.get("id") or "")
        displayed = stanza.find(f"{{{MARKERS}}}displayed")
        if displayed is not None and displayed.get("id"):
            if outgoing:
                # Our other device showed the conversation: it is read here too.
                self._session.read_elsewhere(peer, displayed.get("id") or "")
            else:
                sending.on_displayed(peer, displayed.get("id") or "")
        if not outgoing and not carbon:
            for state in ChatState:
                if stanza.find(f"{{{CHATSTATES}}}{state.value}") is not None:
                    self._session.emit(ChatStateChanged(peer, state))
                    break

    def _on_pep_event(self, sender: str, event: ET.Element) -> None:
        items = event.find(f"{{{PUBSUB_EVENT}}}items")
        if items is None:
            return
        node = items.get("node") or ""
        publisher = _bare(sender)
        if node == ox.KEYS_NODE and publisher and publisher != self._jid:
            self._session.spawn(self._session.keyring.refresh(publisher), "key refresh")
        elif node == ox.VERIFIED_NODE and publisher == self._jid:
            element = items.find(f"{{{PUBSUB_EVENT}}}item/{{urn:ironwall:0}}verified")
            if element is not None and element.text:
                self._session.keyring.merge_verified(element.text.strip())

    # ---------------------------------------------------------------- opening

    async def _work(self) -> None:
        while True:
            if self._queue.empty():
                self._idle.set()
            item = await self._queue.get()
            if item is None:
                self._idle.set()
                return
            try:
                await self._process(item)
            except KeysUnavailable:
                self._session.state.defer(
                    ET.tostring(item.stanza, encoding="unicode"),
                    archived=item.archived,
                    archive_id=item.archive_id,
                )
            except Exception as exc:
                # Never lose a message silently: record that it could not be read.
                log.exception("an incoming message could not be processed")
                self._record_failure(item.stanza, exc)

    def _record_failure(self, stanza: ET.Element, exc: Exception) -> None:
        sender = _bare(stanza.get("from") or "")
        if not sender or sender == self._jid:
            return
        message = self._session.state.add_message(
            sender,
            Direction.IN,
            None,
            time.time(),
            MessageStatus.REJECTED,
            detail=f"This message could not be processed ({exc.__class__.__name__}).",
            unread=True,
        )
        if message is not None:
            self._session.emit(MessageReceived(message))

    def retry_deferred(self) -> None:
        """Queue again the messages kept while their senders' keys were out of reach."""
        for text, archived, archive_id in self._session.state.take_deferred():
            try:
                stanza = ET.fromstring(text)  # noqa: S314 - our own serialisation of a parsed stanza
            except ET.ParseError:
                continue
            self.add(stanza, archived=archived, archive_id=archive_id)

    async def _process(self, item: _Item) -> None:
        stanza, state = item.stanza, self._session.state
        archive_id = item.archive_id or self._own_archive_id(stanza)
        if archive_id is not None and state.archive_id_seen(archive_id):
            # The same archived message again (live, offline, archive query). An offline
            # copy of one read from the archive at login is still this device receiving it.
            if not item.archived:
                self._acknowledge_again(stanza)
            return
        outer_from, outer_to = stanza.get("from") or "", stanza.get("to") or ""
        try:
            sender = str(JID(outer_from).bare) if outer_from else ""
        except InvalidJID:
            return
        payload = stanza.find(f"{{{OX_NS}}}openpgp")
        if payload is None:
            self._plaintext(stanza, sender, archived=item.archived)
        elif sender == self._jid:
            await self._open_own(outer_from, outer_to, payload.text or "", item.archived)
        elif sender:
            await self._open(sender, stanza, payload.text or "", item.archived)
        # Only once it is recorded: a message kept for later must still open from any copy.
        if archive_id is not None:
            state.mark_archive_id(archive_id)

    def _own_archive_id(self, stanza: ET.Element) -> str | None:
        for element in stanza.findall(f"{{{SID}}}stanza-id"):
            if element.get("by") == self._jid and element.get("id"):
                return element.get("id")
        return None

    def _plaintext(self, stanza: ET.Element, sender: str, *, archived: bool) -> None:
        body = stanza.findtext(f"{_CLIENT}body")
        if not body:
            return
        state = self._session.state
        if sender == self._jid:
            peer = _bare(stanza.get("to") or "")
            if not peer or peer == self._jid:
                return
            message = state.add_message(
                peer,
                Direction.OUT,
                body,
                time.time(),
                MessageStatus.PLAINTEXT,
                origin_id=stanza.get("id") or None,
                delivery=Delivery.SENT,
            )
            if message is not None:
                self._session.emit(MessageSent(message))
            return
        detail = "sent without encryption"
        if state.trust(sender).state is not TrustState.NONE:
            detail += (
                f", although {sender} has a key: the encryption may have been stripped on the way"
            )
        self._record_in(sender, body, time.time(), MessageStatus.PLAINTEXT, detail, None, ())

    async def _open_own(self, outer_from: str, outer_to: str, text: str, archived: bool) -> None:
        """A message this account sent from any device (a sent carbon or the archive)."""
        session = self._session
        peer = _bare(outer_to)
        if not peer or peer == self._jid:
            return
        try:
            opened = await asyncio.to_thread(
                _open_checked,
                session,
                text,
                outer_from,
                outer_to,
                [session.identity.public_key],
                _Replay(),
                archived,
            )
        except UntrustedMessage:
            return  # not ours to trust: a copy of our own messages must open with our key
        if opened.origin_id is not None:
            known = session.state.outgoing(peer, opened.origin_id)
            if known is not None:
                # Our own copy, back from the archive or a carbon: it reached the server.
                updated = session.state.set_delivery(known.id, Delivery.SENT)
                if updated is not None:
                    session.emit(MessageUpdated(updated))
                return
        trust = session.state.trust(peer).state
        status = (
            MessageStatus.VERIFIED if trust is TrustState.VERIFIED else MessageStatus.UNVERIFIED
        )
        message = session.state.add_message(
            peer,
            Direction.OUT,
            opened.body,
            opened.sent_at.timestamp(),
            status,
            origin_id=opened.origin_id,
            delivery=Delivery.SENT,
        )
        if message is not None:
            session.emit(MessageSent(message))

    async def _open(self, sender: str, stanza: ET.Element, text: str, archived: bool) -> None:
        session = self._session
        trust = session.state.trust(sender)
        if trust.state is TrustState.NONE:
            trust = await session.keyring.refresh_for_message(sender)
        sender_keys = session.keyring.keys(trust.pinned | trust.revoked)
        outer_from, outer_to = stanza.get("from") or "", stanza.get("to") or ""
        replay = _Replay()
        try:
            opened = await asyncio.to_thread(
                _open_checked, session, text, outer_from, outer_to, sender_keys, replay, archived
            )
            if replay.pair is not None and not session.state.add(*replay.pair):
                raise UntrustedMessage(Reason.REPLAY)
        except UntrustedMessage as exc:
            await self._rejected(sender, exc.reason, archived)
            return
        if opened.origin_id is not None and session.state.has_message(
            sender, Direction.IN, opened.origin_id
        ):
            return  # already in the history (an old copy from the archive)
        trust = session.state.trust(sender)
        status = {
            TrustState.VERIFIED: MessageStatus.VERIFIED,
            TrustState.CHANGED: MessageStatus.CHANGED,
        }.get(trust.state, MessageStatus.UNVERIFIED)
        detail = (
            "from a new key you have not acknowledged: check it with 'ironwall verify'"
            if status is MessageStatus.CHANGED
            else ""
        )
        message = self._record_in(
            sender,
            opened.body,
            opened.sent_at.timestamp(),
            status,
            detail,
            opened.origin_id,
            _ALL_PASSED,
        )
        if message is not None and not archived:
            self._session.sending.acknowledge(stanza, sender)

    def _acknowledge_again(self, stanza: ET.Element) -> None:
        """Send the receipt for a message recorded (opened, every check passed) from its
        archive copy, now that its offline copy came."""
        try:
            sender = str(JID(stanza.get("from") or "").bare)
        except InvalidJID:
            return
        stanza_id = stanza.get("id")
        if (
            stanza_id
            and sender != self._jid
            and stanza.find(f"{{{OX_NS}}}openpgp") is not None
            and self._session.state.has_message(sender, Direction.IN, stanza_id)
        ):
            self._session.sending.acknowledge(stanza, sender)

    async def _rejected(self, sender: str, reason: Reason, archived: bool) -> None:
        if archived and reason is Reason.REPLAY:
            return  # the archive holds every message, also those already seen
        self._record_in(
            sender,
            None,
            time.time(),
            MessageStatus.REJECTED,
            reason.description,
            None,
            _checks(reason),
        )
        if reason in (Reason.UNKNOWN_SENDER_KEY, Reason.REVOKED_KEY):
            # Signed by a key we do not hold, or one now revoked: look for a change to show.
            with contextlib.suppress(ClientError):
                await self._session.keyring.refresh(sender)

    def _record_in(
        self,
        sender: str,
        body: str | None,
        sent_at: float,
        status: MessageStatus,
        detail: str,
        origin_id: str | None,
        checks: tuple[tuple[str, bool | None], ...],
    ) -> Message | None:
        message = self._session.state.add_message(
            sender,
            Direction.IN,
            body,
            sent_at,
            status,
            detail=detail,
            origin_id=origin_id,
            unread=True,
            checks=checks,
        )
        if message is not None:
            self._session.emit(MessageReceived(message))
        return message


def _open_checked(
    session: ClientSession,
    text: str,
    outer_from: str,
    outer_to: str,
    sender_keys: list[PublicKey],
    replay: _Replay,
    archived: bool,
) -> OpenedMessage:
    """Every receiver check, in a worker thread: crypto never holds up the event loop."""
    kwargs: dict[str, Any] = {"max_age": None} if archived else {}
    return open_message(
        session.identity,
        text,
        outer_from=outer_from,
        outer_to=outer_to,
        sender_keys=sender_keys,
        replay_cache=replay,
        **kwargs,
    )

"""Outgoing messages: the outbox, sealing, and how far each message got.

`Sending.send` checks everything that can refuse a message before it is kept (the address,
the body, the contact's key state), records it as ``pending`` and, when the session is
online, seals it (in a worker thread) and hands it to the stream. A message written while
offline waits in the outbox — in the encrypted local state, so it survives a restart — and
goes out when the connection is back, sealed to the keys the contact has then; if the
contact's key changed or was revoked meanwhile, it is not sent and is marked failed.

Delivery states move forward only: ``sent`` when the server acknowledges the stanza
(the answer to a ping sent right after it, an XEP-0198 ack, or the archive's copy after a
reconnect), ``delivered`` on the recipient's receipt (XEP-0184), ``read`` on its displayed
marker (XEP-0333). Receipts and markers are reported by the other side's client in clear:
a server can fake them, but they carry nothing of the message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from ironwall.client.addresses import check_body
from ironwall.client.errors import ContactHasNoKey, SendingBlocked
from ironwall.client.events import (
    ChatState,
    Delivery,
    Direction,
    Message,
    MessageSent,
    MessageStatus,
    MessageUpdated,
)
from ironwall.client.receiving import CHATSTATES, MARKERS, OX_NS, RECEIPTS
from ironwall.e2e import KeyUnusable, TrustState, seal_message

if TYPE_CHECKING:
    from ironwall.client.session import ClientSession

__all__ = ["FALLBACK_BODY", "Sending"]

log = logging.getLogger(__name__)

FALLBACK_BODY = (
    "This message is encrypted with OpenPGP for XMPP (XEP-0373); your client cannot show it."
)


def blocked_reason(peer: str, state: TrustState) -> str | None:
    """Why nothing may be encrypted to ``peer`` now, in words with the way out; None if it may."""
    if state is TrustState.REVOKED:
        return (
            f"{peer} revoked their key: their account was compromised. Nothing was sent; "
            "they need a new account"
        )
    if state is TrustState.CHANGED:
        return (
            f"{peer}'s key changed. Nothing was sent: check the new key with "
            f"'ironwall verify {peer}', then accept it with 'ironwall contacts accept-key {peer}'"
        )
    return None


class Sending:
    """The session's outgoing messages."""

    def __init__(self, session: ClientSession) -> None:
        self._session = session
        #: Stanza id -> local message id, for acks, errors and receipts to find their message.
        self._awaiting: dict[str, int] = {}
        self._flushing = asyncio.Lock()

    # -------------------------------------------------------------- sending

    async def send(self, peer: str, body: str) -> Message:
        """Check, record and (when online) send ``body`` to ``peer``; return the message."""
        session = self._session
        body = check_body(body)
        trust = await session.keyring.current(peer)
        reason = blocked_reason(peer, trust.state)
        if reason is not None:
            raise SendingBlocked(reason)
        state = session.state
        if trust.state is TrustState.NONE:
            if not state.plaintext_allowed(peer):
                raise ContactHasNoKey(
                    f"{peer} has no encryption key, so nothing was sent. If they cannot use "
                    f"encryption, allow plaintext with 'ironwall contacts allow-plaintext {peer}'"
                )
            status = MessageStatus.PLAINTEXT
        elif trust.state is TrustState.VERIFIED:
            status = MessageStatus.VERIFIED
        else:
            status = MessageStatus.UNVERIFIED
        message = state.add_message(
            peer,
            Direction.OUT,
            body,
            time.time(),
            status,
            origin_id=str(uuid.uuid4()),
            delivery=Delivery.PENDING,
            queued=True,
        )
        assert message is not None  # a fresh origin-id is never a duplicate
        session.emit(MessageSent(message))
        if session.online:
            await self._transmit(message)
            return state.message(message.id) or message
        return message

    async def flush(self) -> None:
        """Send what waits in the outbox (after a reconnect)."""
        async with self._flushing:
            for message in self._session.state.queued():
                if not self._session.online:
                    return
                await self._transmit(message)

    async def _transmit(self, message: Message) -> None:
        session = self._session
        assert message.origin_id is not None
        assert message.body is not None
        stanza = await self._stanza(message)
        if stanza is None:
            return
        connection = session.connection
        element = ET.fromstring(stanza)  # noqa: S314 - built here from escaped parts
        # Through slixmpp's stanza objects, not send_raw, so stream management counts it.
        connection.Message(xml=element).send()
        self._awaiting[message.origin_id] = message.id
        session.state.mark_handed_over(message.id)
        # The answer to a ping sent after the message shows the server has processed it
        # (stanzas are handled in order). slixmpp's XEP-0198 ack request can overtake the
        # stanza it is for, so its acks alone would confirm a message only later.
        session.spawn(self._confirm_by_ping(message.id), "delivery confirmation")

    async def _stanza(self, message: Message) -> str | None:
        """The stanza for ``message``, sealed now; None (and marked failed) if it may not go."""
        session = self._session
        peer, origin = message.peer, message.origin_id
        assert origin is not None
        assert message.body is not None
        extras = (
            f"<request xmlns='{RECEIPTS}'/><markable xmlns='{MARKERS}'/>"
            "<store xmlns='urn:xmpp:hints'/>"
        )
        head = f"<message xmlns='jabber:client' to={quoteattr(peer)} type='chat' id={quoteattr(origin)}>"
        if message.status is MessageStatus.PLAINTEXT:
            if session.state.trust(peer).state is not TrustState.NONE:
                self._fail(message, f"{peer} has a key now: write the message again to encrypt it")
                return None
            return f"{head}<body>{escape(message.body)}</body>{extras}</message>"
        trust = session.state.trust(peer)
        reason = blocked_reason(peer, trust.state)
        keys = session.keyring.keys(trust.encrypt_to)
        if reason is None and not keys:
            reason = f"{peer} has no usable key any more; nothing was sent"
        if reason is not None:
            self._fail(message, reason)
            return None
        try:
            sealed = await asyncio.to_thread(
                seal_message,
                session.identity,
                {peer: keys},
                message.body,
                origin_id=origin,
                now=dt.datetime.fromtimestamp(message.sent_at, dt.UTC),
            )
        except KeyUnusable as exc:
            self._fail(message, f"cannot encrypt to {peer}: {exc}; nothing was sent")
            return None
        return (
            f"{head}<openpgp xmlns='{OX_NS}'>{sealed.text}</openpgp>"
            f"<encryption xmlns='urn:xmpp:eme:0' namespace='{OX_NS}'/>{extras}"
            f"<body>{escape(FALLBACK_BODY)}</body></message>"
        )

    def _fail(self, message: Message, reason: str) -> None:
        updated = self._session.state.set_delivery(message.id, Delivery.FAILED, detail=reason)
        if updated is not None:
            self._session.emit(MessageUpdated(updated))

    def _advance(self, message_id: int, delivery: Delivery) -> None:
        updated = self._session.state.set_delivery(message_id, delivery)
        if updated is not None:
            self._session.emit(MessageUpdated(updated))

    async def _confirm_by_ping(self, message_id: int) -> None:
        await self._session.ping()
        self._advance(message_id, Delivery.SENT)

    # ----------------------------------------------------- what comes back

    def on_acked(self, stanza: Any) -> None:
        """slixmpp's ``stanza_acked``: the server took one of our stanzas (XEP-0198)."""
        message_id = (
            self._awaiting.pop(str(stanza["id"]), None) if stanza.name == "message" else None
        )
        if message_id is not None:
            self._advance(message_id, Delivery.SENT)

    def on_error(self, stanza: ET.Element) -> None:
        """A message error: if it answers one of ours, that message failed."""
        message_id = self._awaiting.pop(stanza.get("id") or "", None)
        if message_id is None:
            return
        error = stanza.find("{jabber:client}error")
        condition, text = "undefined-condition", ""
        if error is not None:
            for child in error:
                name = child.tag.rpartition("}")[2]
                if name == "text":
                    text = child.text or ""
                elif condition == "undefined-condition":
                    condition = name
        message = self._session.state.message(message_id)
        if message is not None:
            self._fail(message, f"the server refused it ({condition}{': ' + text if text else ''})")

    def on_receipt(self, peer: str, stanza_id: str) -> None:
        """The recipient's client confirmed a message arrived (XEP-0184)."""
        message = self._session.state.outgoing(peer, stanza_id)
        if message is not None:
            self._advance(message.id, Delivery.DELIVERED)

    def on_displayed(self, peer: str, stanza_id: str) -> None:
        """The recipient's client showed messages up to ``stanza_id`` (XEP-0333)."""
        message = self._session.state.outgoing(peer, stanza_id)
        if message is None:
            return
        for message_id in self._session.state.outgoing_up_to(peer, message.id):
            self._advance(message_id, Delivery.READ)

    def acknowledge(self, stanza: ET.Element, sender: str) -> None:
        """Send a receipt for a message that was opened and passed every check, if asked.

        Only to contacts who see our presence anyway: a receipt tells the sender that this
        device is online.
        """
        if stanza.find(f"{{{RECEIPTS}}}request") is None or not stanza.get("id"):
            return
        if not self._session.shares_presence_with(sender):
            return
        self._session.send_xml(
            f"<message xmlns='jabber:client' to={quoteattr(stanza.get('from') or sender)}>"
            f"<received xmlns='{RECEIPTS}' id={quoteattr(stanza.get('id') or '')}/></message>"
        )

    def displayed(self, peer: str, stanza_id: str) -> None:
        """Tell ``peer`` (and our other devices) that messages up to ``stanza_id`` were read."""
        self._session.send_xml(
            f"<message xmlns='jabber:client' to={quoteattr(peer)} type='chat'>"
            f"<displayed xmlns='{MARKERS}' id={quoteattr(stanza_id)}/></message>"
        )

    def chat_state(self, peer: str, state: ChatState) -> None:
        """Tell ``peer`` that we are typing (or stopped), XEP-0085; never stored."""
        self._session.send_xml(
            f"<message xmlns='jabber:client' to={quoteattr(peer)} type='chat'>"
            f"<{state.value} xmlns='{CHATSTATES}'/><no-store xmlns='urn:xmpp:hints'/></message>"
        )

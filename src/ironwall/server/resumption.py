"""XEP-0198 stream resumption: sessions whose connection dropped wait here for a while.

A session whose client enabled resumption is not ended when its TCP connection dies
without a closing ``</stream:stream>``: it stays bound, stanzas for it queue up, and a
new connection that logs in to the same account may resume it within the timeout.
When the timeout passes, or a session ends in any other way, every stanza the client
never acknowledged is handled as undelivered: chat and normal messages go to offline
storage, so nothing acknowledged to a sender is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from ironwall.proto import ns
from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.sm import StreamManagement
from ironwall.proto.stanza import tag
from ironwall.server.events import MESSAGE_OFFLINE, SESSION_CLOSED
from ironwall.server.router import StanzaEvent
from ironwall.server.session import Session
from ironwall.server.stanza_kinds import has_content

if TYPE_CHECKING:
    from ironwall.server.app import Server
    from ironwall.server.connection import ClientConnection

__all__ = ["Resumption"]

log = logging.getLogger(__name__)

_MESSAGE = tag(ns.CLIENT, "message")


@dataclass
class _Parked:
    session: Session
    state: StreamManagement
    timer: asyncio.Task[None]


class Resumption:
    """The server's parked sessions, by resumption id."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._parked: dict[str, _Parked] = {}
        #: Resumption ids of sessions still connected, to their connection.
        self._live: dict[str, ClientConnection] = {}

    @property
    def timeout(self) -> float:
        """How long a dropped session waits to be resumed."""
        return self._server.config.limits.resumption_timeout

    def live(self, resumption_id: str, connection: ClientConnection) -> None:
        """A connected session enabled resumption with ``resumption_id``."""
        self._live[resumption_id] = connection

    def park(self, session: Session, state: StreamManagement) -> None:
        """Keep ``session`` (whose connection dropped) for resumption."""
        assert state.id is not None
        self._live.pop(state.id, None)
        # Stanzas for the session queue up until it is resumed or given up.
        session.rebind(state.sent, lambda _condition, _text: None)
        timer = asyncio.ensure_future(self._expire(state.id))
        self._parked[state.id] = _Parked(session, state, timer)
        log.info("session %s parked for resumption", session.jid)

    def take(self, resumption_id: str, account: JID) -> tuple[Session, StreamManagement] | None:
        """The parked session ``resumption_id`` of ``account``, removed from the waiting list."""
        parked = self._parked.get(resumption_id)
        if parked is not None and parked.session.jid.bare == account.bare:
            del self._parked[resumption_id]
            parked.timer.cancel()
            return parked.session, parked.state
        # The old connection may be dead without the server having noticed yet (a client
        # that changed networks): take its session over.
        connection = self._live.get(resumption_id)
        session = connection.session if connection is not None else None
        if (
            connection is not None
            and session is not None
            and session.jid.bare == account.bare
            # A session the server ended is not taken over, not even before its
            # connection's teardown has run.
            and not session.closed
        ):
            del self._live[resumption_id]
            return connection.hand_over()
        return None

    def forget(self, resumption_id: str | None) -> None:
        """The live session with this id ended for good."""
        if resumption_id is not None:
            self._live.pop(resumption_id, None)

    async def drop_account(self, account: JID) -> int:
        """End every parked session of ``account`` now; return how many there were.

        For when the account's sessions are ended (revocation, a password change): one
        waiting to be resumed is ended too, so its id resumes nothing.
        """
        dropped = [
            (resumption_id, parked)
            for resumption_id, parked in self._parked.items()
            if parked.session.jid.bare == account.bare
        ]
        for resumption_id, parked in dropped:
            del self._parked[resumption_id]
            parked.timer.cancel()
            log.info("parked session %s ended", parked.session.jid)
            await self.end(parked.session, parked.state)
        return len(dropped)

    async def _expire(self, resumption_id: str) -> None:
        await asyncio.sleep(self.timeout)
        parked = self._parked.pop(resumption_id, None)
        if parked is None:
            return
        log.info("session %s was not resumed in time", parked.session.jid)
        await self.end(parked.session, parked.state)

    async def end(self, session: Session, state: StreamManagement | None) -> None:
        """End ``session`` for good: unbind it, then deal with what it never acknowledged."""
        if self._server.router.unbind(session):
            await self._server.hooks.fire(SESSION_CLOSED, session)
        if state is not None:
            await self.redeliver(session, list(state.unacked))
            state.unacked.clear()

    async def redeliver(self, session: Session, stanzas: list[Element]) -> None:
        """XEP-0198 §5: unacknowledged messages are treated as undelivered, not dropped."""
        for stanza in stanzas:
            if stanza.tag != _MESSAGE or (stanza.get("type") or "normal") not in ("chat", "normal"):
                continue
            # Carbon copies and archive results are views of messages stored elsewhere.
            if not has_content(stanza):
                continue
            try:
                sender = JID.parse(stanza.get("from") or "")
            except InvalidJID:
                continue
            event = StanzaEvent(stanza, None, sender, session.jid.bare)
            if not await self._server.hooks.fire(MESSAGE_OFFLINE, event):
                log.warning("an unacknowledged message to %s could not be stored", session.jid)

    async def stop(self) -> None:
        """Server shutdown: end every parked session now."""
        for resumption_id in list(self._parked):
            parked = self._parked.pop(resumption_id)
            parked.timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await parked.timer
            await self.end(parked.session, parked.state)

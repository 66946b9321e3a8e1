"""A slixmpp client for tests: connects over STARTTLS to a local port and records traffic."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatcherId

from support.tls import test_pki

TIMEOUT = 10.0


class XMPPClient(slixmpp.ClientXMPP):  # type: ignore[misc]
    """ClientXMPP that verifies the test CA and queues what it receives."""

    def __init__(
        self,
        jid: str,
        password: str,
        *,
        register: bool = False,
        send_presence: bool = True,
        ca_pem: Path | None = None,
    ) -> None:
        super().__init__(jid, password)
        context = ssl.create_default_context(cafile=str(ca_pem or test_pki().ca_pem))
        self.ssl_context = context
        self.messages: asyncio.Queue[Any] = asyncio.Queue()
        self.presences: asyncio.Queue[Any] = asyncio.Queue()
        self.roster_pushes: asyncio.Queue[Any] = asyncio.Queue()
        self.session_started = asyncio.Event()
        self.failed_auth = asyncio.Event()
        self.stream_errors: asyncio.Queue[Any] = asyncio.Queue()
        self.disconnected_event = asyncio.Event()
        self._send_presence = send_presence
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        self.register_plugin("xep_0092")
        if register:
            self.register_plugin("xep_0077")
            self.plugin["xep_0077"].force_registration = True
            self.add_event_handler("register", self._on_register)
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("message", self.messages.put_nowait)
        self.add_event_handler("message_error", self.messages.put_nowait)
        self.add_event_handler("presence", self.presences.put_nowait)
        self.add_event_handler("roster_update", self.roster_pushes.put_nowait)
        self.add_event_handler("failed_all_auth", lambda _e: self.failed_auth.set())
        self.add_event_handler("stream_error", self.stream_errors.put_nowait)
        self.add_event_handler("disconnected", lambda _e: self.disconnected_event.set())
        self.registration_error: str | None = None

    async def _on_register(self, _event: Any) -> None:
        form = self.Iq()
        form["type"] = "set"
        form["register"]["username"] = self.boundjid.user
        form["register"]["password"] = self.password
        try:
            await form.send(timeout=TIMEOUT)
        except IqError as exc:
            self.registration_error = exc.iq["error"]["condition"]
            self.disconnect()

    async def _on_session_start(self, _event: Any) -> None:
        if self._send_presence:
            self.send_presence()
            await self.get_roster(timeout=TIMEOUT)
        self.session_started.set()

    async def start(self, port: int, timeout: float = TIMEOUT) -> None:
        """Connect and wait until the session has started (or fail the test)."""
        self.connect("127.0.0.1", port)
        done = asyncio.ensure_future(self.session_started.wait())
        failed = asyncio.ensure_future(self.failed_auth.wait())
        gone = asyncio.ensure_future(self.disconnected_event.wait())
        finished, pending = await asyncio.wait(
            {done, failed, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        if done not in finished:
            raise AssertionError(
                f"{self.boundjid} could not start a session "
                f"(auth failed: {self.failed_auth.is_set()})"
            )

    async def next_message(self, timeout: float = TIMEOUT) -> Any:
        """The next message received (fails the test on timeout)."""
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def next_presence(
        self, *, kind: str | None = None, sender: str | None = None, timeout: float = TIMEOUT
    ) -> Any:
        """The next presence of the given type (and sender), skipping others."""
        async with asyncio.timeout(timeout):
            while True:
                presence = await self.presences.get()
                if kind is not None and presence["type"] != kind:
                    continue
                if (
                    sender is not None
                    and presence["from"].bare != sender
                    and str(presence["from"]) != sender
                ):
                    continue
                return presence

    async def next_roster_push(self, contact: str, timeout: float = TIMEOUT) -> Any:
        """The next roster update that mentions ``contact`` (skipping the initial fetch)."""
        async with asyncio.timeout(timeout):
            while True:
                update = await self.roster_pushes.get()
                if contact in update["roster"]["items"]:
                    return update

    async def raw_iq(self, xml: str, timeout: float = TIMEOUT) -> Any:
        """Send an iq given as XML text and return the result stanza, or the error (no raise)."""
        iq = self.Iq(xml=ET.fromstring(xml))
        if not iq["id"]:
            iq["id"] = self.new_id()
        try:
            return await iq.send(timeout=timeout)
        except IqError as exc:
            return exc.iq

    async def raw_exchange(self, xml: str, stanza_id: str, timeout: float = TIMEOUT) -> Any:
        """Send raw XML (even what slixmpp would refuse) and await the stanza ``stanza_id``."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        name = f"raw-{stanza_id}"
        self.register_handler(Callback(name, MatcherId(stanza_id), answer.set_result, once=True))
        self.send_raw(xml)
        try:
            return await asyncio.wait_for(answer, timeout)
        finally:
            self.remove_handler(name)

    async def stop(self) -> None:
        """Disconnect cleanly and wait for it."""
        if not self.disconnected_event.is_set():
            self.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.disconnected_event.wait(), TIMEOUT)


@contextlib.asynccontextmanager
async def connected(jid: str, password: str, port: int, **kwargs: Any) -> AsyncIterator[XMPPClient]:
    """A started client that is disconnected when the block exits."""
    client = XMPPClient(jid, password, **kwargs)
    try:
        await client.start(port)
        yield client
    finally:
        await client.stop()

"""XEP-0352 Client State Indication: presence held for an inactive client, then flushed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ironwall.proto.jid import JID
from ironwall.server.app import Server
from ironwall.server.roster_model import RosterItem
from support.client import TIMEOUT, XMPPClient, connected
from support.server import running_server, server_port
from support.users import PASSWORD, add_users


class Watcher(XMPPClient):
    """A client with CSI that records presence and messages in the order they arrive."""

    def __init__(self, jid: str) -> None:
        super().__init__(jid, PASSWORD)
        self.register_plugin("xep_0352")
        self.arrivals: list[tuple[str, str, str]] = []
        self.add_event_handler("presence", self._on_presence)
        self.add_event_handler("message", self._on_message)

    def _on_presence(self, presence: Any) -> None:
        show = presence["type"] if presence["type"] == "unavailable" else presence["show"]
        self.arrivals.append(("presence", presence["from"].bare, show or "available"))

    def _on_message(self, message: Any) -> None:
        self.arrivals.append(("message", message["from"].bare, message["body"]))

    async def settle(self) -> list[tuple[str, str, str]]:
        """Everything that arrived, once the server has answered a ping sent now."""
        await self.plugin["xep_0199"].ping("localhost", timeout=TIMEOUT)
        arrived, self.arrivals = self.arrivals, []
        return arrived


async def _befriend(server: Server, owner: str, *contacts: str) -> None:
    roster = server.module("roster")
    for contact in contacts:
        await roster.save(JID.parse(owner), RosterItem(JID.parse(contact), "both"))  # type: ignore[attr-defined]
        await roster.save(JID.parse(contact), RosterItem(JID.parse(owner), "both"))  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def watcher(jid: str, port: int) -> AsyncIterator[Watcher]:
    """A started CSI client."""
    client = Watcher(jid)
    try:
        await client.start(port)
        yield client
    finally:
        await client.stop()


async def _show(client: XMPPClient, show: str) -> None:
    """Change presence and wait until the server has routed it."""
    client.send_presence(pshow=show)
    await client.plugin["xep_0199"].ping("localhost", timeout=TIMEOUT)


async def test_inactive_client_gets_latest_presence_first_then_the_message(server: Server) -> None:
    alice, bob, carol = await add_users(server, "alice", "bob", "carol")
    await _befriend(server, alice, bob, carol)
    port = server_port(server)
    async with watcher(alice, port) as a:
        assert a.plugin["xep_0352"].enabled
        async with connected(bob, PASSWORD, port) as b, connected(carol, PASSWORD, port) as c:
            await b.next_presence(sender=alice)
            await c.next_presence(sender=alice)
            await a.settle()
            a.plugin["xep_0352"].send_inactive()
            assert await a.settle() == []
            await _show(b, "away")
            await _show(c, "xa")
            await _show(b, "dnd")
            assert await a.settle() == []
            b.send_message(mto=alice, mbody="wake up", mtype="chat")
            await a.next_message()
            assert await a.settle() == [
                ("presence", carol, "xa"),
                ("presence", bob, "dnd"),
                ("message", bob, "wake up"),
            ]
            # Still inactive: held again, until <active/> flushes.
            await _show(c, "chat")
            assert await a.settle() == []
            a.plugin["xep_0352"].send_active()
            assert await a.settle() == [("presence", carol, "chat")]
            await _show(b, "away")
            assert await a.settle() == [("presence", bob, "away")]
        # Unavailable replaces a held available presence.
        async with connected(bob, PASSWORD, port) as b:
            await b.next_presence(sender=alice)
            await a.settle()
            a.plugin["xep_0352"].send_inactive()
            await _show(b, "away")
        assert await a.settle() == []
        a.plugin["xep_0352"].send_active()
        assert await a.settle() == [("presence", bob, "unavailable")]


async def test_too_many_held_presences_are_sent(tmp_path: Path) -> None:
    async with running_server(tmp_path / "d", limits={"csi_max_held": 1}) as server:
        alice, bob, carol = await add_users(server, "alice", "bob", "carol")
        await _befriend(server, alice, bob, carol)
        port = server_port(server)
        async with (
            watcher(alice, port) as a,
            connected(bob, PASSWORD, port) as b,
            connected(carol, PASSWORD, port) as c,
        ):
            await b.next_presence(sender=alice)
            await c.next_presence(sender=alice)
            await a.settle()
            a.plugin["xep_0352"].send_inactive()
            await _show(b, "away")
            await _show(b, "xa")
            assert await a.settle() == []
            await _show(c, "dnd")
            assert await a.settle() == [("presence", bob, "xa"), ("presence", carol, "dnd")]

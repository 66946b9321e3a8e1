"""XEP-0191 Blocking Command, with slixmpp's xep_0191 against the real server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import slixmpp

from ironwall.proto.jid import JID
from ironwall.server.app import Server
from ironwall.server.modules.blocking import matches
from ironwall.server.roster_model import RosterItem
from support.client import TIMEOUT, XMPPClient, connected
from support.server import running_server, server_port
from support.users import PASSWORD, add_users

BLOCKING = "urn:xmpp:blocking"
BLOCKING_ERRORS = "urn:xmpp:blocking:errors"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
DISCO_INFO = "http://jabber.org/protocol/disco#info"


class Blocker(XMPPClient):
    """A client with the blocking plugin that queues the pushes it gets."""

    def __init__(self, jid: str, *, available: bool = True) -> None:
        super().__init__(jid, PASSWORD, send_presence=available)
        self.register_plugin("xep_0191")
        self.pushes: asyncio.Queue[tuple[str, list[str]]] = asyncio.Queue()
        for kind in ("block", "unblock"):
            self.add_event_handler(
                f"{kind}ed", lambda iq, k=kind: self.pushes.put_nowait((k, _jids(iq, k)))
            )

    async def next_push(self) -> tuple[str, list[str]]:
        """The next blocklist push: ("block" or "unblock", its JIDs)."""
        return await asyncio.wait_for(self.pushes.get(), TIMEOUT)

    async def blocked(self) -> list[str]:
        """The blocklist as the server has it."""
        jids = await self.plugin["xep_0191"].get_blocked_jids(timeout=TIMEOUT)
        return sorted(str(j) for j in jids)


def _jids(iq: Any, kind: str) -> list[str]:
    return [item.get("jid") for item in iq.xml.iter(f"{{{BLOCKING}}}item")]


@contextlib.asynccontextmanager
async def blocker(jid: str, port: int, *, available: bool = True) -> AsyncIterator[Blocker]:
    """A started client with blocking (without initial presence unless ``available``)."""
    client = Blocker(jid, available=available)
    try:
        await client.start(port)
        yield client
    finally:
        await client.stop()


async def _befriend(server: Server, one: str, other: str) -> None:
    roster = server.module("roster")
    await roster.save(JID.parse(one), RosterItem(JID.parse(other), "both"))  # type: ignore[attr-defined]
    await roster.save(JID.parse(other), RosterItem(JID.parse(one), "both"))  # type: ignore[attr-defined]


async def _ping(client: XMPPClient, to: str) -> str:
    """ "result", or the error condition of an XMPP ping to ``to``."""
    answer = await client.raw_iq(f"<iq type='get' to='{to}'><ping xmlns='urn:xmpp:ping'/></iq>")
    return "result" if answer["type"] == "result" else str(answer["error"]["condition"])


def _drain(queue: asyncio.Queue[Any]) -> list[Any]:
    """Everything in ``queue`` now."""
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


async def _bodies(client: XMPPClient) -> list[str]:
    """Bodies of messages received so far, once the server answered a ping sent now."""
    await _ping(client, "localhost")
    return [m["body"] if m["type"] != "error" else "error" for m in _drain(client.messages)]


async def test_blocking_both_ways_and_unblocking(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    await _befriend(server, alice, bob)
    port = server_port(server)
    async with (
        blocker(f"{alice}/one", port) as a1,
        blocker(f"{alice}/two", port) as a2,
        connected(f"{bob}/desk", PASSWORD, port) as b,
    ):
        await b.next_presence(sender=f"{alice}/one")
        await b.next_presence(sender=f"{alice}/two")
        await a1.next_presence(sender=f"{bob}/desk")
        assert await a2.blocked() == []
        await a1.plugin["xep_0191"].block(slixmpp.JID(bob), timeout=TIMEOUT)
        assert await a2.next_push() == ("block", [bob])
        # Bob sees Alice go offline, from both of her resources.
        gone = {str((await b.next_presence(kind="unavailable"))["from"]) for _ in range(2)}
        assert gone == {f"{alice}/one", f"{alice}/two"}

        # Inbound: Bob's message is dropped, his iq refused, his presence unseen.
        b.send_message(mto=alice, mbody="can you hear me?", mtype="chat")
        b.send_presence(pshow="away")
        assert await _ping(b, f"{alice}/one") == "service-unavailable"
        assert await _bodies(b) == []
        assert await _bodies(a1) == []
        assert a1.pushes.empty()  # /one never asked for the list, so it gets no pushes
        assert [p for p in _drain(a1.presences) if p["from"].bare == bob] == []
        # Outbound: Alice's message to Bob is refused with the blocking error.
        refused = await a1.raw_exchange(
            f"<message to='{bob}' id='out1' type='chat'><body>hi</body></message>", "out1"
        )
        error = refused.xml.find("{jabber:client}error")
        assert refused["type"] == "error"
        assert error.find(f"{{{STANZAS}}}not-acceptable") is not None
        assert error.find(f"{{{BLOCKING_ERRORS}}}blocked") is not None
        assert await _bodies(b) == []
        assert await a1.blocked() == [bob]

        # Unblocking everything: pushed, presence comes back both ways, messages flow.
        _drain(a1.presences)
        assert (await a1.raw_iq(f"<iq type='set'><unblock xmlns='{BLOCKING}'/></iq>"))[
            "type"
        ] == "result"
        assert await a2.next_push() == ("unblock", [])
        back = {str((await b.next_presence(kind="available"))["from"]) for _ in range(2)}
        assert back == {f"{alice}/one", f"{alice}/two"}
        assert (await a1.next_presence(sender=f"{bob}/desk"))["show"] == "away"
        a1.send_message(mto=bob, mbody="welcome back", mtype="chat")
        assert (await b.next_message())["body"] == "welcome back"
        assert await a1.blocked() == []


async def test_messages_stored_before_a_block_are_not_delivered_after_it(server: Server) -> None:
    alice, bob, carol = await add_users(server, "alice", "bob", "carol")
    port = server_port(server)
    async with (
        connected(f"{bob}/desk", PASSWORD, port) as b,
        connected(f"{carol}/desk", PASSWORD, port) as c,
    ):
        b.send_message(mto=alice, mbody="from bob, stored", mtype="chat")
        c.send_message(mto=alice, mbody="from carol, stored", mtype="chat")
        assert await _bodies(b) == []  # answered ping: both are stored by now
        assert await _bodies(c) == []
    async with blocker(f"{alice}/one", port, available=False) as a:
        await a.plugin["xep_0191"].block(slixmpp.JID(bob), timeout=TIMEOUT)
        a.send_presence()  # initial presence: offline messages are delivered now
        assert (await a.next_message())["body"] == "from carol, stored"
        assert await _bodies(a) == []
    # Dropped, not kept for later: unblocking does not bring it back.
    async with blocker(f"{alice}/one", port, available=False) as a:
        await a.plugin["xep_0191"].unblock(slixmpp.JID(bob), timeout=TIMEOUT)
        a.send_presence()
        assert await _bodies(a) == []


async def test_blocklist_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "d"
    async with running_server(data) as server:
        alice, bob = await add_users(server, "alice", "bob")
        async with blocker(alice, server_port(server)) as a:
            await a.plugin["xep_0191"].block(
                [slixmpp.JID(bob), slixmpp.JID("spam.example")], timeout=TIMEOUT
            )
    async with running_server(data) as server:
        port = server_port(server)
        async with blocker(f"{alice}/r", port) as a, connected(bob, PASSWORD, port) as b:
            assert await a.blocked() == [bob, "spam.example"]
            assert await _ping(b, f"{alice}/r") == "service-unavailable"
            assert await _ping(a, f"{bob}/any") == "not-acceptable"


async def test_blocking_errors_and_limit(tmp_path: Path) -> None:
    async with running_server(tmp_path / "d", limits={"max_blocklist_items": 2}) as server:
        (alice,) = await add_users(server, "alice")
        async with blocker(alice, server_port(server)) as a:
            info = await a.raw_iq(
                f"<iq type='get' to='localhost'><query xmlns='{DISCO_INFO}'/></iq>"
            )
            assert BLOCKING in {f.get("var") for f in info.xml.iter(f"{{{DISCO_INFO}}}feature")}

            async def block(items: str) -> str:
                answer = await a.raw_iq(
                    f"<iq type='set'><block xmlns='{BLOCKING}'>{items}</block></iq>"
                )
                return "result" if answer["type"] == "result" else answer["error"]["condition"]

            assert await block("") == "bad-request"
            assert await block("<item jid='@@'/>") == "jid-malformed"
            assert await block("<item jid='x@localhost'/><item jid='y@localhost'/>") == "result"
            assert await block("<item jid='x@localhost'/>") == "result"
            assert await block("<item jid='z@localhost'/>") == "not-acceptable"
            assert await a.blocked() == ["x@localhost", "y@localhost"]
            # The server itself is never blocked, even with its domain on the list.
            assert await _ping(a, "localhost") == "result"


def test_jid_matching_follows_xep_0016() -> None:
    def blocked(*jids: str) -> frozenset[JID]:
        return frozenset(JID.parse(j) for j in jids)

    full = JID.parse("bob@example.org/phone")
    assert matches(blocked("bob@example.org"), full)
    assert matches(blocked("bob@example.org/phone"), full)
    assert not matches(blocked("bob@example.org/laptop"), full)
    assert matches(blocked("example.org"), full)
    assert matches(blocked("example.org"), JID.parse("example.org/service"))
    assert not matches(blocked("example.org/service"), full)
    assert not matches(blocked("bob@example.net"), full)
    assert not matches(frozenset(), full)

"""Archive results, carbons and roster pushes are believed only from where they must come.

Found on main: MAM results were not checked for their ``from``. A stranger who learns or
guesses a query id could slip a "message from Alice" into Bob's history; carbons and
roster pushes need the same check (the account's own bare JID, or the server).
"""

from __future__ import annotations

import asyncio
import contextlib

from slixmpp.exceptions import IqTimeout

from ironwall.proto.jid import JID
from ironwall.proto.stanza import tag
from ironwall.server.events import iq
from ironwall.server.router import StanzaEvent
from support.client import connected
from support.client_world import PASSPHRASE, World
from support.server import server_port
from support.users import PASSWORD, add_users

MAM = "urn:xmpp:mam:2"
FORWARD = "urn:xmpp:forward:0"
CARBONS = "urn:xmpp:carbons:2"
FAKE = "Alice here: wire the money to account 666"


def _forged_message(sender: str, to: str) -> str:
    return (
        f"<message xmlns='jabber:client' from='{sender}' to='{to}' type='chat' id='forged'>"
        f"<body>{FAKE}</body></message>"
    )


async def test_a_strangers_archive_result_is_ignored(client_world: World) -> None:
    world = client_world
    alice, bob = await world.create("alice", "bob")
    await world.befriend("alice", "bob")
    await add_users(world.server, "mallory")
    queries: asyncio.Queue[str] = asyncio.Queue()

    async def watch(event: StanzaEvent) -> bool:
        query = event.stanza.find(tag(MAM, "query"))
        if query is not None and event.sender.local == "bob":
            queries.put_nowait(query.get("queryid") or "")
        return False

    world.server.hooks.on(iq("set", "self", MAM), watch, priority=100)
    port = server_port(world.server)
    async with connected("mallory@localhost", PASSWORD, port) as mallory:

        async def inject() -> None:
            # Mallory has the query id (in real life: by guessing, or from a leak) and sends
            # a result of her own to Bob's session, forwarding a "message from Alice".
            query_id = await queries.get()
            for session in world.server.router.resources(JID.parse(bob.jid)):
                mallory.send_raw(
                    f"<message to='{session.jid}'><result xmlns='{MAM}' queryid='{query_id}' "
                    f"id='f1'><forwarded xmlns='{FORWARD}'>"
                    f"{_forged_message('alice@localhost/x', 'bob@localhost')}"
                    "</forwarded></result></message>"
                )

        injector = asyncio.ensure_future(inject())
        async with bob.open(PASSPHRASE, available=True) as session:
            await asyncio.wait_for(injector, 10)
            await session.settled()
            await asyncio.sleep(0.3)
            assert [m.body for m in session.history(alice.jid)] == []


async def test_a_strangers_carbon_is_ignored(client_world: World) -> None:
    world = client_world
    alice, bob = await world.create("alice", "bob")
    await world.befriend("alice", "bob")
    await add_users(world.server, "mallory")
    async with bob.open(PASSPHRASE, available=True) as session:
        await session.settled()
        full = str(session.connection.boundjid)
        async with connected("mallory@localhost", PASSWORD, server_port(world.server)) as mallory:
            mallory.send_raw(
                f"<message to='{full}' type='chat'><received xmlns='{CARBONS}'>"
                f"<forwarded xmlns='{FORWARD}'>{_forged_message('alice@localhost/x', full)}"
                "</forwarded></received></message>"
            )
            await mallory.raw_iq("<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        await session.settled()
        await asyncio.sleep(0.3)
        assert [m.body for m in session.history(alice.jid)] == []


async def test_a_strangers_roster_push_is_refused(client_world: World) -> None:
    world = client_world
    (bob,) = await world.create("bob")
    await add_users(world.server, "mallory")
    async with bob.open(PASSPHRASE, available=True) as session:
        await session.settled()
        full = str(session.connection.boundjid)
        async with connected("mallory@localhost", PASSWORD, server_port(world.server)) as mallory:
            # Dropped or refused: either way no answer says it was taken.
            with contextlib.suppress(IqTimeout):
                answer = await mallory.raw_iq(
                    f"<iq type='set' to='{full}' id='push1'><query xmlns='jabber:iq:roster'>"
                    "<item jid='mallory@localhost' subscription='both'/></query></iq>",
                    timeout=3,
                )
                assert answer["type"] == "error"
        await session.settled()
        assert [c.jid for c in session.contacts()] == []

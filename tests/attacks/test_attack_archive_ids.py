"""Archive ids (XEP-0359 stanza-ids, XEP-0313 RSM cursors) tell a user nothing about other
users. They were the database's global row number: the difference between two of one's
own ids was the number of messages the whole server stored in between."""

from __future__ import annotations

import itertools
from pathlib import Path
from xml.etree.ElementTree import Element

from support.raw import RawClient
from support.server import running_server, server_port
from support.stanzas import error_of, message, next_of, online, synced
from support.users import PASSWORD, add_users, befriend

MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
SID = "urn:xmpp:sid:0"


def stanza_ids(received: list[Element]) -> list[str]:
    """The archive ids the server gave the messages a client received."""
    ids = []
    for element in received:
        sid = element.find(f"{{{SID}}}stanza-id")
        if sid is not None:
            ids.append(sid.get("id") or "")
    return ids


async def query_after(client: RawClient, after: str) -> tuple[str | None, str | None]:
    """Page the client's archive after ``after``: the answer's type and error condition."""
    await client.send(
        f"<iq type='set' id='q'><query xmlns='{MAM}'><set xmlns='{RSM}'><max>5</max>"
        f"<after>{after}</after></set></query></iq>".encode()
    )
    while True:
        answer = await next_of(client, "iq")
        if answer.get("id") == "q":
            break
    if answer.get("type") == "error":
        return "error", error_of(answer)[0]
    return answer.get("type"), None


async def test_ids_of_two_users_reveal_no_order_and_no_volume(tmp_path: Path) -> None:
    async with running_server(tmp_path / "s") as server:
        alice, bob, carol, dave = await add_users(server, "alice", "bob", "carol", "dave")
        await befriend(server, alice, bob)
        await befriend(server, carol, dave)
        port = server_port(server)
        a, d = await online(port, "alice"), await online(port, "dave")
        b = await RawClient.logged_in(port, "bob", PASSWORD)
        c = await RawClient.logged_in(port, "carol", PASSWORD)

        for n in range(10):
            await b.send(message(alice, f"to alice {n}"))
            # Between two of Alice's messages, others talk: 2 x 3 archived copies each time.
            for m in range(3):
                await c.send(message(dave, f"to dave {n}.{m}"))
        await synced(b)
        await synced(c)
        alice_ids = stanza_ids(await synced(a))
        dave_ids = stanza_ids(await synced(d))
        assert len(alice_ids) == 10
        assert len(dave_ids) == 30

        for ids in (alice_ids, dave_ids):
            assert all(len(i) == 32 for i in ids)
            # Not a counter: in no reading do a user's ids follow the order of their messages.
            assert sorted(ids) != ids
            numbers = [int(i, 16) for i in ids]
            assert sorted(numbers) != numbers
        # The difference between two consecutive ids of Alice's was how many messages the
        # server archived in between, for anyone (here 8); now it is random.
        steps = {int(y, 16) - int(x, 16) for x, y in itertools.pairwise(alice_ids)}
        assert not steps & set(range(-1000, 1000))

        # Another user's id is no cursor into one's own archive.
        assert await query_after(a, dave_ids[0]) == ("error", "item-not-found")
        assert await query_after(a, "0" * 16) == ("error", "item-not-found")
        assert await query_after(a, alice_ids[4]) == ("result", None)

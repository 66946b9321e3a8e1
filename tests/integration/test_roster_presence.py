"""Roster and presence subscriptions (RFC 6121 §2–§4), with slixmpp against the real server."""

from __future__ import annotations

import asyncio

from ironwall.proto.jid import JID
from ironwall.server.app import Server
from support.client import XMPPClient, connected
from support.server import server_port
from support.users import PASSWORD, add_users

ROSTER = "jabber:iq:roster"


async def _roster_item(server: Server, owner: str, contact: str) -> tuple[str, bool] | None:
    roster = server.module("roster")
    item = await roster.item(JID.parse(owner), JID.parse(contact))  # type: ignore[attr-defined]
    return None if item is None else (item.subscription, item.ask)


async def test_roster_set_pushes_and_get_returns_item(server: Server) -> None:
    await add_users(server, "alice")
    port = server_port(server)
    async with (
        connected("alice@localhost/a", PASSWORD, port) as a1,
        connected("alice@localhost/b", PASSWORD, port) as a2,
    ):
        result = await a1.raw_iq(
            f"<iq type='set'><query xmlns='{ROSTER}'><item jid='bob@localhost' name='Bob'>"
            "<group>Friends</group></item></query></iq>"
        )
        assert result["type"] == "result"
        push = await a2.next_roster_push("bob@localhost")
        assert push["roster"]["items"]["bob@localhost"]["name"] == "Bob"
        fetched = await a2.raw_iq(f"<iq type='get'><query xmlns='{ROSTER}'/></iq>")
        items = fetched["roster"]["items"]
        assert items["bob@localhost"]["name"] == "Bob"
        assert items["bob@localhost"]["groups"] == ["Friends"]
        assert items["bob@localhost"]["subscription"] == "none"


async def test_roster_errors(server: Server) -> None:
    await add_users(server, "alice", "bob")
    async with connected("alice@localhost", PASSWORD, server_port(server)) as alice:
        two_items = await alice.raw_iq(
            f"<iq type='set'><query xmlns='{ROSTER}'>"
            "<item jid='x@localhost'/><item jid='y@localhost'/></query></iq>"
        )
        assert two_items["error"]["condition"] == "bad-request"
        malformed = await alice.raw_iq(
            f"<iq type='set'><query xmlns='{ROSTER}'><item jid='@@'/></query></iq>"
        )
        assert malformed["error"]["condition"] == "jid-malformed"
        empty_group = await alice.raw_iq(
            f"<iq type='set'><query xmlns='{ROSTER}'>"
            "<item jid='x@localhost'><group/></item></query></iq>"
        )
        assert empty_group["error"]["condition"] == "not-acceptable"
        remove_missing = await alice.raw_iq(
            f"<iq type='set'><query xmlns='{ROSTER}'>"
            "<item jid='nobody@localhost' subscription='remove'/></query></iq>"
        )
        assert remove_missing["error"]["condition"] == "item-not-found"
        foreign = await alice.raw_iq(
            f"<iq type='get' to='bob@localhost'><query xmlns='{ROSTER}'/></iq>"
        )
        assert foreign["error"]["condition"] == "forbidden"


async def _subscribe(requester: XMPPClient, approver: XMPPClient) -> None:
    requester.send_presence(pto=approver.boundjid.bare, ptype="subscribe")
    request = await approver.next_presence(kind="subscribe", sender=requester.boundjid.bare)
    assert request["from"].bare == requester.boundjid.bare
    approver.send_presence(pto=requester.boundjid.bare, ptype="subscribed")
    await requester.next_presence(kind="subscribed", sender=approver.boundjid.bare)


async def test_subscription_handshake_both_directions(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    async with connected(alice, PASSWORD, port) as a, connected(bob, PASSWORD, port) as b:
        a.auto_authorize = None
        b.auto_authorize = None
        await _subscribe(a, b)
        # Approval makes the approver's presence flow to the requester at once.
        await a.next_presence(kind="available", sender=bob)
        assert await _roster_item(server, alice, bob) == ("to", False)
        assert await _roster_item(server, bob, alice) == ("from", False)
        await _subscribe(b, a)
        await b.next_presence(kind="available", sender=alice)
        assert await _roster_item(server, alice, bob) == ("both", False)
        assert await _roster_item(server, bob, alice) == ("both", False)
        # Presence updates now reach the subscribed contact.
        b.send_presence(pstatus="at lunch", pshow="away")
        away = await a.next_presence(sender=bob)
        while away["show"] != "away":
            away = await a.next_presence(sender=bob)
        assert away["status"] == "at lunch"
    # Unsubscribe in one direction only.
    async with connected(alice, PASSWORD, port) as a, connected(bob, PASSWORD, port) as b:
        a.send_presence(pto=bob, ptype="unsubscribe")
        await b.next_presence(kind="unsubscribe", sender=alice)
        assert await _roster_item(server, alice, bob) == ("from", False)
        assert await _roster_item(server, bob, alice) == ("to", False)


async def test_subscription_request_while_offline_is_delivered_at_login(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    async with connected(alice, PASSWORD, port) as a:
        a.send_presence(pto=bob, ptype="subscribe")
        await asyncio.sleep(0.2)
        assert await _roster_item(server, alice, bob) == ("none", True)
    b = XMPPClient(bob, PASSWORD)
    b.auto_authorize = None
    try:
        await b.start(port)
        request = await b.next_presence(kind="subscribe", sender=alice)
        assert request["to"].bare == bob
    finally:
        await b.stop()


async def test_unavailable_on_disconnect_and_probe_on_login(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    async with connected(alice, PASSWORD, port) as a:
        a.auto_authorize = True
        async with connected(bob, PASSWORD, port) as b:
            b.auto_authorize = True
            await _subscribe(a, b)
            await _subscribe(b, a)
        gone = await a.next_presence(kind="unavailable", sender=bob)
        assert gone["from"].bare == bob
        # Bob logs in again: Alice sees him, and Bob's probe brings Alice's presence to him.
        async with connected(bob, PASSWORD, port) as b:
            await a.next_presence(kind="available", sender=bob)
            await b.next_presence(kind="available", sender=alice)


async def test_directed_presence_gets_unavailable_on_disconnect(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    async with connected(bob, PASSWORD, port) as b:
        async with connected(alice, PASSWORD, port) as a:
            a.send_presence(pto=str(b.boundjid))
            await b.next_presence(kind="available", sender=alice)
        await b.next_presence(kind="unavailable", sender=alice)

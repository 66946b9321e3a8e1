"""Strangers (senders not in the recipient's roster) cannot flood anyone, and an account may
refuse them: rate limits per stranger and per recipient, and the per-account policy
``urn:ironwall:strangers:0``. On the real server, over TLS, with raw clients."""

from __future__ import annotations

from pathlib import Path

from support.raw import RawClient, xml_text
from support.server import running_server, server_port
from support.stanzas import body_of, error_of, message, next_of, online, synced
from support.users import PASSWORD, add_users, befriend

STRANGERS = "urn:ironwall:strangers:0"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
LIMITS = {"max_stranger_messages_per_sender": 3, "max_stranger_messages_per_recipient": 5}
TOO_MANY_FROM_YOU = (
    "you have sent too many messages to this user, who has not added you as a contact; "
    "try again in "
)
TOO_MANY_FOR_THEM = (
    "this user is getting too many messages from people not in their contact list; try again in "
)
REFUSED = "this user accepts messages and contact requests only from people in their contact list"


async def received_bodies(client: RawClient) -> list[str | None]:
    """The bodies of the messages the client got until now."""
    return [body_of(e) for e in await synced(client) if e.tag.endswith("}message")]


async def set_policy(client: RawClient, policy: str) -> str:
    """Set the account's policy; the type of the answer."""
    await client.send(
        f"<iq type='set' id='p-{policy}'><strangers xmlns='{STRANGERS}' policy='{policy}'/></iq>".encode()
    )
    answer = await next_of(client, "iq")
    return str(answer.get("type"))


async def get_policy(client: RawClient) -> str | None:
    await client.send(f"<iq type='get' id='get'><strangers xmlns='{STRANGERS}'/></iq>".encode())
    answer = await next_of(client, "iq")
    assert answer.get("type") == "result", xml_text(answer)
    element = answer.find(f"{{{STRANGERS}}}strangers")
    assert element is not None, xml_text(answer)
    return element.get("policy")


async def test_a_stranger_is_rate_limited_and_a_contact_is_not(tmp_path: Path) -> None:
    async with running_server(tmp_path / "s", limits=LIMITS) as server:
        alice, bob, *_ = await add_users(
            server, "alice", "bob", "mallory", "sybil1", "sybil2", "sybil3"
        )
        await befriend(server, alice, bob)
        port = server_port(server)
        a = await online(port, "alice")
        m = await RawClient.logged_in(port, "mallory", PASSWORD)
        b = await RawClient.logged_in(port, "bob", PASSWORD)

        for n in range(4):
            await m.send(message(alice, f"spam {n}", f"s{n}"))
        [refused] = await synced(m)
        assert refused.get("id") == "s3"
        condition, text = error_of(refused)
        assert condition == "resource-constraint"
        assert text is not None
        assert text.startswith(TOO_MANY_FROM_YOU), text
        assert await received_bodies(a) == ["spam 0", "spam 1", "spam 2"]

        # Bob is a contact: twenty messages in a row all arrive.
        for n in range(20):
            await b.send(message(alice, f"hi {n}"))
        assert await synced(b) == []
        assert await received_bodies(a) == [f"hi {n}" for n in range(20)]

        # All strangers together: Mallory's three and two more, then no stranger gets through.
        sybils = [await RawClient.logged_in(port, f"sybil{i}", PASSWORD) for i in (1, 2, 3)]
        for sybil in sybils:
            await sybil.send(message(alice, "hello?", "h"))
        assert await synced(sybils[0]) == []
        assert await synced(sybils[1]) == []
        [refused] = await synced(sybils[2])
        condition, text = error_of(refused)
        assert condition == "resource-constraint"
        assert text is not None
        assert text.startswith(TOO_MANY_FOR_THEM), text
        assert await received_bodies(a) == ["hello?", "hello?"]
        # A contact still gets through.
        await b.send(message(alice, "still me"))
        assert await synced(b) == []
        assert await received_bodies(a) == ["still me"]


async def test_subscription_requests_from_a_stranger_are_limited_too(tmp_path: Path) -> None:
    async with running_server(tmp_path / "s", limits=LIMITS) as server:
        alice, _mallory = await add_users(server, "alice", "mallory")
        port = server_port(server)
        a = await online(port, "alice")
        m = await RawClient.logged_in(port, "mallory", PASSWORD)
        for n in range(4):
            await m.send(f"<presence to='{alice}' type='subscribe' id='r{n}'/>".encode())
        [refused] = await synced(m)
        assert refused.tag == "{jabber:client}presence"
        assert refused.get("id") == "r3"
        assert error_of(refused)[0] == "resource-constraint"
        requests = [e for e in await synced(a) if e.get("type") == "subscribe"]
        assert len(requests) == 3


async def test_an_account_may_refuse_strangers(tmp_path: Path) -> None:
    data = tmp_path / "s"
    async with running_server(data, limits=LIMITS) as server:
        alice, bob, carol, _mallory, _trudy = await add_users(
            server, "alice", "bob", "carol", "mallory", "trudy"
        )
        await befriend(server, alice, bob)
        port = server_port(server)
        a = await online(port, "alice")
        assert await get_policy(a) == "limit"
        assert await set_policy(a, "refuse") == "result"
        assert await get_policy(a) == "refuse"
        # Alice asks Carol: a pending request of hers makes Carol a contact already.
        await a.send(f"<presence to='{carol}' type='subscribe'/>".encode())
        await a.send(
            b"<iq type='set' id='block'><block xmlns='urn:xmpp:blocking'>"
            b"<item jid='trudy@localhost'/></block></iq>"
        )
        await synced(a)

        m = await RawClient.logged_in(port, "mallory", PASSWORD)
        await m.send(message(alice, "hello", "m1"))
        await m.send(f"<presence to='{alice}' type='subscribe' id='m2'/>".encode())
        refusals = await synced(m)
        assert [(e.get("id"), error_of(e)) for e in refusals] == [
            ("m1", ("policy-violation", REFUSED)),
            ("m2", ("policy-violation", REFUSED)),
        ]
        # A blocked JID is dropped silently, as blocking says, not told of the policy.
        t = await RawClient.logged_in(port, "trudy", PASSWORD)
        await t.send(message(alice, "hello", "t1"))
        assert await synced(t) == []

        c = await RawClient.logged_in(port, "carol", PASSWORD)
        await c.send(message(alice, "from carol"))
        b = await RawClient.logged_in(port, "bob", PASSWORD)
        await b.send(message(alice, "from bob"))
        assert await synced(c) == []
        assert await synced(b) == []
        # Alice's other device is her own account, never a stranger.
        other = await RawClient.logged_in(port, "alice", PASSWORD, "laptop")
        await other.send(message(alice, "from myself"))
        assert await synced(other) == []
        assert await received_bodies(a) == ["from carol", "from bob", "from myself"]

    # The choice is stored: it holds after a restart.
    async with running_server(data, limits=LIMITS) as server:
        a = await online(server_port(server), "alice")
        assert await get_policy(a) == "refuse"


async def test_allow_lifts_the_limits_and_bad_requests_are_refused(tmp_path: Path) -> None:
    async with running_server(tmp_path / "s", limits=LIMITS) as server:
        alice, bob, _mallory = await add_users(server, "alice", "bob", "mallory")
        port = server_port(server)
        a = await online(port, "alice")
        assert await set_policy(a, "allow") == "result"
        m = await RawClient.logged_in(port, "mallory", PASSWORD)
        for n in range(10):
            await m.send(message(alice, f"{n}"))
        assert await synced(m) == []
        assert len(await received_bodies(a)) == 10

        bad = f"<strangers xmlns='{STRANGERS}' policy='sometimes'/>"
        await a.send(f"<iq type='set' id='x'>{bad}</iq>".encode())
        assert error_of(await next_of(a, "iq")) == (
            "bad-request",
            "send <strangers policy='allow|limit|refuse'/>: allow, limit or refuse",
        )
        foreign = f"<iq type='get' id='y' to='{bob}'><strangers xmlns='{STRANGERS}'/></iq>"
        await a.send(foreign.encode())
        assert error_of(await next_of(a, "iq")) == (
            "forbidden",
            "only the account itself may see or set its policy",
        )
        assert await get_policy(a) == "allow"


async def test_the_server_wide_default_is_the_configured_one(tmp_path: Path) -> None:
    async with running_server(tmp_path / "s", strangers_policy="refuse") as server:
        alice, _mallory = await add_users(server, "alice", "mallory")
        port = server_port(server)
        a = await online(port, "alice")
        assert await get_policy(a) == "refuse"
        m = await RawClient.logged_in(port, "mallory", PASSWORD)
        await m.send(message(alice, "hello", "m1"))
        [refused] = await synced(m)
        assert error_of(refused) == ("policy-violation", REFUSED)
        # Clients can tell that the server has the choice.
        await a.send(
            b"<iq type='get' id='d' to='localhost'>"
            b"<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        )
        answer = await next_of(a, "iq")
        features = {f.get("var") for f in answer.iter(f"{{{DISCO_INFO}}}feature")}
        assert STRANGERS in features


async def test_what_the_server_hands_out_later_is_not_counted_again(tmp_path: Path) -> None:
    """Offline messages were counted when they came; at login they are only delivered."""
    async with running_server(tmp_path / "s", limits=LIMITS) as server:
        alice, _mallory = await add_users(server, "alice", "mallory")
        port = server_port(server)
        m = await RawClient.logged_in(port, "mallory", PASSWORD)
        for n in range(3):
            await m.send(message(alice, f"while you were out {n}"))
        assert await synced(m) == []
        a = await online(port, "alice")
        assert await received_bodies(a) == [f"while you were out {n}" for n in range(3)]
        # The window is still full from the three.
        await m.send(message(alice, "one more", "m4"))
        [refused] = await synced(m)
        assert error_of(refused)[0] == "resource-constraint"

"""XEP-0198 stream management: acks, resumption after a dropped connection, and no
message lost when a session is never resumed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from xml.etree.ElementTree import Element

from ironwall.proto.jid import JID
from ironwall.server.app import Server
from support.client import connected
from support.raw import RawClient, xml_text
from support.server import running_server, server_port
from support.users import PASSWORD, add_users

SM = "urn:xmpp:sm:3"
CLIENT = "jabber:client"


async def _next_of(client: RawClient, tag: str) -> Element:
    while True:
        element = await client.next_element()
        if element.tag == tag:
            return element


async def _enable(client: RawClient, *, resume: bool = True) -> Element:
    await client.send(f"<enable xmlns='{SM}' resume='{'true' if resume else 'false'}'/>".encode())
    return await _next_of(client, f"{{{SM}}}enabled")


async def _available(client: RawClient) -> None:
    await client.send(b"<presence/>")
    await _next_of(client, f"{{{CLIENT}}}presence")


async def _ack(client: RawClient) -> int:
    await client.send(f"<r xmlns='{SM}'/>".encode())
    return int((await _next_of(client, f"{{{SM}}}a")).get("h", "-1"))


async def _bodies(client: RawClient, count: int) -> list[str]:
    bodies = []
    while len(bodies) < count:
        element = await _next_of(client, f"{{{CLIENT}}}message")
        bodies.append(element.findtext(f"{{{CLIENT}}}body") or "")
    return bodies


async def test_enable_and_count_handled_stanzas(server: Server) -> None:
    await add_users(server, "alice")
    client = await RawClient.logged_in(server_port(server), "alice", PASSWORD)
    try:
        enabled = await _enable(client)
        assert enabled.get("resume") == "true"
        assert enabled.get("id")
        assert int(enabled.get("max", "0")) > 0
        assert await _ack(client) == 0
        for n in range(3):
            await client.send(
                f"<iq type='get' id='p{n}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>".encode()
            )
        assert await _ack(client) == 3
    finally:
        await client.close()


async def test_too_high_an_acknowledgement_is_a_stream_error(server: Server) -> None:
    await add_users(server, "alice")
    client = await RawClient.logged_in(server_port(server), "alice", PASSWORD)
    await _enable(client)
    await client.send(f"<a xmlns='{SM}' h='5'/>".encode())
    await client.wait_closed()
    assert client.stream_error is not None
    assert client.stream_error.condition == "undefined-condition"


async def test_resuming_an_unknown_session_fails_and_binding_still_works(server: Server) -> None:
    await add_users(server, "alice")
    port = server_port(server)
    client = await RawClient.connect(port)
    try:
        await client.starttls()
        await client.open_stream()
        assert await client.authenticate("alice", PASSWORD) == "success"
        await client.send(f"<resume xmlns='{SM}' previd='no-such-session' h='0'/>".encode())
        failed = await client.next_element()
        assert failed.tag == f"{{{SM}}}failed", xml_text(failed)
        assert failed.find("{urn:ietf:params:xml:ns:xmpp-stanzas}item-not-found") is not None
        assert (await client.bind("after")).get("type") == "result"
    finally:
        await client.close()


async def test_resumption_resends_what_was_not_acknowledged(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    first = await RawClient.logged_in(port, "alice", PASSWORD, resource="phone")
    previd = (await _enable(first)).get("id", "")
    await _available(first)
    async with connected(bob, PASSWORD, port) as sender:
        for n in range(3):
            sender.send_message(mto=alice, mbody=f"m{n}", mtype="chat")
        assert await _bodies(first, 3) == ["m0", "m1", "m2"]
        # Alice got three, acknowledges only the first, and her network goes away.
        await first.send(f"<a xmlns='{SM}' h='2'/>".encode())
        await first.close()
        await asyncio.sleep(0.2)
        sender.send_message(mto=f"{alice}/phone", mbody="while away", mtype="chat")
        await sender.plugin["xep_0199"].ping("localhost", timeout=10)
    # h counts every stanza Alice was sent: the presence echo, then three messages.
    second = await RawClient.connect(port)
    try:
        await second.starttls()
        await second.open_stream()
        assert await second.authenticate("alice", PASSWORD) == "success"
        await second.send(f"<resume xmlns='{SM}' previd='{previd}' h='2'/>".encode())
        resumed = await second.next_element()
        assert resumed.tag == f"{{{SM}}}resumed", xml_text(resumed)
        assert resumed.get("previd") == previd
        assert await _bodies(second, 3) == ["m1", "m2", "while away"]
        sessions = server.router.resources(JID.parse(alice))
        assert [str(s.jid) for s in sessions] == [f"{alice}/phone"]
    finally:
        await second.close()


async def test_unresumed_session_sends_unacknowledged_messages_offline(tmp_path: Path) -> None:
    async with running_server(tmp_path / "d", limits={"resumption_timeout": 0.5}) as server:
        alice, bob = await add_users(server, "alice", "bob")
        port = server_port(server)
        client = await RawClient.logged_in(port, "alice", PASSWORD)
        await _enable(client)
        await _available(client)
        async with connected(bob, PASSWORD, port) as sender:
            sender.send_message(mto=alice, mbody="never acknowledged", mtype="chat")
            assert await _bodies(client, 1) == ["never acknowledged"]
            await client.close()
            await asyncio.sleep(1.5)
        assert not server.router.resources(JID.parse(alice))
        assert await server.storage.archive("offline").count(alice) == 1
        async with connected(alice, PASSWORD, port) as again:
            message = await again.next_message()
            assert message["body"] == "never acknowledged"


async def test_clean_close_also_keeps_unacknowledged_messages(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    client = await RawClient.logged_in(port, "alice", PASSWORD)
    await _enable(client, resume=False)
    await _available(client)
    async with connected(bob, PASSWORD, port) as sender:
        sender.send_message(mto=alice, mbody="left before acking", mtype="chat")
        assert await _bodies(client, 1) == ["left before acking"]
        await client.send(b"</stream:stream>")
        await client.wait_closed()
        await asyncio.sleep(0.3)
    assert await server.storage.archive("offline").count(alice) == 1

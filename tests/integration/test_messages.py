"""Message routing (RFC 6121 §8), offline storage (XEP-0160) and stanza errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ironwall.proto.jid import JID
from ironwall.server.app import Server
from support.client import XMPPClient, connected
from support.server import running_server, server_port
from support.users import PASSWORD, add_users, befriend


async def _error_of(client: XMPPClient, timeout: float = 10) -> str:
    async with asyncio.timeout(timeout):
        while True:
            message = await client.next_message()
            if message["type"] == "error":
                return str(message["error"]["condition"])


async def test_message_to_bare_jid_reaches_every_available_resource(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    async with (
        connected(alice, PASSWORD, port) as a,
        connected(f"{bob}/one", PASSWORD, port) as b1,
        connected(f"{bob}/two", PASSWORD, port) as b2,
    ):
        a.send_message(mto=bob, mbody="hello both", mtype="chat")
        for client in (b1, b2):
            message = await client.next_message()
            assert message["body"] == "hello both"
            assert str(message["from"]) == str(a.boundjid)


async def test_message_to_full_jid_reaches_only_that_resource(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    async with (
        connected(alice, PASSWORD, port) as a,
        connected(f"{bob}/one", PASSWORD, port) as b1,
        connected(f"{bob}/two", PASSWORD, port) as b2,
    ):
        a.send_message(mto=f"{bob}/two", mbody="only two", mtype="chat")
        assert (await b2.next_message())["body"] == "only two"
        a.send_message(mto=f"{bob}/one", mbody="now one", mtype="chat")
        assert (await b1.next_message())["body"] == "now one"
        assert b2.messages.empty()


async def test_message_to_offline_full_jid_falls_back_to_bare(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    async with connected(alice, PASSWORD, port) as a, connected(f"{bob}/home", PASSWORD, port) as b:
        a.send_message(mto=f"{bob}/gone", mbody="to a closed resource", mtype="chat")
        assert (await b.next_message())["body"] == "to a closed resource"


async def test_offline_messages_survive_a_restart_and_arrive_in_order(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with running_server(data) as server:
        alice, bob = await add_users(server, "alice", "bob")
        async with connected(alice, PASSWORD, server_port(server)) as a:
            for n in range(3):
                a.send_message(mto=bob, mbody=f"offline {n}", mtype="chat")
            # A ping round trip orders after the messages on the same stream.
            await a.plugin["xep_0199"].ping("localhost", timeout=10)
        stored = await server.storage.archive("offline").count(bob)
        assert stored == 3
    async with running_server(data) as server:
        async with connected(bob, PASSWORD, server_port(server)) as b:
            bodies = [(await b.next_message())["body"] for _ in range(3)]
            assert bodies == ["offline 0", "offline 1", "offline 2"]
        assert await server.storage.archive("offline").count(bob) == 0


async def test_offline_message_carries_a_delay_stamp(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    async with connected(alice, PASSWORD, port) as a:
        a.send_message(mto=bob, mbody="later", mtype="chat")
        await a.plugin["xep_0199"].ping("localhost", timeout=10)
    client = XMPPClient(bob, PASSWORD)
    client.register_plugin("xep_0203")
    try:
        await client.start(port)
        message = await client.next_message()
        assert message["body"] == "later"
        assert message["delay"]["stamp"] is not None
        assert message["delay"]["from"] == JID.parse("localhost").domain
    finally:
        await client.stop()


async def test_offline_quota_full_is_a_clear_error(tmp_path: Path) -> None:
    # One contact may fill the whole queue here (the shares have tests in tests/attacks).
    limits = {"max_offline_messages": 2, "offline_share_per_sender": 1.0}
    async with running_server(tmp_path / "d", limits=limits) as server:
        alice, bob = await add_users(server, "alice", "bob")
        await befriend(server, alice, bob)
        async with connected(alice, PASSWORD, server_port(server)) as a:
            for n in range(3):
                a.send_message(mto=bob, mbody=f"m{n}", mtype="chat")
            message = await a.next_message()
            assert message["type"] == "error"
            assert message["error"]["condition"] == "service-unavailable"
            assert message["error"]["text"].startswith(
                "the recipient is offline and their offline message storage is full (2 messages"
            )
        assert await server.storage.archive("offline").count(bob) == 2


async def test_message_to_unknown_user_is_service_unavailable(server: Server) -> None:
    (alice,) = await add_users(server, "alice")
    async with connected(alice, PASSWORD, server_port(server)) as a:
        a.send_message(mto="nobody@localhost", mbody="anyone?", mtype="chat")
        assert await _error_of(a) == "service-unavailable"


async def test_message_to_malformed_jid_is_jid_malformed(server: Server) -> None:
    (alice,) = await add_users(server, "alice")
    async with connected(alice, PASSWORD, server_port(server)) as a:
        a.send_raw("<message to='a@b@c@@' type='chat' id='m1'><body>x</body></message>")
        assert await _error_of(a) == "jid-malformed"


async def test_message_to_other_domain_is_remote_server_not_found(server: Server) -> None:
    (alice,) = await add_users(server, "alice")
    async with connected(alice, PASSWORD, server_port(server)) as a:
        a.send_message(mto="someone@example.org", mbody="far away", mtype="chat")
        assert await _error_of(a) == "remote-server-not-found"


async def test_iq_errors(server: Server) -> None:
    alice, _bob = await add_users(server, "alice", "bob")
    async with connected(alice, PASSWORD, server_port(server)) as a:
        unknown = await a.raw_iq(
            "<iq type='get' to='localhost'><query xmlns='urn:example:unknown'/></iq>"
        )
        assert unknown["error"]["condition"] == "service-unavailable"  # RFC 6120 §8.4
        to_offline_resource = await a.raw_iq(
            "<iq type='get' to='bob@localhost/none'><ping xmlns='urn:xmpp:ping'/></iq>"
        )
        assert to_offline_resource["error"]["condition"] == "service-unavailable"
        to_missing_user = await a.raw_iq(
            "<iq type='get' to='ghost@localhost'><query xmlns='urn:example:x'/></iq>"
        )
        assert to_missing_user["error"]["condition"] == "service-unavailable"
        two_payloads = await a.raw_iq(
            "<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/><x xmlns='y'/></iq>"
        )
        assert two_payloads["error"]["condition"] == "bad-request"
        bad_to = await a.raw_exchange(
            "<iq type='get' id='bad1' to='@bad'><ping xmlns='urn:xmpp:ping'/></iq>", "bad1"
        )
        assert bad_to["type"] == "error"
        assert bad_to["error"]["condition"] == "jid-malformed"
        assert bad_to["from"] == JID.parse("localhost").domain


async def test_iq_between_full_jids_is_routed(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    async with connected(alice, PASSWORD, port) as a, connected(bob, PASSWORD, port) as b:
        rtt = await a.plugin["xep_0199"].ping(str(b.boundjid), timeout=10)
        assert rtt >= 0


async def test_password_change_and_account_removal(server: Server) -> None:
    (alice,) = await add_users(server, "alice")
    port = server_port(server)
    async with connected(alice, PASSWORD, port) as a:
        changed = await a.raw_iq(
            "<iq type='set' to='localhost'><query xmlns='jabber:iq:register'>"
            "<username>alice</username><password>a new password</password></query></iq>"
        )
        assert changed["type"] == "result"
    async with connected(alice, "a new password", port) as a:
        removed = await a.raw_iq(
            "<iq type='set'><query xmlns='jabber:iq:register'><remove/></query></iq>"
        )
        assert removed["type"] == "result"
        await asyncio.wait_for(a.disconnected_event.wait(), 10)
    assert not await server.accounts.exists(JID.parse(alice))

"""Registration, STARTTLS, SASL and resource binding, with slixmpp against the real server."""

from __future__ import annotations

import asyncio

from ironwall.proto.jid import JID
from ironwall.server.app import Server
from support.client import XMPPClient, connected
from support.server import server_port
from support.users import PASSWORD, add_users


async def test_in_band_registration_then_login(server: Server) -> None:
    registrar = XMPPClient("newbie@localhost", "a fine password", register=True)
    await registrar.start(server_port(server))
    assert registrar.registration_error is None
    await registrar.stop()
    assert await server.accounts.exists(JID.parse("newbie@localhost"))
    async with connected("newbie@localhost", "a fine password", server_port(server)) as client:
        assert client.boundjid.bare == "newbie@localhost"
        assert client.boundjid.resource


async def test_registration_of_existing_account_is_a_conflict(server: Server) -> None:
    await add_users(server, "alice")
    registrar = XMPPClient("alice@localhost", "another password", register=True)
    registrar.connect("127.0.0.1", server_port(server))
    await asyncio.wait_for(registrar.disconnected_event.wait(), 10)
    assert registrar.registration_error == "conflict"
    assert not registrar.session_started.is_set()


async def test_scram_sha_256_is_negotiated_over_starttls(server: Server) -> None:
    await add_users(server, "alice")
    mechanisms: list[str] = []
    client = XMPPClient("alice@localhost", PASSWORD)
    client.add_event_handler(
        "auth_success", lambda _e: mechanisms.append(client.plugin["feature_mechanisms"].mech.name)
    )
    await client.start(server_port(server))
    try:
        # slixmpp binds channels only with tls-unique, which TLS 1.3 lacks, so it picks plain SCRAM.
        assert mechanisms == ["SCRAM-SHA-256"]
        assert client.socket.version() == "TLSv1.3"
    finally:
        await client.stop()


async def test_wrong_password_fails_authentication(server: Server) -> None:
    await add_users(server, "alice")
    client = XMPPClient("alice@localhost", "not the password")
    client.connect("127.0.0.1", server_port(server))
    await asyncio.wait_for(client.failed_auth.wait(), 10)
    assert not client.session_started.is_set()
    await client.stop()


async def test_explicit_resource_is_bound(server: Server) -> None:
    await add_users(server, "alice")
    async with connected("alice@localhost/phone", PASSWORD, server_port(server)) as client:
        assert str(client.boundjid) == "alice@localhost/phone"


async def test_resource_conflict_new_login_wins(server: Server) -> None:
    await add_users(server, "alice")
    port = server_port(server)
    async with (
        connected("alice@localhost/desk", PASSWORD, port) as first,
        connected("alice@localhost/desk", PASSWORD, port) as second,
    ):
        error = await asyncio.wait_for(first.stream_errors.get(), 10)
        assert error["condition"] == "conflict"
        assert str(second.boundjid) == "alice@localhost/desk"
        sessions = server.router.resources(JID.parse("alice@localhost"))
        assert len(sessions) == 1


async def test_ping_disco_and_version(server: Server) -> None:
    await add_users(server, "alice")
    async with connected("alice@localhost", PASSWORD, server_port(server)) as client:
        rtt = await client.plugin["xep_0199"].ping("localhost", timeout=10)
        assert rtt >= 0
        info = await client.plugin["xep_0030"].get_info(jid="localhost", timeout=10)
        features = info["disco_info"]["features"]
        assert "urn:xmpp:ping" in features
        assert "jabber:iq:version" in features
        assert "jabber:iq:register" in features
        version = await client.plugin["xep_0092"].get_version("localhost", timeout=10)
        assert version["software_version"]["name"] == "Ironwall"

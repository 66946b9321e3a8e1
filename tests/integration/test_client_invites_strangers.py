"""The client side of invite-only registration and of the policy for strangers."""

from __future__ import annotations

from pathlib import Path

import pytest

from ironwall.client import Account
from ironwall.client.errors import ConnectFailed, InvalidAddress
from ironwall.client.invites import parse_invite
from ironwall.client.server_account import strangers_policy
from ironwall.client.xmpp import ServerAddress
from ironwall.server.invite_tokens import Invites, invite_uri
from support.client import connected
from support.server import running_server, server_port
from support.tls import test_pki
from support.users import PASSWORD, add_users

PASSPHRASE = "orbit lantern quietly seventeen marble"


def test_invite_links_are_read_or_refused_with_a_reason() -> None:
    invite = parse_invite("xmpp:alice@example.org?register;preauth=T0k%2Ben")
    assert (invite.domain, invite.local, invite.token) == ("example.org", "alice", "T0k+en")
    assert parse_invite("xmpp:example.org?register;preauth=abc").jid("bob") == "bob@example.org"
    for link, says in (
        ("https://example.org", "starts with 'xmpp:'"),
        ("xmpp:example.org?join", "not an invite to register"),
        ("xmpp:example.org?register", "holds no token"),
    ):
        with pytest.raises(InvalidAddress, match=says):
            parse_invite(link)
    with pytest.raises(InvalidAddress, match="names no account"):
        parse_invite("xmpp:example.org?register;preauth=abc").jid()


async def test_an_invite_opens_an_invite_only_server_once(tmp_path: Path) -> None:
    async with running_server(tmp_path / "server", registration="invite") as server:
        address = ServerAddress("127.0.0.1", server_port(server), test_pki().ca_pem)
        token = await Invites(server.storage).create("localhost")
        link = parse_invite(invite_uri("localhost", token))
        uninvited = Account("eve@localhost", tmp_path / "eve", insecure_fast_kdf_for_tests=True)
        uninvited.remember_address(address)
        with pytest.raises(ConnectFailed, match="only with an invite"):
            await uninvited.create(PASSPHRASE)
        alice = Account(link.jid("alice"), tmp_path / "alice", insecure_fast_kdf_for_tests=True)
        alice.remember_address(address)
        await alice.create(PASSPHRASE, invite=link.token)
        assert alice.exists
        again = Account(link.jid("mallory"), tmp_path / "m", insecure_fast_kdf_for_tests=True)
        again.remember_address(address)
        with pytest.raises(ConnectFailed, match="already been used"):
            await again.create(PASSPHRASE, invite=link.token)
        assert not again.exists


async def test_a_user_who_refuses_strangers_gets_no_message_from_them(tmp_path: Path) -> None:
    async with running_server(tmp_path / "server") as server:
        address = ServerAddress("127.0.0.1", server_port(server), test_pki().ca_pem)
        bob = Account("bob@localhost", tmp_path / "bob", insecure_fast_kdf_for_tests=True)
        bob.remember_address(address)
        await bob.create(PASSPHRASE)
        await add_users(server, "mallory")
        async with bob.open(PASSPHRASE, available=True) as session:
            assert await strangers_policy(session.connection) == "limit"
            assert await strangers_policy(session.connection, "refuse") == "refuse"
            async with connected("mallory@localhost", PASSWORD, server_port(server)) as mallory:
                mallory.send_message(mto="bob@localhost", mbody="buy my stuff", mtype="chat")
                bounced = await mallory.next_message()
                assert bounced["type"] == "error", bounced
                condition = "{urn:ietf:params:xml:ns:xmpp-stanzas}policy-violation"
                assert bounced.xml.find(f"{{jabber:client}}error/{condition}") is not None
            await session.settled()
            assert session.history("mallory@localhost") == []

"""Account lifecycle and contact management in the client: passphrase change, recovery,
revocation, deletion, verification, plaintext policy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ironwall.client.core import Account
from ironwall.client.errors import ClientError, ConnectFailed, SendingBlocked
from ironwall.client.xmpp import ServerAddress
from ironwall.e2e import TrustState
from ironwall.proto.jid import JID
from ironwall.server.app import Server
from support.server import running_server, server_port
from support.tls import test_pki

OLD = "orbit lantern quietly seventeen marble"
NEW = "copper thistle harbor ninety velvet"


@dataclass
class World:
    server: Server
    address: ServerAddress
    tmp: Path

    def account(self, name: str, device: str = "") -> Account:
        account = Account(
            f"{name}@localhost", self.tmp / f"{name}{device}", insecure_fast_kdf_for_tests=True
        )
        account.remember_address(self.address)
        return account


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_server(tmp_path / "server") as server:
        yield World(
            server, ServerAddress("127.0.0.1", server_port(server), test_pki().ca_pem), tmp_path
        )


async def _pair(world: World) -> tuple[Account, Account]:
    alice, bob = world.account("alice"), world.account("bob")
    await alice.create(OLD)
    await bob.create(OLD)
    async with alice.session(OLD) as session:
        await session.add_contact("bob@localhost")
        await session.sync()
    async with bob.session(OLD) as session:
        await session.accept_contact("alice@localhost")
        await session.sync()
    return alice, bob


async def test_passphrase_change_moves_login_and_key_to_the_new_passphrase(world: World) -> None:
    alice = world.account("alice")
    await alice.create(OLD)
    async with alice.session(OLD) as session:
        await session.change_passphrase(OLD, NEW, derived_login=True)
    fresh = world.account("alice", "-new-device")
    with pytest.raises(ConnectFailed, match="refused the login"):
        async with fresh.session(OLD):
            pass
    fresh.forget()
    fresh = world.account("alice", "-new-device")
    async with fresh.session(NEW) as session:
        assert session.identity is not None
        assert session.identity.fingerprint == alice.state.get("fingerprint")


async def test_recovery_code_sets_a_new_passphrase(world: World) -> None:
    alice = world.account("alice")
    fingerprint, code = await alice.create(OLD)
    await alice.recover(code, NEW)
    with pytest.raises(ClientError, match="wrong passphrase"):
        async with alice.session(OLD):
            pass
    async with alice.session(NEW) as session:
        assert session.identity is not None
        assert session.identity.fingerprint == fingerprint


async def test_wrong_recovery_code_changes_nothing(world: World) -> None:
    alice = world.account("alice")
    await alice.create(OLD)
    with pytest.raises(ClientError, match="wrong passphrase"):
        await alice.recover("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF", NEW)
    async with alice.session(OLD) as session:
        assert session.identity is not None


async def test_revocation_stops_contacts_and_locks_the_account(world: World) -> None:
    alice, bob = await _pair(world)
    async with alice.session(OLD) as session:
        await session.revoke()
    async with bob.session(OLD) as session:
        trust = await session.refresh_keys("alice@localhost")
        assert trust.state is TrustState.REVOKED
        with pytest.raises(SendingBlocked, match="compromised"):
            await session.send("alice@localhost", "are you there?")
    again = world.account("alice", "-other")
    with pytest.raises(ConnectFailed, match="refused the login"):
        async with again.session(OLD):
            pass


async def test_deleted_account_is_gone_from_the_server(world: World) -> None:
    alice = world.account("alice")
    await alice.create(OLD)
    async with alice.session(OLD) as session:
        await session.delete_account()
    alice.forget()
    assert not await world.server.accounts.exists(JID.parse("alice@localhost"))
    assert not (world.tmp / "alice" / "alice@localhost").exists()


async def test_verified_contact_and_accepting_a_changed_key(world: World) -> None:
    alice, bob = await _pair(world)
    async with alice.session(OLD) as session:
        assert session.verify("bob@localhost").state is TrustState.VERIFIED
    # Bob starts over with a new key (same account).
    password = bob.state.get("login_password") or ""
    bob.forget()
    reborn = world.account("bob", "-reinstalled")
    await reborn.create(NEW, existing_password=password)
    async with alice.session(OLD) as session:
        trust = await session.refresh_keys("bob@localhost")
        assert trust.state is TrustState.CHANGED
        with pytest.raises(SendingBlocked):
            await session.send("bob@localhost", "hello?")
        assert session.accept_change("bob@localhost").state is TrustState.UNVERIFIED
        await session.send("bob@localhost", "welcome back")
        await session.sync()
    async with reborn.session(NEW, available=True) as session:
        message = await asyncio.wait_for(session.incoming.get(), 10)
        assert (message.body, message.status) == ("welcome back", "unverified")


async def test_history_records_both_directions(world: World) -> None:
    alice, bob = await _pair(world)
    async with bob.session(OLD, available=True) as receiving, alice.session(OLD) as sending:
        await sending.send("bob@localhost", "one")
        await asyncio.wait_for(receiving.incoming.get(), 10)
    sent = alice.state.history("bob@localhost")
    received = bob.state.history("alice@localhost")
    assert [(e.direction, e.body, e.status) for e in sent] == [("out", "one", "unverified")]
    assert [(e.direction, e.body, e.status) for e in received] == [("in", "one", "unverified")]

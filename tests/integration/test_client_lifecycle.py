"""Account lifecycle and contact management in the client: passphrase change, recovery,
revocation, deletion, verification, plaintext policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ironwall.client import Account
from ironwall.client.errors import (
    AccountDisabled,
    LoginRefused,
    SendingBlocked,
    WrongPassphraseError,
)
from ironwall.client.xmpp import ServerAddress
from ironwall.e2e import TrustState, derive_login_password
from ironwall.proto.jid import JID
from ironwall.server.app import Server
from support.server import running_server, server_port
from support.sessions import next_message
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
    async with alice.open(OLD) as session:
        await session.add_contact("bob@localhost")
        await session.settled()
    async with bob.open(OLD) as session:
        await session.accept_contact("alice@localhost")
        await session.settled()
    return alice, bob


async def test_passphrase_change_moves_login_and_key_to_the_new_passphrase(world: World) -> None:
    alice = world.account("alice")
    fingerprint, _code = await alice.create(OLD)
    await alice.change_passphrase(OLD, NEW)
    fresh = world.account("alice", "-new-device")
    with pytest.raises(LoginRefused, match="refused the login"):
        await fresh.login(OLD)
    assert not fresh.exists
    assert await fresh.login(NEW) == fingerprint
    async with fresh.open(NEW) as session:
        assert session.identity.fingerprint == fingerprint


async def test_after_a_recovery_every_other_device_logs_in_with_the_new_passphrase(
    world: World,
) -> None:
    laptop = world.account("alice")
    fingerprint, code = await laptop.create(OLD)
    phone = world.account("alice", "-phone")
    await phone.login(OLD)
    new_code = await laptop.recover(code, NEW)
    assert new_code != code
    # The phone still caches the key sealed under the old passphrase: the old passphrase
    # opens it, but the server refuses the old login; the new passphrase gets the new seal.
    with pytest.raises(LoginRefused, match="changed on another device"):
        async with phone.open(OLD):
            pass
    async with phone.open(NEW) as session:
        assert session.identity.fingerprint == fingerprint
    # The used recovery code no longer opens anything; the new one does.
    with pytest.raises(WrongPassphraseError, match="wrong recovery code"):
        await laptop.recover(code, OLD)
    await laptop.recover(new_code, OLD)
    async with phone.open(OLD) as session:
        assert session.identity.fingerprint == fingerprint


async def test_recovery_code_sets_a_new_passphrase(world: World) -> None:
    alice = world.account("alice")
    fingerprint, code = await alice.create(OLD)
    await alice.recover(code, NEW)
    with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
        async with alice.open(OLD):
            pass
    async with alice.open(NEW) as session:
        assert session.identity.fingerprint == fingerprint


async def test_wrong_recovery_code_changes_nothing(world: World) -> None:
    alice = world.account("alice")
    await alice.create(OLD)
    with pytest.raises(WrongPassphraseError, match="wrong recovery code"):
        await alice.recover("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF", NEW)
    async with alice.open(OLD) as session:
        assert session.online


async def test_revocation_stops_contacts_and_locks_the_account(world: World) -> None:
    alice, bob = await _pair(world)
    assert await alice.revoke(OLD)
    async with bob.open(OLD) as session:
        trust = await session.refresh_keys("alice@localhost")
        assert trust.state is TrustState.REVOKED
        with pytest.raises(SendingBlocked, match="compromised"):
            await session.send("alice@localhost", "are you there?")
    again = world.account("alice", "-other")
    with pytest.raises(AccountDisabled, match="revoked"):
        await again.login(OLD)
    with pytest.raises(AccountDisabled, match="revoked"):
        async with alice.open(OLD):
            pass


async def test_deleted_account_is_gone_from_the_server(world: World) -> None:
    alice = world.account("alice")
    await alice.create(OLD)
    await alice.delete(OLD)
    assert not await world.server.accounts.exists(JID.parse("alice@localhost"))
    assert not (world.tmp / "alice" / "alice@localhost").exists()


async def test_verified_contact_and_accepting_a_changed_key(world: World) -> None:
    alice, bob = await _pair(world)
    async with alice.open(OLD) as session:
        assert (await session.verify("bob@localhost")).state is TrustState.VERIFIED
    # Bob starts over with a new key (same account).
    password = derive_login_password(OLD, "bob@localhost", insecure_fast_kdf_for_tests=True)
    bob.forget()
    reborn = world.account("bob", "-reinstalled")
    await reborn.create(NEW, existing_password=password)
    async with alice.open(OLD) as session:
        trust = await session.refresh_keys("bob@localhost")
        assert trust.state is TrustState.CHANGED
        with pytest.raises(SendingBlocked):
            await session.send("bob@localhost", "hello?")
        assert session.accept_key("bob@localhost").state is TrustState.UNVERIFIED
        await session.send("bob@localhost", "welcome back")
        await session.settled()
    async with reborn.open(NEW, available=True) as session:
        message = await next_message(session, 10)
        assert (message.body, message.status.value) == ("welcome back", "unverified")


async def test_history_records_both_directions(world: World) -> None:
    alice, bob = await _pair(world)
    async with bob.open(OLD, available=True) as receiving, alice.open(OLD) as sending:
        await sending.send("bob@localhost", "one")
        await next_message(receiving, 10)
        sent = sending.history("bob@localhost")
        received = receiving.history("alice@localhost")
    assert [(m.direction.value, m.body, m.status.value) for m in sent] == [
        ("out", "one", "unverified")
    ]
    assert [(m.direction.value, m.body, m.status.value) for m in received] == [
        ("in", "one", "unverified")
    ]

"""A revocation reaches every contact, and the attacker's own client is shut out.

Found on main: after Bob's ``account revoke``, Alice's client still showed Bob verified and
still encrypted to his key minutes later, and a session the attacker had open on Bob's
account kept working.
"""

from __future__ import annotations

import time

import pytest

from ironwall.client.errors import AccountDisabled, SendingBlocked
from ironwall.client.events import ConnectionChanged, ConnectionState, KeyRevoked
from ironwall.e2e import TrustState
from support.client_world import PASSPHRASE, World
from support.sessions import next_event


async def test_an_online_contact_is_told_at_once_and_stops_encrypting(
    client_world: World,
) -> None:
    world = client_world
    alice, bob = await world.create("alice", "bob")
    await world.befriend("alice", "bob")
    thief = world.device("bob", "stolen-laptop")
    await thief.login(PASSPHRASE)
    async with (
        alice.open(PASSPHRASE, available=True) as watching,
        thief.open(PASSPHRASE, available=True) as attacker,
    ):
        await watching.settled()
        await attacker.settled()
        assert watching.contact(bob.jid).trust is TrustState.UNVERIFIED
        started = time.monotonic()
        assert await bob.revoke(PASSPHRASE)
        # The attacker's client is thrown out and told why; it stops trying.
        gone = await next_event(
            attacker,
            ConnectionChanged,
            where=lambda e: e.state is ConnectionState.OFFLINE and e.retry_in is None,
            timeout=5,
        )
        assert time.monotonic() - started < 2
        assert "revoked" in gone.reason
        assert isinstance(attacker.fatal, AccountDisabled)
        # Alice hears of it through PEP, without asking.
        revoked = await next_event(watching, KeyRevoked, timeout=5)
        assert revoked.jid == bob.jid
        assert watching.contact(bob.jid).trust is TrustState.REVOKED
        with pytest.raises(SendingBlocked, match="compromised"):
            await watching.send(bob.jid, "are you still there?")


async def test_a_contact_who_was_away_sees_the_revocation_later(client_world: World) -> None:
    world = client_world
    alice, bob = await world.create("alice", "bob")
    await world.befriend("alice", "bob")
    assert await bob.revoke(PASSPHRASE)
    # Later, Alice (who had no session open) opens a one-shot one and writes to Bob.
    async with alice.open(PASSPHRASE) as session:
        with pytest.raises(SendingBlocked, match="compromised"):
            await session.send(bob.jid, "long time no see")
        assert session.contact(bob.jid).trust is TrustState.REVOKED


async def test_the_owner_and_the_thief_cannot_log_in_afterwards(client_world: World) -> None:
    world = client_world
    (bob,) = await world.create("bob")
    assert await bob.revoke(PASSPHRASE)
    with pytest.raises(AccountDisabled):
        async with bob.open(PASSPHRASE):
            pass
    thief = world.device("bob", "new-device")
    with pytest.raises(AccountDisabled, match="revoked"):
        await thief.login(PASSPHRASE)

"""A key the server substitutes is never encrypted to before the user has seen the change.

Found on main: after the server swapped an unverified contact's key (pinned as changed
when a forged message arrived), the next ``send`` went to the server's key without a word.
"""

from __future__ import annotations

import pytest

from ironwall.client import ox
from ironwall.client.errors import SendingBlocked
from ironwall.client.events import KeyChanged
from ironwall.e2e import Identity, TrustState
from support.client_world import PASSPHRASE, World
from support.sessions import next_event


async def test_a_changed_key_of_an_unverified_contact_needs_acknowledging(
    client_world: World,
) -> None:
    world = client_world
    alice, bob = await world.create("alice", "bob")
    await world.befriend("alice", "bob")
    # The server (or whoever controls Bob's key list) announces a key of its own for Bob.
    substitute = Identity.generate(bob.jid)
    async with bob.open(PASSPHRASE) as server_side:
        await ox.publish_public_key(server_side.connection, substitute.public_key)
    async with alice.open(PASSPHRASE) as session:
        with pytest.raises(SendingBlocked, match="accept-key bob@localhost"):
            await session.send(bob.jid, "the new door code is 5521")
        changed = await next_event(session, KeyChanged)
        assert changed.new == (substitute.fingerprint,)
        assert not changed.was_verified
        assert session.contact(bob.jid).trust is TrustState.CHANGED
        # Nothing reached the server: no message to Bob was ever written to the stream.
        assert [m.body for m in session.history(bob.jid)] == []
        # Once the user has seen it and accepts it, sending resumes — to the new key.
        session.accept_key(bob.jid)
        sent = await session.send(bob.jid, "the new door code is 5521")
        assert sent.status.value == "unverified"

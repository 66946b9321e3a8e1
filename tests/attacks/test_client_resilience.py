"""The client loses no message to a failure on the way, says when it cannot connect, and
keeps its replay cache bounded.

Found on main: a task spawned for an incoming message whose key fetch failed died with
its exception unretrieved, so that message was neither recorded nor shown;
``stay_connected`` gave up silently after five failed reconnects; the replay cache grew
without bound.
"""

from __future__ import annotations

import datetime as dt

from ironwall.client.events import ConnectionChanged, ConnectionState
from ironwall.e2e import REPLAY_WINDOW
from ironwall.proto.stanza import error_reply
from ironwall.server.events import iq
from ironwall.server.router import StanzaEvent
from support.client_world import PASSPHRASE, World
from support.sessions import next_event, next_message

PUBSUB = "http://jabber.org/protocol/pubsub"


async def test_a_kept_message_is_opened_when_the_keys_can_be_read_again(
    client_world: World,
) -> None:
    world = client_world
    alice, bob = await world.create("alice", "bob")
    failing = True

    async def fail_key_reads(event: StanzaEvent) -> bool:
        if not failing or event.to is None or str(event.to) != alice.jid:
            return False
        reply = error_reply(event.stanza, "internal-server-error", "disk on fire")
        assert reply is not None
        world.server.router.deliver_local(reply)
        return True

    world.server.hooks.on(iq("get", "bare", PUBSUB), fail_key_reads, priority=1000)
    async with bob.open(PASSPHRASE, available=True) as receiving:
        await receiving.settled()
        async with alice.open(PASSPHRASE) as sending:
            await sending.add_contact(bob.jid)
            await sending.send(bob.jid, "please do not lose me")
            await sending.settled()
        await receiving.settled()
        assert receiving.history(alice.jid) == []
    failing = False
    async with bob.open(PASSPHRASE, available=True) as receiving:
        message = await next_message(receiving)
        assert message.body == "please do not lose me"


async def test_a_session_that_cannot_reconnect_says_so_and_keeps_trying(
    client_world: World,
) -> None:
    world = client_world
    (alice,) = await world.create("alice")
    async with alice.open(PASSPHRASE, available=True) as session:
        await session.settled()
        await world.server.stop()
        dropped = await next_event(
            session, ConnectionChanged, where=lambda e: e.state is ConnectionState.OFFLINE
        )
        assert dropped.reason
        assert dropped.retry_in is not None
        retried = await next_event(
            session,
            ConnectionChanged,
            where=lambda e: e.state is ConnectionState.OFFLINE and "cannot reach" in e.reason,
        )
        assert retried.retry_in is not None
        assert retried.retry_in > dropped.retry_in  # backing off, never giving up
        assert session.fatal is None


async def test_the_replay_cache_forgets_what_the_window_covers(client_world: World) -> None:
    world = client_world
    (alice,) = await world.create("alice")
    _identity, state, _login = await alice.unlock(PASSPHRASE)
    try:
        now = dt.datetime.now(dt.UTC)
        old = now - REPLAY_WINDOW - dt.timedelta(hours=1)
        for n in range(500):
            assert state.add("bob@localhost", f"origin-id:{n}", old)
        assert state.add("bob@localhost", "origin-id:fresh", now)
        # Entries past the window are gone: a live message that old is refused as stale
        # before the cache is asked, so nothing is lost by forgetting them.
        assert state.replay_entries() == 1
        assert not state.add("bob@localhost", "origin-id:fresh", now)
    finally:
        state.close()

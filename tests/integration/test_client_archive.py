"""Every device shows the whole conversation: archive sync (XEP-0313), carbons (XEP-0280),
and each message recorded once however many ways it arrives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ironwall.client import Account, ClientSession
from ironwall.client.archive import sync_archive
from ironwall.client.events import Delivery, MessageReceived, MessageUpdated
from ironwall.client.xmpp import ServerAddress
from ironwall.server.app import Server
from support.server import running_server, server_port
from support.sessions import next_event, next_message, stream
from support.tls import test_pki

PASSPHRASE = "orbit lantern quietly seventeen marble"
SECRET = "the vault code is 4711"


def _history(session: ClientSession, peer: str) -> list[tuple[str, str | None, str]]:
    return [(m.direction.value, m.body, m.status.value) for m in session.history(peer)]


@dataclass
class World:
    server: Server
    address: ServerAddress
    tmp: Path

    def device(self, name: str, device: str) -> Account:
        account = Account(
            f"{name}@localhost", self.tmp / f"{name}-{device}", insecure_fast_kdf_for_tests=True
        )
        account.remember_address(self.address)
        return account


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_server(tmp_path / "server") as server:
        world = World(
            server, ServerAddress("127.0.0.1", server_port(server), test_pki().ca_pem), tmp_path
        )
        alice, bob = world.device("alice", "laptop"), world.device("bob", "phone")
        await alice.create(PASSPHRASE)
        await bob.create(PASSPHRASE)
        async with alice.open(PASSPHRASE) as session:
            await session.add_contact("bob@localhost")
            await session.settled()
        async with bob.open(PASSPHRASE) as session:
            await session.accept_contact("alice@localhost")
            await session.settled()
        yield world


async def test_a_new_device_shows_the_whole_verified_history(world: World) -> None:
    alice, bob = world.device("alice", "laptop"), world.device("bob", "phone")
    async with (
        bob.open(PASSPHRASE, available=True) as b,
        alice.open(PASSPHRASE, available=True) as a,
    ):
        await a.send("bob@localhost", "first")
        await next_message(b, 10)
        await a.send("bob@localhost", SECRET)
        await next_message(b, 10)
        await b.send("alice@localhost", "got both")
        await next_message(a, 10)
    tablet = world.device("bob", "new-tablet")
    await tablet.login(PASSPHRASE)
    async with tablet.open(PASSPHRASE) as session:
        assert await sync_archive(session) == 3
        history = _history(session, "alice@localhost")
    assert history == [
        ("in", "first", "unverified"),
        ("in", SECRET, "unverified"),
        ("out", "got both", "unverified"),
    ]
    # The archive on the server holds ciphertext only.
    for owner in ("alice@localhost", "bob@localhost"):
        items = await world.server.storage.archive("mam").query(owner)
        assert len(items) == 3
        for item in items:
            assert "urn:xmpp:openpgp:0" in item.payload
            assert SECRET not in item.payload
            assert "got both" not in item.payload


async def test_carbons_show_a_message_sent_on_one_device_on_the_other(world: World) -> None:
    laptop, desktop = world.device("alice", "laptop"), world.device("alice", "desktop")
    bob = world.device("bob", "phone")
    await desktop.login(PASSPHRASE)
    async with (
        laptop.open(PASSPHRASE, available=True) as a1,
        desktop.open(PASSPHRASE, available=True) as a2,
        bob.open(PASSPHRASE, available=True) as b,
    ):
        await a1.send("bob@localhost", "sent from the laptop")
        assert (await next_message(b, 10)).body == "sent from the laptop"
        await b.send("alice@localhost", "reply to all of alice")
        for device in (a1, a2):
            assert (await next_message(device, 10)).body == "reply to all of alice"
        await a1.settled()
        await a2.settled()
        entries = [(d, body) for d, body, _status in _history(a2, "bob@localhost")]
    assert entries == [("out", "sent from the laptop"), ("in", "reply to all of alice")]


async def test_offline_copy_and_archive_copy_are_one_message(world: World) -> None:
    alice, bob = world.device("alice", "laptop"), world.device("bob", "phone")
    async with alice.open(PASSPHRASE) as a:
        await a.send("bob@localhost", "while you were out")
        await a.settled()
    async with bob.open(PASSPHRASE, available=True) as b:
        first = await next_message(b, 10)
        await b.settled()
        await asyncio.sleep(0.3)
        later = await stream(b).next(0.1)
        while later is not None:
            assert not isinstance(later, MessageReceived), later
            later = await stream(b).next(0.1)
        history = _history(b, "alice@localhost")
    assert first.body == "while you were out"
    assert history == [("in", "while you were out", "unverified")]


async def test_read_on_one_device_is_read_on_the_others(world: World) -> None:
    laptop, desktop = world.device("alice", "laptop"), world.device("alice", "desktop")
    bob = world.device("bob", "phone")
    await desktop.login(PASSPHRASE)
    async with (
        laptop.open(PASSPHRASE, available=True) as a1,
        desktop.open(PASSPHRASE, available=True) as a2,
        bob.open(PASSPHRASE, available=True) as b,
    ):
        await b.send("alice@localhost", "read me once")
        for device in (a1, a2):
            assert (await next_message(device, 10)).unread
        a2.mark_read("bob@localhost")
        updated = await next_event(
            a1, MessageUpdated, where=lambda e: not e.message.unread, timeout=10
        )
        assert updated.message.body == "read me once"
        assert a1.unread_counts() == {}
        # Bob's client hears that it was read.
        read = await next_event(
            b, MessageUpdated, where=lambda e: e.message.delivery is Delivery.READ, timeout=10
        )
        assert read.message.body == "read me once"

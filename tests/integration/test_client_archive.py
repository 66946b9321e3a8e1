"""Every device shows the whole conversation: archive sync (XEP-0313), carbons (XEP-0280),
and each message recorded once however many ways it arrives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ironwall.client.core import Account
from ironwall.client.xmpp import ServerAddress
from ironwall.server.app import Server
from support.server import running_server, server_port
from support.tls import test_pki

PASSPHRASE = "orbit lantern quietly seventeen marble"
SECRET = "the vault code is 4711"


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
        async with alice.session(PASSPHRASE) as session:
            await session.add_contact("bob@localhost")
            await session.sync()
        async with bob.session(PASSPHRASE) as session:
            await session.accept_contact("alice@localhost")
            await session.sync()
        yield world


async def test_a_new_device_shows_the_whole_verified_history(world: World) -> None:
    alice, bob = world.device("alice", "laptop"), world.device("bob", "phone")
    async with (
        bob.session(PASSPHRASE, available=True) as b,
        alice.session(PASSPHRASE, available=True) as a,
    ):
        await a.send("bob@localhost", "first")
        await asyncio.wait_for(b.incoming.get(), 10)
        await a.send("bob@localhost", SECRET)
        await asyncio.wait_for(b.incoming.get(), 10)
        await b.send("alice@localhost", "got both")
        await asyncio.wait_for(a.incoming.get(), 10)
    tablet = world.device("bob", "new-tablet")
    async with tablet.session(PASSPHRASE) as session:
        assert await session.sync_archive() == 3
    history = [(e.direction, e.body, e.status) for e in tablet.state.history("alice@localhost")]
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
    async with (
        laptop.session(PASSPHRASE, available=True) as a1,
        desktop.session(PASSPHRASE, available=True) as a2,bob.session(PASSPHRASE, available=True) as b
    ):
        await a1.send("bob@localhost", "sent from the laptop")
        assert (await asyncio.wait_for(b.incoming.get(), 10)).body == "sent from the laptop"
        await b.send("alice@localhost", "reply to all of alice")
        for device in (a1, a2):
            assert (
                await asyncio.wait_for(device.incoming.get(), 10)
            ).body == "reply to all of alice"
        await a1.sync()
        await a2.sync()
    entries = [(e.direction, e.body) for e in desktop.state.history("bob@localhost")]
    assert entries == [("out", "sent from the laptop"), ("in", "reply to all of alice")]


async def test_offline_copy_and_archive_copy_are_one_message(world: World) -> None:
    alice, bob = world.device("alice", "laptop"), world.device("bob", "phone")
    async with alice.session(PASSPHRASE) as a:
        await a.send("bob@localhost", "while you were out")
        await a.sync()
    async with bob.session(PASSPHRASE, available=True) as b:
        first = await asyncio.wait_for(b.incoming.get(), 10)
        await b.sync()
        await asyncio.sleep(0.3)
        assert b.incoming.empty()
    assert first.body == "while you were out"
    assert [e.body for e in bob.state.history("alice@localhost")] == ["while you were out"]
    assert all(e.status != "rejected" for e in bob.state.history("alice@localhost"))

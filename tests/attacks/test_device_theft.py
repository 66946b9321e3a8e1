"""Whoever copies a device's files without the passphrase reads nothing in them.

Found on main: ``ironwall history`` printed every message with no passphrase, because the
client kept decrypted history in clear in ``state.db``; its first ``-wal``/``-shm`` files
were world-readable and held the login password and the sealed key; the login password
was kept on the device in clear.
"""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from ironwall.client import Account
from ironwall.client.errors import WrongPassphraseError
from ironwall.e2e import derive_login_password
from support.client_world import PASSPHRASE, World
from support.sessions import next_message

SECRET = "the safe's combination is 31-17-44"


def _files(home: Path) -> list[Path]:
    return [path for path in home.rglob("*") if path.is_file()]


async def test_a_copied_device_holds_no_message_contact_or_password(
    client_world: World,
) -> None:
    world = client_world
    alice, bob = await world.create("alice", "bob")
    await world.befriend("alice", "bob")
    async with bob.open(PASSPHRASE, available=True) as b, alice.open(PASSPHRASE) as a:
        await a.send(bob.jid, SECRET)
        assert (await next_message(b)).body == SECRET
        await b.send(alice.jid, "noted")
        await b.settled()
        # Read while the database is open, as a thief copying a running device would.
        copied = b"".join(path.read_bytes() for path in _files(bob.home))
    password = derive_login_password(PASSPHRASE, bob.jid, insecure_fast_kdf_for_tests=True)
    for secret in (SECRET, "noted", alice.jid, PASSPHRASE, password):
        assert secret.encode() not in copied, secret
    # The state is a SQLCipher database: not even SQLite can read its header.
    state = bob.home / bob.jid / "state.db"
    assert not state.read_bytes().startswith(b"SQLite format 3")
    with pytest.raises(sqlite3.DatabaseError), sqlite3.connect(state) as database:
        database.execute("SELECT * FROM messages").fetchall()


async def test_the_history_opens_only_with_the_passphrase(client_world: World) -> None:
    world = client_world
    (alice,) = await world.create("alice")
    with pytest.raises(WrongPassphraseError):
        await alice.unlock("a guess of the thief's")
    _identity, state, _login = await alice.unlock(PASSPHRASE)
    state.close()


async def test_every_file_of_the_device_is_private_from_creation(client_world: World) -> None:
    world = client_world
    (alice,) = await world.create("alice")
    async with alice.open(PASSPHRASE, available=True) as session:
        await session.settled()
        paths = [alice.home / alice.jid, *_files(alice.home)]
        assert any(path.name.endswith("-wal") for path in paths)
        for path in paths:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


async def test_a_device_of_the_old_unencrypted_format_is_encrypted_on_login(
    client_world: World,
) -> None:
    """Ironwall 0.1 kept history and the login password in a plain SQLite file."""
    world = client_world
    (alice,) = await world.create("alice")
    old = world.tmp / "old-device" / alice.jid
    old.mkdir(parents=True)
    with sqlite3.connect(old / "state.db") as database:
        database.execute("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        database.execute(
            "CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, peer TEXT NOT NULL, "
            "direction TEXT NOT NULL, body TEXT, sent_at REAL NOT NULL, status TEXT NOT NULL, "
            "detail TEXT NOT NULL DEFAULT '', origin_id TEXT, unseen INTEGER NOT NULL DEFAULT 0)"
        )
        database.execute("INSERT INTO settings VALUES ('login_password', 'the-old-password')")
        database.execute(
            "INSERT INTO history (peer, direction, body, sent_at, status) "
            "VALUES ('bob@localhost', 'in', ?, 1.0, 'unverified')",
            (SECRET,),
        )
    device = Account(alice.jid, world.tmp / "old-device", insecure_fast_kdf_for_tests=True)
    device.remember_address(world.address)
    await device.login(PASSPHRASE)
    copied = b"".join(path.read_bytes() for path in _files(world.tmp / "old-device"))
    assert SECRET.encode() not in copied
    assert b"the-old-password" not in copied
    async with device.open(PASSPHRASE) as session:
        assert [m.body for m in session.history("bob@localhost")] == [SECRET]
        assert session.state.get("login_password") is None

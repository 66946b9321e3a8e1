"""No one can fill anyone's storage: offline queues and archives have quotas, and strangers
(senders not in the recipient's roster) only a small share of them, so that a contact's
message is never bounced because strangers filled the queue. Reproduces the finding: one
account sent 1,005 messages of 200 kB to an offline user; the last ones bounced (so did
the user's contacts) and the database grew by 604 MB."""

from __future__ import annotations

import logging
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from ironwall.server.app import Server
from support.raw import RawClient
from support.server import running_server, server_port
from support.stanzas import body_of, error_of, message, online, synced
from support.users import PASSWORD, add_users, befriend

BIG = "x" * 200_000
MiB = 1 << 20
STRANGERS_FULL = (
    "the recipient is offline, and the part of their offline storage for people not in "
    "their contact list is full; try again when they are online, or ask them to add you as "
    "a contact"
)


def used_bytes(server: Server) -> int:
    """Bytes the database holds (pages in use), as another process reading it sees them."""
    path = server.config.data_dir / "ironwall.db"
    with closing(sqlite3.connect(path)) as conn:
        pages, free, size = (
            conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_count", "freelist_count", "page_size")
        )
    return int((pages - free) * size)


async def test_a_strangers_flood_cannot_bounce_a_contact_nor_fill_the_disk(
    tmp_path: Path,
) -> None:
    # The rate limits for strangers are lifted ("allow"): the quotas alone must hold. The
    # old per-account count is lowered so that the flood would have filled it.
    limits = {"max_offline_messages": 50, "max_archive_bytes": 4 * MiB}
    async with running_server(tmp_path / "s", limits=limits, strangers_policy="allow") as server:
        alice, bob, mallory = await add_users(server, "alice", "bob", "mallory")
        await befriend(server, alice, bob)
        port = server_port(server)
        before = used_bytes(server)

        m = await RawClient.logged_in(port, "mallory", PASSWORD)
        for n in range(100):
            await m.send(message(alice, f"{n} {BIG}", f"f{n}"))
        refused = await synced(m)
        # One stranger may leave 2% of the queue (1 message; 335 kB of 16 MiB).
        assert len(refused) == 99
        assert {error_of(e)[0] for e in refused} == {"service-unavailable"}
        assert error_of(refused[0])[1] == (
            "you are not in the recipient's contact list, and one stranger's messages may "
            "take at most 1 message (328 KiB) of their offline storage; you have 1 message "
            "(196 KiB) waiting. Try again when they are online"
        )

        # Bob, a contact, is not bounced: the queue has room for him.
        b = await RawClient.logged_in(port, "bob", PASSWORD)
        for n in range(20):
            await b.send(message(alice, f"from bob {n}"))
        assert await synced(b) == []

        # The database grew by what the quotas allow: Alice's share for strangers (one
        # message in her queue, none more in her archive than that), and Mallory's own
        # archive, at most its 4 MiB. Before the quotas: 100 messages in Alice's archive,
        # 50 in her queue, 100 in Mallory's archive, 50 MB.
        grown = used_bytes(server) - before
        assert grown < 4 * MiB + 2 * 200_000 + MiB // 2, grown
        usage = await server.storage.archive("mam").usage(alice)
        assert usage[mallory].items == 1  # the copies of the bounced ones were taken out

        a = await online(port, "alice")
        bodies = [body_of(e) for e in await synced(a) if e.tag.endswith("}message")]
        assert bodies == [f"0 {BIG}"] + [f"from bob {n}" for n in range(20)]


async def test_strangers_together_get_a_tenth_of_the_queue(tmp_path: Path) -> None:
    limits = {"max_offline_messages": 100}
    async with running_server(tmp_path / "s", limits=limits, strangers_policy="allow") as server:
        names = [f"sybil{i}" for i in range(7)]
        alice, bob, *_ = await add_users(server, "alice", "bob", *names)
        await befriend(server, alice, bob)
        port = server_port(server)
        answers = []
        for name in names:
            sybil = await RawClient.logged_in(port, name, PASSWORD)
            for n in range(2):
                await sybil.send(message(alice, f"{name} {n}"))
            answers.append(await synced(sybil))
        # 2 messages from each stranger (2% of 100), 10 (10%) from all of them together.
        assert [len(a) for a in answers] == [0, 0, 0, 0, 0, 2, 2]
        assert {error_of(e) for a in answers for e in a} == {
            ("service-unavailable", STRANGERS_FULL)
        }
        # A contact may leave half of the queue, 50 messages; then it is his share.
        b = await RawClient.logged_in(port, "bob", PASSWORD)
        for n in range(51):
            await b.send(message(alice, f"bob {n}", f"b{n}"))
        [over] = await synced(b)
        assert over.get("id") == "b50"
        text = error_of(over)[1]
        assert text is not None
        assert re.fullmatch(
            r"one sender's messages may take at most 50 messages \(8\.0 MiB\) of the "
            r"recipient's offline storage; you have 50 messages \(\d+ KiB\) waiting\. "
            r"Try again when they are online",
            text,
        ), text
        assert await server.storage.archive("offline").count(alice) == 60


async def test_the_queue_in_bytes(tmp_path: Path) -> None:
    limits = {"max_offline_bytes": 1 * MiB, "offline_share_per_sender": 1.0}
    async with running_server(tmp_path / "s", limits=limits) as server:
        alice, bob = await add_users(server, "alice", "bob")
        await befriend(server, alice, bob)
        b = await RawClient.logged_in(server_port(server), "bob", PASSWORD)
        for n in range(6):
            await b.send(message(alice, BIG, f"b{n}"))
        [full] = await synced(b)
        assert full.get("id") == "b5"
        assert error_of(full) == (
            "service-unavailable",
            "the recipient is offline and their offline message storage is full "
            "(1000 messages or 1.0 MiB); try again when they are online",
        )


async def test_the_archive_keeps_a_small_share_for_strangers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Over a quota, messages are still delivered, only not archived, and that is logged
    once, without content."""
    limits = {"max_archive_bytes": 64 * 1024, "archive_share_strangers": 0.1}
    async with running_server(tmp_path / "s", limits=limits, strangers_policy="allow") as server:
        alice, bob, mallory = await add_users(server, "alice", "bob", "mallory")
        await befriend(server, alice, bob)
        port = server_port(server)
        a = await online(port, "alice")
        m = await RawClient.logged_in(port, "mallory", PASSWORD)
        b = await RawClient.logged_in(port, "bob", PASSWORD)
        secret = "s3cret-" + "y" * 1000
        with caplog.at_level(logging.WARNING, logger="ironwall"):
            for n in range(10):
                await m.send(message(alice, f"{secret} {n}"))
            assert await synced(m) == []
            for n in range(80):
                await b.send(message(alice, f"{n} " + "z" * 1000))
            assert await synced(b) == []
        delivered = [e for e in await synced(a) if e.tag.endswith("}message")]
        assert len(delivered) == 90  # everything is delivered
        archive = server.storage.archive("mam")
        usage = await archive.usage(alice)
        # A tenth of 64 KiB for strangers: 5 messages of Mallory's; Bob's up to the quota.
        assert usage[mallory].items == 5
        archived = sum(u.bytes for u in usage.values())
        assert archived <= 64 * 1024
        assert archived + usage[bob].bytes // usage[bob].items > 64 * 1024  # no room left
        assert usage[bob].items < 80
        # Stanza-ids only on what was archived.
        with_ids = [e for e in delivered if e.find("{urn:xmpp:sid:0}stanza-id") is not None]
        assert len(with_ids) == usage[mallory].items + usage[bob].items
        full = sorted(r.getMessage() for r in caplog.records if "is full" in r.getMessage())
        # Bob's own archive (the copies of what he sent) has the same quota.
        assert full == [
            "the archive of alice@localhost is full (its archive quota of 65536 bytes): "
            "new messages are delivered but not archived",
            "the archive of alice@localhost is full (the 6553 bytes it keeps for strangers): "
            "new messages are delivered but not archived",
            "the archive of bob@localhost is full (its archive quota of 65536 bytes): "
            "new messages are delivered but not archived",
        ]
        assert not [r for r in caplog.records if "s3cret" in r.getMessage()]

"""What only the SQLite driver has: its file, pragmas, migrations, locking, errors."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import sqlite3
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from ironwall.storage import SQLiteDriver, StorageError, UnknownItem, Usage
from ironwall.storage.sqlite_schema import MIGRATIONS

ALICE = "alice@localhost"
CURRENT = len(MIGRATIONS)


class UpgradedDriver(SQLiteDriver):
    """The driver as a later Ironwall with one more schema step would ship it."""

    migrations = (*MIGRATIONS, ("CREATE TABLE probe (x INTEGER)", "INSERT INTO probe VALUES (42)"))


class BrokenUpgradeDriver(SQLiteDriver):
    """A later schema step that fails half-way."""

    migrations = (*MIGRATIONS, ("CREATE TABLE probe (x INTEGER)", "THIS IS NOT SQL"))


@contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection, the way another process would see the file."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        yield conn


def exists(path: Path) -> bool:
    return path.exists()


def schema_version(path: Path) -> int:
    with raw(path) as conn:
        return int(conn.execute("SELECT max(version) FROM schema_version").fetchone()[0])


def tables(path: Path) -> set[str]:
    with raw(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


async def test_fresh_database_gets_current_schema_and_durable_settings(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    driver = SQLiteDriver(path)
    await driver.open()
    try:
        assert driver._conn is not None  # the settings live on the driver's own connection
        settings = {
            name: next(iter(await driver._conn.execute_fetchall(f"PRAGMA {name}")))[0]
            for name in ("journal_mode", "synchronous", "busy_timeout")
        }
        assert settings == {"journal_mode": "wal", "synchronous": 2, "busy_timeout": 5000}
    finally:
        await driver.close()
    assert schema_version(path) == CURRENT
    assert {"schema_version", "kv", "map", "archive"} <= tables(path)
    with raw(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # stored in the file


async def test_older_database_is_upgraded_keeping_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = SQLiteDriver(path)
    await old.open()
    await old.kv("accounts").set(ALICE, {"v": 1})
    await old.close()

    new = UpgradedDriver(path)
    await new.open()
    try:
        assert await new.kv("accounts").get(ALICE) == {"v": 1}
    finally:
        await new.close()
    assert schema_version(path) == CURRENT + 1
    with raw(path) as conn:
        assert conn.execute("SELECT x FROM probe").fetchall() == [(42,)]
        applied = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert applied == [(v,) for v in range(1, CURRENT + 2)]

    # Opening again applies nothing twice.
    again = UpgradedDriver(path)
    await again.open()
    await again.close()
    with raw(path) as conn:
        assert conn.execute("SELECT count(*) FROM probe").fetchone()[0] == 1


async def test_newer_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    newer = UpgradedDriver(path)
    await newer.open()
    await newer.close()
    before = path.read_bytes()

    driver = SQLiteDriver(path)
    with pytest.raises(
        StorageError,
        match=rf"schema version {CURRENT + 1}, newer than the "
        rf"{CURRENT} this Ironwall knows; upgrade Ironwall",
    ):
        await driver.open()
    assert path.read_bytes() == before
    with pytest.raises(StorageError, match="not open"):
        await driver.kv("accounts").get(ALICE)


async def test_far_future_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "far.db"
    driver = SQLiteDriver(path)
    await driver.open()
    await driver.close()
    with raw(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 0)")
    with pytest.raises(StorageError, match="schema version 99"):
        await SQLiteDriver(path).open()


async def test_failed_migration_rolls_back_completely(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    old = SQLiteDriver(path)
    await old.open()
    await old.close()
    broken = BrokenUpgradeDriver(path)
    with pytest.raises(StorageError, match="syntax error"):
        await broken.open()
    assert schema_version(path) == CURRENT
    assert "probe" not in tables(path)
    with pytest.raises(StorageError, match="not open"):
        await broken.kv("accounts").get(ALICE)


async def test_archive_rows_from_schema_one_keep_their_ids(tmp_path: Path) -> None:
    """Clients hold archive ids as stanza-ids and RSM cursors: after the upgrade to random
    ids, the old ones still name the same items and page from them."""
    path = tmp_path / "v1.db"
    with raw(path) as conn:
        # The database as the Ironwall of schema step 1 left it.
        for statement in (
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied REAL NOT NULL)",
            *MIGRATIONS[0],
            "INSERT INTO schema_version VALUES (1, 0)",
        ):
            conn.execute(statement)
        for i in range(3):
            conn.execute(
                "INSERT INTO archive (store, owner, with_jid, stamp, payload) "
                "VALUES ('mam', ?, '', ?, ?)",
                (ALICE, 1000.0 + i, f"old{i}"),
            )
    old_ids = [f"{rowid:016x}" for rowid in (1, 2, 3)]
    driver = SQLiteDriver(path)
    await driver.open()
    try:
        mam = driver.archive("mam")
        new_id = await mam.append(ALICE, "new")
        items = await mam.query(ALICE)
        assert [(i.id, i.payload) for i in items] == [
            *zip(old_ids, ("old0", "old1", "old2"), strict=True),
            (new_id, "new"),
        ]
        assert [i.payload for i in await mam.query(ALICE, after_id=old_ids[1])] == ["old2", "new"]
        assert [i.payload for i in await mam.query(ALICE, before_id=new_id)] == [
            "old0",
            "old1",
            "old2",
        ]
        # The old rows count in the quota accounting from the start.
        assert await mam.usage(ALICE) == {"": Usage(items=4, bytes=15)}
        assert await mam.delete(ALICE, ids=[old_ids[0]]) == 1
        assert await mam.count(ALICE) == 3
    finally:
        await driver.close()
    assert schema_version(path) == CURRENT


async def test_new_archive_ids_are_rowids_under_the_databases_key(tmp_path: Path) -> None:
    path = tmp_path / "ids.db"
    driver = SQLiteDriver(path)
    await driver.open()
    try:
        mam = driver.archive("mam")
        ids = await asyncio.gather(*(mam.append(ALICE, "x") for _ in range(50)))
        # Rows 1 to 50, yet nothing of a counter shows: the ids share no prefix.
        assert all(re.fullmatch("[0-9a-f]{32}", item_id) for item_id in ids)
        assert len({item_id[:4] for item_id in ids}) > 40
        # A made-up id, and an old-style one (there were no rows before this schema).
        for made_up in ("0123456789abcdef" * 2, f"{1:016x}"):
            with pytest.raises(UnknownItem):
                await mam.query(ALICE, after_id=made_up)
    finally:
        await driver.close()
    # Another database has another key: the same rows get other ids.
    other = SQLiteDriver(tmp_path / "other.db")
    await other.open()
    try:
        assert await other.archive("mam").append(ALICE, "x") != ids[0]
    finally:
        await other.close()
    with raw(path) as conn:
        assert conn.execute("SELECT length(key) FROM archive_ids").fetchall() == [(16,)]


async def test_database_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    driver = SQLiteDriver(path)
    await driver.open()
    try:
        await driver.kv("accounts").set(ALICE, 1)
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
    finally:
        await driver.close()


async def test_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch()
    path.chmod(0o640)
    driver = SQLiteDriver(path)
    await driver.open()
    await driver.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


async def test_missing_directory_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"cannot create the database .* directory"):
        await SQLiteDriver(tmp_path / "no" / "such" / "dir.db").open()


async def test_not_a_database_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not an sqlite file " * 200)
    with pytest.raises(StorageError, match="not a usable SQLite database"):
        await SQLiteDriver(path).open()


async def test_writer_waits_for_another_process_lock(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    driver = SQLiteDriver(path)
    await driver.open()
    try:
        with raw(path) as other:
            other.execute("BEGIN IMMEDIATE")
            asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
            started = time.monotonic()
            await driver.archive("offline").append(ALICE, "waited")
            assert time.monotonic() - started >= 0.25
        assert await driver.archive("offline").count(ALICE) == 1
    finally:
        await driver.close()


async def test_lock_held_too_long_fails_clearly_without_values(tmp_path: Path) -> None:
    path = tmp_path / "stuck.db"
    driver = SQLiteDriver(path, busy_timeout=0.2)
    await driver.open()
    try:
        with raw(path) as other:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(StorageError, match="locked by another process") as caught:
                await driver.archive("offline").append(ALICE, "secret payload")
            with pytest.raises(StorageError, match="locked"):
                await driver.kv("accounts").set(ALICE, {"verifier": "secret"})
            with pytest.raises(StorageError, match="locked"):
                await driver.delete_owner(ALICE)
            other.execute("ROLLBACK")
        assert "secret" not in str(caught.value)
        # Nothing half-done stays behind, and the driver carries on.
        assert await driver.archive("offline").count(ALICE) == 0
        await driver.kv("accounts").set(ALICE, 1)
        assert await driver.kv("accounts").get(ALICE) == 1
    finally:
        await driver.close()


CRASHING_WRITER = """
import asyncio, os, signal, sys
from ironwall.storage import SQLiteDriver

async def main():
    driver = SQLiteDriver(sys.argv[1])
    await driver.open()
    for i in range(5):
        await driver.archive("offline").append("alice@localhost", f"m{i}")
    await driver.kv("accounts").set("alice@localhost", {"v": 1})
    os.kill(os.getpid(), signal.SIGKILL)  # no close(), no checkpoint

asyncio.run(main())
"""


async def test_returned_writes_survive_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", CRASHING_WRITER, str(path))
    assert await asyncio.wait_for(proc.wait(), timeout=60) == -9
    assert exists(Path(f"{path}-wal"))  # the data is in the WAL, not yet checkpointed
    driver = SQLiteDriver(path)
    await driver.open()
    try:
        items = await driver.archive("offline").query(ALICE)
        assert [item.payload for item in items] == [f"m{i}" for i in range(5)]
        assert await driver.kv("accounts").get(ALICE) == {"v": 1}
    finally:
        await driver.close()


async def test_accepts_str_and_pathlike(tmp_path: Path) -> None:
    for path in (str(tmp_path / "s.db"), tmp_path / "p.db"):
        driver = SQLiteDriver(path)
        await driver.open()
        await driver.close()
        assert exists(Path(path))


async def test_no_statement_scans_a_whole_table(tmp_path: Path) -> None:
    """Every statement the stores issue is an index search (message hot path)."""
    path = tmp_path / "plans.db"
    driver = SQLiteDriver(path)
    await driver.open()
    issued: list[str] = []
    try:
        assert driver._conn is not None  # the statements run on the driver's own connection
        await driver._conn.set_trace_callback(issued.append)
        mam = driver.archive("mam")
        ids = [await mam.append(ALICE, "x", with_jid="b@x", when=float(i)) for i in range(3)]
        await mam.append(ALICE, "y", max_items=10)
        for with_jid, start, end, after, before, limit, reverse in itertools.product(
            (None, "b@x"),
            (None, 0.5),
            (None, 2.5),
            (None, ids[0]),
            (None, ids[2]),
            (None, 2),
            (False, True),
        ):
            await mam.query(
                ALICE,
                with_jid=with_jid,
                start=start,
                end=end,
                after_id=after,
                before_id=before,
                limit=limit,
                reverse=reverse,
            )
        await mam.count(ALICE)
        await mam.count(ALICE, with_jid="b@x")
        await mam.usage(ALICE)
        await mam.usage(ALICE, before=2.0)
        with contextlib.suppress(UnknownItem):
            await mam.query(ALICE, after_id="0" * 16)
        await mam.delete(ALICE, ids=ids[:1], before=5.0)
        await mam.delete(ALICE, before=1.5)
        await mam.delete(ALICE)
        await mam.pop_all(ALICE)
        await driver.kv("accounts").set(ALICE, 1)
        await driver.kv("accounts").get(ALICE)
        await driver.kv("accounts").owners()
        await driver.kv("accounts").set(ALICE, None)
        await driver.map("roster").set(ALICE, "k", 1)
        await driver.map("roster").get(ALICE, "k")
        await driver.map("roster").get_all(ALICE)
        await driver.map("roster").set(ALICE, "k", None)
        await driver.map("roster").clear(ALICE)
        await driver.delete_owner(ALICE)
    finally:
        await driver.close()

    statements = {s for s in issued if re.search(r"\b(archive|kv|map)\b", s)}
    assert len(statements) > 100
    with raw(path) as conn:
        for statement in statements:
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}")]
            scans = r"SCAN (archive|kv|map)\b"
            assert not [step for step in plan if re.match(scans, step)], (
                statement,
                plan,
            )


async def test_cancelled_transaction_leaves_none_open(tmp_path: Path) -> None:
    """A caller cancelled while BEGIN waits must not leave later writes uncommitted."""
    path = tmp_path / "cancel.db"
    driver = SQLiteDriver(path)
    await driver.open()
    try:
        await driver.kv("accounts").set(ALICE, 1)
        with raw(path) as other:
            other.execute("BEGIN IMMEDIATE")
            task = asyncio.create_task(driver.delete_owner(ALICE))
            await asyncio.sleep(0.1)  # BEGIN IMMEDIATE now waits for the other's lock
            task.cancel()
            await asyncio.sleep(0.05)
            other.execute("ROLLBACK")
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)
            await driver.kv("accounts").set("bob@localhost", 2)
            # Seen from another connection, so committed: no transaction was left open.
            assert other.execute("SELECT owner FROM kv ORDER BY owner").fetchall() == [
                (ALICE,),
                ("bob@localhost",),
            ]
    finally:
        await driver.close()


async def test_concurrent_opens_share_one_connection(tmp_path: Path) -> None:
    driver = SQLiteDriver(tmp_path / "twice.db")
    await asyncio.gather(driver.open(), driver.open(), driver.open())
    await driver.kv("accounts").set(ALICE, 1)
    await driver.close()  # a second connection left open would fail the thread check

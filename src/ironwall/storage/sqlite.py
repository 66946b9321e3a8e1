"""The SQLite driver: the zero-configuration default, one file, durable.

Durability: WAL with ``synchronous=FULL`` and no transaction left open, so every write is
committed and fsync'd before the coroutine that made it returns; the server acknowledges
a stanza only after that. Archive appends (every archived message) are group-committed:
those made while a commit is under way share the next transaction, so a busy server pays
one fsync per batch, and each still returns only once its row is on disk.
``busy_timeout`` lets a second process (``ironwall admin``) read and write the same file
while the server runs; transactions that write start with ``BEGIN IMMEDIATE`` so they
wait for the write lock instead of failing half-way.

One connection per driver, run by aiosqlite in its own thread. Its queue runs statements
in order, but a transaction spans several of them, so an ``asyncio.Lock`` keeps one
operation at a time on the connection: another coroutine's write can never land inside
(and be rolled back with, or ride on the commit of) someone else's transaction. Most
operations are a single statement (``INSERT ... RETURNING``, ``DELETE ... RETURNING``),
atomic by themselves and also against other processes. SQL text is fixed, so sqlite3's
statement cache keeps every statement prepared.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, ClassVar

import aiosqlite

from ironwall.storage.archive_ids import ArchiveIds
from ironwall.storage.interface import (
    ArchiveItem,
    ArchiveStore,
    JSONValue,
    KeyValueStore,
    MapStore,
    QuotaExceeded,
    StorageError,
    UnknownItem,
    Usage,
    check_owner,
    check_store_name,
)
from ironwall.storage.sqlite_schema import MIGRATIONS, Migration

__all__ = ["SQLiteDriver"]

_Row = tuple[Any, ...]
# Items read per statement by ArchiveStore.usage, so that other work gets the connection
# in between however large an archive is.
_USAGE_CHUNK = 2000
# Enough for every shape of archive query (with_jid/start/end/after/before/limit/order).
_STATEMENT_CACHE = 256


class SQLiteDriver:
    """A ``StorageDriver`` keeping every store in one SQLite database file.

    ``busy_timeout`` is how long (seconds) a statement waits for another process's lock
    before failing with ``StorageError``. Always ``close()`` an opened driver: aiosqlite's
    worker thread is not a daemon, so one left running keeps the process from exiting.
    """

    migrations: ClassVar[Sequence[Migration]] = MIGRATIONS
    """The schema history ``open()`` brings the database up to."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0) -> None:
        if busy_timeout < 0:
            raise ValueError("busy_timeout must not be negative")
        self._path = os.fspath(path)
        self._busy_timeout = busy_timeout
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._opening = asyncio.Lock()
        # Archive rows waiting for the next group commit, and the task writing them.
        self._appends: list[tuple[tuple[object, ...], asyncio.Future[int]]] = []
        self._ids: ArchiveIds | None = None
        self._append_writer: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"SQLiteDriver({self._path!r})"

    async def open(self) -> None:
        """Connect, switch to WAL, and create or migrate the schema."""
        async with self._opening:
            if self._conn is None:
                await self._connect()

    async def _connect(self) -> None:
        _create_private(self._path)
        with self._translated():
            conn = await aiosqlite.connect(
                self._path, isolation_level=None, cached_statements=_STATEMENT_CACHE
            )
        try:
            with self._translated():
                await self._configure(conn)
            self._conn = conn
            await self._migrate()
            self._ids = await self._load_ids()
        except BaseException:
            self._conn = None
            await conn.close()
            raise

    async def close(self) -> None:
        """Wait for running operations, then close the connection and stop its thread."""
        if self._append_writer is not None:
            await asyncio.shield(self._append_writer)
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with self._translated():
                    await conn.close()

    def kv(self, name: str) -> KeyValueStore:
        """The key-value store called ``name``."""
        return _KeyValueStore(self, check_store_name(name))

    def map(self, name: str) -> MapStore:
        """The map store called ``name``."""
        return _MapStore(self, check_store_name(name))

    def archive(self, name: str) -> ArchiveStore:
        """The archive store called ``name``."""
        return _ArchiveStore(self, check_store_name(name))

    async def delete_owner(self, owner: str) -> None:
        """Remove the owner's data from every store of every kind, in one transaction."""
        check_owner(owner)
        async with self._transaction() as conn:
            for statement in (
                "DELETE FROM kv WHERE owner = ?",
                "DELETE FROM map WHERE owner = ?",
                "DELETE FROM archive WHERE owner = ?",
            ):
                await conn.execute(statement, (owner,))

    async def _configure(self, conn: aiosqlite.Connection) -> None:
        # busy_timeout first, so switching to WAL also waits for another process.
        await conn.execute(f"PRAGMA busy_timeout = {round(self._busy_timeout * 1000)}")
        rows = list(await conn.execute_fetchall("PRAGMA journal_mode = WAL"))
        if not rows or str(rows[0][0]).lower() != "wal":
            raise StorageError(
                f"could not switch {self._path} to WAL journal mode; keep the database "
                "on a local file system (WAL needs shared memory, which network file "
                "systems lack)"
            )
        await conn.execute("PRAGMA synchronous = FULL")
        # Up to 64 MiB of pages (the default is 2 MiB): every archived message updates the
        # archive's three indexes at scattered places, and re-reading those pages from the
        # OS held commits up (p99 at 4,500 archived messages/s: 221 ms, now 20 ms).
        await conn.execute("PRAGMA cache_size = -65536")

    async def _migrate(self) -> None:
        known = len(self.migrations)
        async with self._transaction() as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied REAL NOT NULL)"
            )
            rows = list(await conn.execute_fetchall("SELECT max(version) FROM schema_version"))
            current = rows[0][0] or 0
            if current > known:
                raise StorageError(
                    f"the database {self._path} has schema version {current}, newer than "
                    f"the {known} this Ironwall knows; upgrade Ironwall, or restore a "
                    "backup made by this version"
                )
            for version in range(current + 1, known + 1):
                for statement in self.migrations[version - 1]:
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_version (version, applied) VALUES (?, ?)",
                    (version, time.time()),
                )

    async def _load_ids(self) -> ArchiveIds:
        rows = await self._fetch("SELECT key, legacy_until FROM archive_ids WHERE id = 1")
        key, legacy_until = rows[0]
        return ArchiveIds(bytes(key), int(legacy_until))

    @property
    def ids(self) -> ArchiveIds:
        """How archive row ids and the ids users see map to each other."""
        if self._ids is None:
            raise StorageError(
                f"the storage driver for {self._path} is not open; call open() first"
            )
        return self._ids

    def _require_open(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StorageError(
                f"the storage driver for {self._path} is not open; call open() first"
            )
        return self._conn

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise _storage_error(exc, self._path, self._busy_timeout) from exc

    async def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[_Row]:
        """Run one statement in autocommit mode and return its rows."""
        async with self._lock:
            conn = self._require_open()
            with self._translated():
                # aiosqlite types rows as sqlite3.Row; without a row_factory they are tuples.
                rows: Iterable[Any] = await conn.execute_fetchall(sql, params)
                return list(rows)

    async def _change(self, sql: str, params: Sequence[object]) -> int:
        """Run one statement in autocommit mode and return how many rows it changed."""
        async with self._lock:
            conn = self._require_open()
            with self._translated():
                async with conn.execute(sql, params) as cursor:
                    return int(cursor.rowcount)

    async def _append_row(self, values: tuple[object, ...]) -> int:
        """Insert one archive row and return its rowid once it is committed.

        Group commit: rows appended while a commit is under way wait and go together in
        the next transaction, so a busy server pays one fsync per batch rather than one
        per message, and each caller still returns only after its row is on disk.
        """
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._appends.append((values, future))
        if self._append_writer is None:
            self._append_writer = asyncio.ensure_future(self._write_appends())
        return await future

    async def _write_appends(self) -> None:
        try:
            while self._appends:
                batch, self._appends = self._appends, []
                try:
                    first = await self._insert_rows([values for values, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for offset, (_, future) in enumerate(batch):
                    if not future.done():
                        future.set_result(first + offset)
        finally:
            self._append_writer = None

    async def _insert_rows(self, rows: list[tuple[object, ...]]) -> int:
        """Insert ``rows`` in one transaction; return the rowid of the first."""
        async with self._transaction() as conn:
            await conn.executemany(
                "INSERT INTO archive (store, owner, with_jid, stamp, payload) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            # AUTOINCREMENT ids of rows inserted together under the write lock follow
            # each other, so the last id gives them all.
            (last,) = await conn.execute_fetchall("SELECT last_insert_rowid()")
        return int(last[0]) - len(rows) + 1

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            conn = self._require_open()
            with self._translated():
                # BEGIN sits inside the try: if the caller is cancelled while BEGIN waits
                # for the lock, BEGIN still runs later in aiosqlite's queue, and the
                # rollback queued after it must close that transaction again.
                try:
                    await conn.execute("BEGIN IMMEDIATE")
                    yield conn
                    await conn.commit()
                except BaseException:
                    await conn.rollback()
                    raise


class _KeyValueStore:
    """A ``KeyValueStore`` in the ``kv`` table."""

    def __init__(self, driver: SQLiteDriver, name: str) -> None:
        self._db = driver
        self._name = name

    async def get(self, owner: str) -> JSONValue | None:
        """Return the owner's value, or None when there is none."""
        rows = await self._db._fetch(
            "SELECT value FROM kv WHERE store = ? AND owner = ?", (self._name, check_owner(owner))
        )
        return _decode(rows[0][0]) if rows else None

    async def set(self, owner: str, value: JSONValue | None) -> None:
        """Store the owner's value durably; None deletes it."""
        check_owner(owner)
        if value is None:
            await self._db._change(
                "DELETE FROM kv WHERE store = ? AND owner = ?", (self._name, owner)
            )
            return
        await self._db._change(
            "INSERT INTO kv (store, owner, value) VALUES (?, ?, ?) "
            "ON CONFLICT (store, owner) DO UPDATE SET value = excluded.value",
            (self._name, owner, _encode(value)),
        )

    async def owners(self) -> list[str]:
        """Every owner holding a value in this store, sorted."""
        rows = await self._db._fetch("SELECT owner FROM kv WHERE store = ?", (self._name,))
        return sorted(row[0] for row in rows)


class _MapStore:
    """A ``MapStore`` in the ``map`` table."""

    def __init__(self, driver: SQLiteDriver, name: str) -> None:
        self._db = driver
        self._name = name

    async def get(self, owner: str, key: str) -> JSONValue | None:
        """Return the value under ``key``, or None when there is none."""
        rows = await self._db._fetch(
            "SELECT value FROM map WHERE owner = ? AND store = ? AND key = ?",
            (check_owner(owner), self._name, key),
        )
        return _decode(rows[0][0]) if rows else None

    async def set(self, owner: str, key: str, value: JSONValue | None) -> None:
        """Store the value under ``key`` durably; None deletes it."""
        check_owner(owner)
        if value is None:
            await self._db._change(
                "DELETE FROM map WHERE owner = ? AND store = ? AND key = ?",
                (owner, self._name, key),
            )
            return
        await self._db._change(
            "INSERT INTO map (owner, store, key, value) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (owner, store, key) DO UPDATE SET value = excluded.value",
            (owner, self._name, key, _encode(value)),
        )

    async def get_all(self, owner: str) -> dict[str, JSONValue]:
        """Every key and value of the owner, keys in sorted order."""
        rows = await self._db._fetch(
            "SELECT key, value FROM map WHERE owner = ? AND store = ?",
            (check_owner(owner), self._name),
        )
        return {key: _decode(value) for key, value in sorted(rows)}

    async def clear(self, owner: str) -> None:
        """Delete every key of the owner."""
        await self._db._change(
            "DELETE FROM map WHERE owner = ? AND store = ?", (check_owner(owner), self._name)
        )


class _ArchiveStore:
    """An ``ArchiveStore`` in the ``archive`` table; ids are rowids under the database's
    key (``archive_ids``), and the rowid gives the order."""

    def __init__(self, driver: SQLiteDriver, name: str) -> None:
        self._db = driver
        self._name = name

    async def append(
        self,
        owner: str,
        payload: str,
        *,
        with_jid: str = "",
        when: float | None = None,
        max_items: int | None = None,
    ) -> str:
        """Store one item durably and return its id; see ``ArchiveStore.append``."""
        check_owner(owner)
        stamp = time.time() if when is None else _check_time(when, "when")
        values = (self._name, owner, with_jid, stamp, payload)
        ids = self._db.ids
        if max_items is None:
            return ids.format(await self._db._append_row(values))
        if max_items < 0:
            raise ValueError("max_items must not be negative")
        # Count and insert in one statement, so two processes cannot both pass the check.
        rows = await self._db._fetch(
            "INSERT INTO archive (store, owner, with_jid, stamp, payload) "
            "SELECT ?, ?, ?, ?, ? "
            "WHERE (SELECT count(*) FROM archive WHERE owner = ? AND store = ?) < ? "
            "RETURNING id",
            (*values, owner, self._name, max_items),
        )
        if not rows:
            raise QuotaExceeded(
                f"archive store {self._name!r} already holds the limit of {max_items} "
                "items for this owner; nothing was stored. Deliver or delete items first"
            )
        return ids.format(int(rows[0][0]))

    async def query(
        self,
        owner: str,
        *,
        with_jid: str | None = None,
        start: float | None = None,
        end: float | None = None,
        after_id: str | None = None,
        before_id: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[ArchiveItem]:
        """Return the owner's matching items in id order; see ``ArchiveStore.query``."""
        where = ["owner = ?", "store = ?"]
        params: list[object] = [check_owner(owner), self._name]
        for clause, value in (
            ("with_jid = ?", with_jid),
            ("stamp >= ?", None if start is None else _check_time(start, "start")),
            ("stamp <= ?", None if end is None else _check_time(end, "end")),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        cursors = []
        for operator, item_id in ((">", after_id), ("<", before_id)):
            if item_id is not None:
                rowid = self._db.ids.parse(item_id)
                if rowid is None:
                    raise UnknownItem(f"{item_id!r} names no item of this owner in this store")
                cursors.append((item_id, rowid))
                # A row of another owner (or deleted) makes the subquery NULL and the page
                # empty; only then is it worth asking whether the row exists (below).
                where.append(f"id {operator} ({_OWN_ROW})")
                params += [rowid, owner, self._name]
        sql = (
            "SELECT id, with_jid, stamp, payload FROM archive "  # noqa: S608 - fixed fragments only
            f"WHERE {' AND '.join(where)} ORDER BY id {'DESC' if reverse else 'ASC'}"
        )
        if limit is not None:
            if limit < 0:
                raise ValueError("limit must not be negative")
            sql += " LIMIT ?"
            params.append(limit)
        rows = await self._db._fetch(sql, params)
        if not rows and cursors:
            await self._require_keys(owner, cursors)
        return [self._item(owner, row) for row in rows]

    async def _require_keys(self, owner: str, cursors: list[tuple[str, int]]) -> None:
        for item_id, rowid in cursors:
            if not await self._db._fetch(_OWN_ROW, (rowid, owner, self._name)):
                raise UnknownItem(f"{item_id!r} names no item of this owner in this store")

    async def count(self, owner: str, *, with_jid: str | None = None) -> int:
        """Number of the owner's items, optionally only those with ``with_jid``."""
        if with_jid is None:
            rows = await self._db._fetch(
                "SELECT count(*) FROM archive WHERE owner = ? AND store = ?",
                (check_owner(owner), self._name),
            )
        else:
            rows = await self._db._fetch(
                "SELECT count(*) FROM archive WHERE owner = ? AND store = ? AND with_jid = ?",
                (check_owner(owner), self._name, with_jid),
            )
        return int(rows[0][0])

    async def usage(self, owner: str, *, before: float | None = None) -> dict[str, Usage]:
        """What the owner's items take, per ``with_jid``; see ``ArchiveStore.usage``."""
        check_owner(owner)
        older = "" if before is None else "AND stamp < ? "
        until = () if before is None else (_check_time(before, "before"),)
        usage: dict[str, Usage] = {}
        after = -1
        while True:
            # The rowid that ends the next chunk, then what the chunk holds.
            ends = await self._db._fetch(
                "SELECT id FROM archive WHERE owner = ? AND store = ? AND id > ? "
                "ORDER BY id LIMIT 1 OFFSET ?",
                (owner, self._name, after, _USAGE_CHUNK - 1),
            )
            last = int(ends[0][0]) if ends else None
            rows = await self._db._fetch(
                "SELECT with_jid, count(*), sum(length(CAST(payload AS BLOB))) FROM archive "  # noqa: S608 - fixed fragments only
                f"WHERE owner = ? AND store = ? AND id > ? AND id <= ? {older}GROUP BY with_jid",
                (owner, self._name, after, _MAX_ROWID if last is None else last, *until),
            )
            for jid, items, size in rows:
                so_far = usage.get(str(jid), Usage())
                usage[str(jid)] = Usage(so_far.items + int(items), so_far.bytes + int(size))
            if last is None:
                return usage
            after = last

    async def owners(self) -> set[str]:
        """Every owner holding at least one item in this store."""
        rows = await self._db._fetch(
            "SELECT DISTINCT owner FROM archive WHERE store = ?", (self._name,)
        )
        return {str(row[0]) for row in rows}

    async def delete(
        self,
        owner: str,
        *,
        ids: Sequence[str] | None = None,
        before: float | None = None,
    ) -> int:
        """Delete the owner's matching items; see ``ArchiveStore.delete``."""
        where = ["owner = ?", "store = ?"]
        params: list[object] = [check_owner(owner), self._name]
        if ids is not None:
            if isinstance(ids, str):
                raise TypeError("ids must be a sequence of ids, not one string")
            if not ids:
                return 0
            # One JSON array parameter keeps the SQL text (and prepared statement) fixed
            # however many ids there are, and stays under SQLite's parameter limit.
            rowids = [self._db.ids.parse(item_id) for item_id in ids]
            where.append("id IN (SELECT value FROM json_each(?))")
            params.append(json.dumps([rowid for rowid in rowids if rowid is not None]))
        if before is not None:
            where.append("stamp < ?")
            params.append(_check_time(before, "before"))
        return await self._db._change(
            f"DELETE FROM archive WHERE {' AND '.join(where)}",  # noqa: S608 - fixed fragments only
            params,
        )

    async def pop_all(self, owner: str) -> list[ArchiveItem]:
        """Read and delete every item of the owner in one statement; see ``ArchiveStore``."""
        rows = await self._db._fetch(
            "DELETE FROM archive WHERE owner = ? AND store = ? "
            "RETURNING id, with_jid, stamp, payload",
            (check_owner(owner), self._name),
        )
        # RETURNING gives rows in no defined order.
        return [self._item(owner, row) for row in sorted(rows)]

    def _item(self, owner: str, row: _Row) -> ArchiveItem:
        rowid, with_jid, stamp, payload = row
        return ArchiveItem(
            id=self._db.ids.format(rowid),
            owner=owner,
            with_jid=with_jid,
            when=stamp,
            payload=payload,
        )


def _encode(value: JSONValue) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _decode(text: str) -> JSONValue:
    value: JSONValue = json.loads(text)
    return value


_OWN_ROW = "SELECT id FROM archive WHERE id = ? AND owner = ? AND store = ?"
_MAX_ROWID = 2**63 - 1


def _check_time(value: float, name: str) -> float:
    stamp = float(value)
    if not math.isfinite(stamp):
        raise ValueError(f"{name} must be a finite unix time")
    return stamp


def _create_private(path: str) -> None:
    """Create the database file readable by this user only; SQLite gives its WAL and
    shared-memory files the same mode. An existing file keeps its mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StorageError(
            f"cannot create the database {path} ({exc.strerror}); check that its directory "
            "exists and that this user may write to it"
        ) from exc
    os.close(fd)


def _storage_error(exc: sqlite3.Error, path: str, busy_timeout: float) -> StorageError:
    """Say what went wrong and what to do; SQLite's messages never hold bound values."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        message = (
            f"the database {path} stayed locked by another process for more than "
            f"{busy_timeout:g} s; retry, or stop the other process holding it"
        )
    elif primary == sqlite3.SQLITE_FULL:
        message = f"the disk holding the database {path} is full; free some space and retry"
    elif primary in (
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_AUTH,
    ):
        message = (
            f"cannot open or write the database {path}; check that its directory exists "
            "and that this user may read and write the file and its directory"
        )
    elif primary in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        message = (
            f"{path} is not a usable SQLite database (not a database, or corrupt); "
            "restore it from a backup or configure another path"
        )
    elif primary == sqlite3.SQLITE_IOERR:
        message = f"I/O error on the database {path}; check the disk and its file system"
    else:
        name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
        message = (
            f"SQLite failed on the database {path} ({name}: {exc}); if this persists, "
            "report it with the server log"
        )
    return StorageError(message)

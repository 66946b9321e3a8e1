"""The device's local database, encrypted at rest with a key only the unlocked identity gives.

The client keeps its history, contacts' pinned keys, trust states and replay cache in one
SQLite database. It is a SQLCipher 4 database (AES-256 pages with an HMAC each, the format
Signal Desktop uses) keyed with `local_state_key(identity)`: whoever copies the device's
files without the passphrase (or recovery code) reads nothing in it, and cannot alter a
page unnoticed. Ironwall 0.1 kept it unencrypted; such a file is encrypted in place the
first time it is opened. Spec: spec/e2e.md §5.6.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import sqlcipher3

from ironwall.e2e.derived import local_state_key
from ironwall.e2e.errors import E2EError
from ironwall.e2e.keys import Identity

__all__ = ["LocalStateError", "open_local_database"]

_PLAIN_HEADER = b"SQLite format 3\x00"
_SIDE_FILES = ("-wal", "-shm", "-journal")


class LocalStateError(E2EError):
    """The device's local database does not open with this identity, or is damaged."""


@contextlib.contextmanager
def _private_files() -> Iterator[None]:
    # SQLite creates the database and its -wal/-shm files itself: only the umask makes
    # them private from the first byte.
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def open_local_database(path: Path, identity: Identity) -> sqlite3.Connection:
    """Open (or create) the encrypted database at `path` for `identity`.

    The connection has the sqlite3 API, autocommit (`isolation_level=None`), WAL and full
    fsync. Raises `LocalStateError` if the file belongs to another identity or is damaged.
    """
    key = local_state_key(identity).hex()
    with _private_files():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if _is_plain_sqlite(path):
            _encrypt_in_place(path, key)
        connection = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            connection.execute(f"PRAGMA key = \"x'{key}'\"")
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            connection.execute("PRAGMA journal_mode=WAL")
        except sqlcipher3.dbapi2.DatabaseError:
            connection.close()
            raise LocalStateError(
                f"the local state in {path} does not open with this account's key: it belongs "
                "to another key or is damaged"
            ) from None
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA busy_timeout=5000")
    for suffix in ("", *_SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").chmod(0o600)
    return cast(sqlite3.Connection, connection)


def _is_plain_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(len(_PLAIN_HEADER)) == _PLAIN_HEADER
    except FileNotFoundError:
        return False


def _encrypt_in_place(path: Path, key: str) -> None:
    """Rewrite an unencrypted database as an encrypted one (SQLCipher's sqlcipher_export)."""
    encrypted = path.with_name(path.name + ".encrypting")
    encrypted.unlink(missing_ok=True)
    plain = sqlcipher3.connect(str(path), isolation_level=None)
    try:
        plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        plain.execute(f"ATTACH DATABASE ? AS encrypted KEY \"x'{key}'\"", (str(encrypted),))
        plain.execute("SELECT sqlcipher_export('encrypted')")
        version = plain.execute("PRAGMA user_version").fetchone()[0]
        plain.execute(f"PRAGMA encrypted.user_version = {int(version)}")
        plain.execute("DETACH DATABASE encrypted")
    finally:
        plain.close()
    os.replace(encrypted, path)
    for suffix in _SIDE_FILES:
        Path(f"{path}{suffix}").unlink(missing_ok=True)

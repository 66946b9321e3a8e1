"""The client's local state: one SQLite file per account in the user's data directory.

It holds what makes a device trustworthy over time: the contacts' pinned keys and
trust states, the replay cache, the message history, and settings such as which
contacts may receive plaintext. The sealed secret key is cached here too; it is the
same blob the server holds, and it opens only with the passphrase.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ironwall.e2e import ContactTrust, TrustState

__all__ = ["HistoryEntry", "LocalState"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS settings (
        key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS contacts (
        jid TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        pinned TEXT NOT NULL,
        revoked TEXT NOT NULL,
        offered TEXT NOT NULL,
        plaintext_allowed INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS keys (
        fingerprint TEXT PRIMARY KEY, jid TEXT NOT NULL, data BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS seen (
        sender TEXT NOT NULL, message_id TEXT NOT NULL, seen_at REAL NOT NULL,
        PRIMARY KEY (sender, message_id))""",
    """CREATE TABLE IF NOT EXISTS history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        peer TEXT NOT NULL,
        direction TEXT NOT NULL,
        body TEXT,
        sent_at REAL NOT NULL,
        status TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        origin_id TEXT)""",
    "CREATE INDEX IF NOT EXISTS history_peer ON history (peer, id)",
    """CREATE TABLE IF NOT EXISTS archived (
        archive_id TEXT PRIMARY KEY, seen_at REAL NOT NULL)""",
)


@dataclass(frozen=True)
class HistoryEntry:
    """One message as the user saw it.

    ``status`` says how far it can be trusted: ``verified`` / ``unverified`` (opened and
    checked; the sender's key verified in person or pinned on first use), ``changed``
    (checked against a key that changed and was not acknowledged), ``plaintext`` (sent
    or received unencrypted), or ``rejected`` (failed a check: ``detail`` says why and
    ``body`` is empty).
    """

    peer: str
    direction: str
    body: str | None
    sent_at: float
    status: str
    detail: str
    origin_id: str | None


class LocalState:
    """Everything one account keeps on this device."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        for statement in _SCHEMA:
            self._db.execute(statement)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(history)")}
        if "unseen" not in columns:
            # Messages recorded without being shown (archive sync, or while not listening).
            self._db.execute("ALTER TABLE history ADD COLUMN unseen INTEGER NOT NULL DEFAULT 0")
        path.chmod(0o600)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # -------------------------------------------------------------- settings

    def get(self, key: str) -> str | None:
        """A setting, or None."""
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set(self, key: str, value: str | None) -> None:
        """Store (or with None delete) a setting."""
        if value is None:
            self._db.execute("DELETE FROM settings WHERE key = ?", (key,))
        else:
            self._db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -------------------------------------------------------------- contacts

    def trust(self, jid: str) -> ContactTrust:
        """The trust held in ``jid``'s keys (state NONE if never seen)."""
        row = self._db.execute(
            "SELECT state, pinned, revoked, offered FROM contacts WHERE jid = ?", (jid,)
        ).fetchone()
        if row is None:
            return ContactTrust()
        return ContactTrust(
            TrustState(row[0]),
            pinned=frozenset(json.loads(row[1])),
            revoked=frozenset(json.loads(row[2])),
            offered=frozenset(json.loads(row[3])),
        )

    def set_trust(self, jid: str, trust: ContactTrust) -> None:
        """Persist ``trust`` for ``jid``."""
        self._db.execute(
            "INSERT INTO contacts (jid, state, pinned, revoked, offered) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (jid) DO UPDATE SET state = excluded.state, pinned = excluded.pinned, "
            "revoked = excluded.revoked, offered = excluded.offered",
            (
                jid,
                trust.state.value,
                json.dumps(sorted(trust.pinned)),
                json.dumps(sorted(trust.revoked)),
                json.dumps(sorted(trust.offered)),
            ),
        )

    def contacts(self) -> list[str]:
        """Every contact this device has seen keys or settings for."""
        return [row[0] for row in self._db.execute("SELECT jid FROM contacts ORDER BY jid")]

    def plaintext_allowed(self, jid: str) -> bool:
        """Whether the user chose to send plaintext to ``jid`` when it has no key."""
        row = self._db.execute(
            "SELECT plaintext_allowed FROM contacts WHERE jid = ?", (jid,)
        ).fetchone()
        return bool(row and row[0])

    def allow_plaintext(self, jid: str, allowed: bool) -> None:
        """Record the user's explicit per-contact plaintext choice."""
        if self._db.execute("SELECT 1 FROM contacts WHERE jid = ?", (jid,)).fetchone() is None:
            self.set_trust(jid, ContactTrust())
        self._db.execute(
            "UPDATE contacts SET plaintext_allowed = ? WHERE jid = ?", (int(allowed), jid)
        )

    # ------------------------------------------------------------------ keys

    def store_key(self, jid: str, fingerprint: str, data: bytes) -> None:
        """Keep a copy of a contact's public key (the newest copy wins)."""
        self._db.execute(
            "INSERT INTO keys (fingerprint, jid, data) VALUES (?, ?, ?) "
            "ON CONFLICT (fingerprint) DO UPDATE SET data = excluded.data",
            (fingerprint, jid, data),
        )

    def key(self, fingerprint: str) -> bytes | None:
        """The stored copy of a key, if any."""
        row = self._db.execute(
            "SELECT data FROM keys WHERE fingerprint = ?", (fingerprint,)
        ).fetchone()
        return None if row is None else bytes(row[0])

    # ----------------------------------------------------------- replay cache

    def add(self, sender: str, message_id: str) -> bool:
        """ReplayCache: record a message id; False if it was seen before."""
        try:
            self._db.execute(
                "INSERT INTO seen (sender, message_id, seen_at) VALUES (?, ?, ?)",
                (sender, message_id, time.time()),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def first_sight(self, archive_id: str) -> bool:
        """Record a server archive id (XEP-0359 stanza-id); False if it was seen before.

        The same archived message can arrive live, from offline storage and from an
        archive query: each copy after the first is the same message, not a replay.
        """
        try:
            self._db.execute(
                "INSERT INTO archived (archive_id, seen_at) VALUES (?, ?)",
                (archive_id, time.time()),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    # --------------------------------------------------------------- history

    def record(self, entry: HistoryEntry, *, unseen: bool = False) -> None:
        """Append a message to the history (``unseen``: not shown to the user yet)."""
        self._db.execute(
            "INSERT INTO history (peer, direction, body, sent_at, status, detail, origin_id, unseen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.peer,
                entry.direction,
                entry.body,
                entry.sent_at,
                entry.status,
                entry.detail,
                entry.origin_id,
                int(unseen),
            ),
        )

    def take_unseen(self) -> list[HistoryEntry]:
        """Incoming messages not shown yet, oldest first; they count as shown afterwards."""
        rows = self._db.execute(
            "SELECT peer, direction, body, sent_at, status, detail, origin_id FROM history "
            "WHERE unseen = 1 AND direction = 'in' ORDER BY sent_at, id"
        ).fetchall()
        self._db.execute("UPDATE history SET unseen = 0 WHERE unseen = 1")
        return [HistoryEntry(*row) for row in rows]

    def unseen_count(self) -> int:
        """How many incoming messages were not shown yet."""
        row = self._db.execute(
            "SELECT count(*) FROM history WHERE unseen = 1 AND direction = 'in'"
        ).fetchone()
        return int(row[0])

    def history(self, peer: str, limit: int = 100) -> list[HistoryEntry]:
        """The last ``limit`` messages with ``peer``, oldest first."""
        rows = self._db.execute(
            "SELECT peer, direction, body, sent_at, status, detail, origin_id FROM history "
            "WHERE peer = ? ORDER BY sent_at DESC, id DESC LIMIT ?",
            (peer, limit),
        ).fetchall()
        return [HistoryEntry(*row) for row in reversed(rows)]

    def peers(self) -> Iterator[str]:
        """Everyone there is history with."""
        for row in self._db.execute("SELECT DISTINCT peer FROM history ORDER BY peer"):
            yield row[0]

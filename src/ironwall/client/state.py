"""The client's local state: one encrypted SQLite database per account and device.

It holds what makes a device trustworthy over time — the contacts' pinned keys and trust
states, the replay cache — and what the user reads: the message history (with each
message's delivery state), the outbox of messages not yet taken by the server, and
settings. It is encrypted at rest (`ironwall.e2e.open_local_database`): opening it needs
the unlocked identity, so whoever copies the device's files reads nothing in it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

from ironwall.client.events import Delivery, Direction, Message, MessageStatus
from ironwall.e2e import REPLAY_WINDOW, ContactTrust, Identity, TrustState, open_local_database

__all__ = ["STATE_FILE", "LocalState"]

STATE_FILE = "state.db"
SCHEMA_VERSION = 2

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS settings (
        key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS contacts (
        jid TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        pinned TEXT NOT NULL,
        revoked TEXT NOT NULL,
        offered TEXT NOT NULL,
        plaintext_allowed INTEGER NOT NULL DEFAULT 0,
        refreshed_at REAL NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS keys (
        fingerprint TEXT PRIMARY KEY, jid TEXT NOT NULL, data BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS replay (
        sender TEXT NOT NULL, message_id TEXT NOT NULL, sent_at REAL NOT NULL,
        PRIMARY KEY (sender, message_id))""",
    "CREATE INDEX IF NOT EXISTS replay_age ON replay (sent_at)",
    """CREATE TABLE IF NOT EXISTS archived (
        archive_id TEXT PRIMARY KEY, seen_at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS archived_age ON archived (seen_at)",
    """CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        peer TEXT NOT NULL,
        direction TEXT NOT NULL,
        body TEXT,
        sent_at REAL NOT NULL,
        status TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        origin_id TEXT,
        delivery TEXT,
        unread INTEGER NOT NULL DEFAULT 0,
        checks TEXT NOT NULL DEFAULT '[]',
        queued INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS messages_peer ON messages (peer, id)",
    # One entry per message, however many copies arrive (live, carbon, offline, archive).
    """CREATE UNIQUE INDEX IF NOT EXISTS messages_once
        ON messages (peer, direction, origin_id) WHERE origin_id IS NOT NULL""",
    "CREATE INDEX IF NOT EXISTS messages_queued ON messages (queued) WHERE queued = 1",
    # A page of a conversation is read in this order: without it SQLite sorts all of the
    # peer's messages for every page.
    "CREATE INDEX IF NOT EXISTS messages_time ON messages (peer, sent_at, id)",
    # Unread counts are asked for on every redraw: only the few unread rows are indexed.
    "CREATE INDEX IF NOT EXISTS messages_unread ON messages (peer) WHERE unread = 1",
    """CREATE TABLE IF NOT EXISTS deferred (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        stanza TEXT NOT NULL,
        archived INTEGER NOT NULL,
        archive_id TEXT,
        received_at REAL NOT NULL)""",
)
_COLUMNS = "id, peer, direction, body, sent_at, status, detail, origin_id, delivery, unread, checks"


def _message(row: tuple[object, ...]) -> Message:
    (id_, peer, direction, body, sent_at, status, detail, origin, delivery, unread, checks) = row
    return Message(
        id=int(id_),  # type: ignore[call-overload]
        peer=str(peer),
        direction=Direction(direction),
        body=None if body is None else str(body),
        sent_at=float(sent_at),  # type: ignore[arg-type]
        status=MessageStatus(status),
        detail=str(detail),
        origin_id=None if origin is None else str(origin),
        delivery=None if delivery is None else Delivery(delivery),
        unread=bool(unread),
        checks=tuple((str(name), value) for name, value in json.loads(str(checks))),
    )


class LocalState:
    """Everything one account keeps on this device (a `ReplayCache` too)."""

    def __init__(self, path: Path, identity: Identity) -> None:
        self.path = path
        self._db = open_local_database(path, identity)
        self._migrate()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
        with self.transaction():
            for statement in _SCHEMA:
                self._db.execute(statement)
            if version < SCHEMA_VERSION and "history" in tables:
                self._import_version_1(tables)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _import_version_1(self, tables: set[str]) -> None:
        """Ironwall 0.1's unencrypted state: history, replay cache, no secrets kept."""
        self._db.execute(
            "INSERT OR IGNORE INTO messages (peer, direction, body, sent_at, status, detail, "
            "origin_id, delivery, unread) SELECT peer, direction, body, sent_at, status, detail, "
            "origin_id, CASE direction WHEN 'out' THEN 'sent' END, "
            "CASE direction WHEN 'in' THEN unseen ELSE 0 END FROM history ORDER BY id"
        )
        if "seen" in tables:
            self._db.execute(
                "INSERT OR IGNORE INTO replay (sender, message_id, sent_at) "
                "SELECT sender, message_id, seen_at FROM seen"
            )
            self._db.execute("DROP TABLE seen")
        self._db.execute("DROP TABLE history")
        # The old device kept the login password and the server address here; the device
        # file holds the address now, and no password is kept at all.
        self._db.execute(
            "DELETE FROM settings WHERE key IN ('login_password', 'server_host', "
            "'server_port', 'ca_file', 'sealed_key', 'login_kind', 'fingerprint')"
        )

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group the writes inside into one commit (one fsync)."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

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

    def forget_contact(self, jid: str) -> None:
        """Drop the contact's trust state and settings (its history and keys stay)."""
        self._db.execute("DELETE FROM contacts WHERE jid = ?", (jid,))

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

    def refreshed_at(self, jid: str) -> float:
        """When ``jid``'s keys were last fetched (0: never)."""
        row = self._db.execute("SELECT refreshed_at FROM contacts WHERE jid = ?", (jid,)).fetchone()
        return float(row[0]) if row else 0.0

    def mark_refreshed(self, jid: str) -> None:
        """Record that ``jid``'s keys were fetched just now."""
        self._db.execute("UPDATE contacts SET refreshed_at = ? WHERE jid = ?", (time.time(), jid))

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

    def add(self, sender: str, message_id: str, sent_at: dt.datetime) -> bool:
        """ReplayCache: record a message id; False if it was seen before.

        Entries are kept for REPLAY_WINDOW after the message's signed time, then dropped:
        a live message older than that is refused as stale before it gets here.
        """
        stamp = sent_at.timestamp()
        horizon = time.time() - REPLAY_WINDOW.total_seconds()
        self._db.execute("DELETE FROM replay WHERE sent_at < ?", (horizon,))
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO replay (sender, message_id, sent_at) VALUES (?, ?, ?)",
            (sender, message_id, stamp),
        )
        return cursor.rowcount == 1

    def replay_entries(self) -> int:
        """How many message ids the replay cache holds."""
        return int(self._db.execute("SELECT count(*) FROM replay").fetchone()[0])

    def archive_id_seen(self, archive_id: str) -> bool:
        """Whether a message with this server archive id (XEP-0359 stanza-id) was processed.

        The same archived message can arrive live, from offline storage and from an
        archive query, within moments of each other: each copy after the first is the same
        message, not a replay. Ids are forgotten after REPLAY_WINDOW; an older copy is
        caught by the one-entry-per-message rule of the history.
        """
        row = self._db.execute(
            "SELECT 1 FROM archived WHERE archive_id = ?", (archive_id,)
        ).fetchone()
        return row is not None

    def mark_archive_id(self, archive_id: str) -> None:
        """Record that the message with this archive id has been processed."""
        now = time.time()
        self._db.execute(
            "DELETE FROM archived WHERE seen_at < ?", (now - REPLAY_WINDOW.total_seconds(),)
        )
        self._db.execute(
            "INSERT OR IGNORE INTO archived (archive_id, seen_at) VALUES (?, ?)", (archive_id, now)
        )

    # -------------------------------------------------------------- messages

    def add_message(
        self,
        peer: str,
        direction: Direction,
        body: str | None,
        sent_at: float,
        status: MessageStatus,
        *,
        detail: str = "",
        origin_id: str | None = None,
        delivery: Delivery | None = None,
        unread: bool = False,
        checks: tuple[tuple[str, bool | None], ...] = (),
        queued: bool = False,
    ) -> Message | None:
        """Append a message; None if the history already holds it (same origin-id)."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO messages (peer, direction, body, sent_at, status, detail, "
            "origin_id, delivery, unread, checks, queued) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                peer,
                direction.value,
                body,
                sent_at,
                status.value,
                detail,
                origin_id,
                None if delivery is None else delivery.value,
                int(unread),
                json.dumps([list(check) for check in checks]),
                int(queued),
            ),
        )
        if cursor.rowcount != 1 or cursor.lastrowid is None:
            return None
        return self.message(cursor.lastrowid)

    def has_message(self, peer: str, direction: Direction, origin_id: str) -> bool:
        """Whether the history holds this message already."""
        row = self._db.execute(
            "SELECT 1 FROM messages WHERE peer = ? AND direction = ? AND origin_id = ?",
            (peer, direction.value, origin_id),
        ).fetchone()
        return row is not None

    def message(self, message_id: int) -> Message | None:
        """One message by its local id."""
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE id = ?",  # noqa: S608 - fixed fragments only
            (message_id,),
        ).fetchone()
        return None if row is None else _message(row)

    def outgoing(self, peer: str, origin_id: str) -> Message | None:
        """The message this account sent to ``peer`` with ``origin_id``."""
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE peer = ? AND direction = 'out' "  # noqa: S608 - fixed fragments only
            "AND origin_id = ?",
            (peer, origin_id),
        ).fetchone()
        return None if row is None else _message(row)

    def set_delivery(
        self, message_id: int, delivery: Delivery, *, detail: str | None = None
    ) -> Message | None:
        """Move a message to ``delivery``; None if it does not exist or is already further."""
        current = self.message(message_id)
        order = list(Delivery)
        if current is None or current.delivery is None:
            return None
        if current.delivery is Delivery.FAILED and delivery is not Delivery.PENDING:
            return None
        moving_on = delivery not in (Delivery.FAILED, Delivery.PENDING)
        if moving_on and order.index(delivery) <= order.index(current.delivery):
            return None
        self._db.execute(
            "UPDATE messages SET delivery = ?, detail = COALESCE(?, detail), "
            "queued = CASE WHEN ? = 'pending' THEN queued ELSE 0 END WHERE id = ?",
            (delivery.value, detail, delivery.value, message_id),
        )
        return self.message(message_id)

    def outgoing_up_to(self, peer: str, message_id: int) -> list[int]:
        """Ids of the messages to ``peer`` sent at or before ``message_id`` not yet read."""
        rows = self._db.execute(
            "SELECT id FROM messages WHERE peer = ? AND direction = 'out' AND id <= ? "
            "AND delivery IN ('sent', 'delivered')",
            (peer, message_id),
        )
        return [int(row[0]) for row in rows]

    def queued(self) -> list[Message]:
        """Messages in the outbox: written, never handed to a server."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE queued = 1 ORDER BY id"  # noqa: S608 - fixed fragments only
        ).fetchall()
        return [_message(row) for row in rows]

    def mark_handed_over(self, message_id: int) -> None:
        """The message was written to the server's stream: out of the outbox."""
        self._db.execute("UPDATE messages SET queued = 0 WHERE id = ?", (message_id,))

    def history(self, peer: str, *, limit: int = 50, before_id: int | None = None) -> list[Message]:
        """A page of the conversation with ``peer``, oldest first: the ``limit`` messages
        shown before message ``before_id`` (default: the newest ones). Messages are in the
        order they were written (``sent_at``), then of their arrival (``id``)."""
        if before_id is None:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE peer = ? "  # noqa: S608 - fixed fragments only
                "ORDER BY sent_at DESC, id DESC LIMIT ?",
                (peer, limit),
            ).fetchall()
        else:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE peer = ? AND (sent_at, id) < "  # noqa: S608 - fixed fragments only
                "(SELECT sent_at, id FROM messages WHERE id = ?) "
                "ORDER BY sent_at DESC, id DESC LIMIT ?",
                (peer, before_id, limit),
            ).fetchall()
        return [_message(row) for row in reversed(rows)]

    def search(self, peer: str, text: str, *, limit: int = 100) -> list[Message]:
        """Messages with ``peer`` whose body contains ``text`` (case-insensitive), oldest first."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE peer = ? AND body LIKE ? ESCAPE '\\' "  # noqa: S608 - fixed fragments only
            "ORDER BY sent_at DESC, id DESC LIMIT ?",
            (peer, pattern, limit),
        ).fetchall()
        return [_message(row) for row in reversed(rows)]

    def peers(self) -> list[str]:
        """Everyone there is history with."""
        return [row[0] for row in self._db.execute("SELECT DISTINCT peer FROM messages")]

    def unread_counts(self) -> dict[str, int]:
        """Unread incoming messages per peer (peers with none are left out)."""
        rows = self._db.execute(
            "SELECT peer, count(*) FROM messages WHERE unread = 1 GROUP BY peer"
        )
        return {str(peer): int(count) for peer, count in rows}

    def unread(self) -> list[Message]:
        """Every unread incoming message, oldest first."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE unread = 1 ORDER BY sent_at, id"  # noqa: S608 - fixed fragments only
        ).fetchall()
        return [_message(row) for row in rows]

    def mark_read(self, peer: str | None = None, *, up_to: int | None = None) -> list[Message]:
        """Mark ``peer``'s (or everyone's) unread messages read; return them."""
        where, params = "unread = 1", []
        if peer is not None:
            where += " AND peer = ?"
            params.append(peer)
        if up_to is not None:
            where += " AND id <= ?"
            params.append(str(up_to))
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE {where} ORDER BY id",  # noqa: S608 - fixed fragments only
            params,
        ).fetchall()
        self._db.execute(f"UPDATE messages SET unread = 0 WHERE {where}", params)  # noqa: S608 - fixed fragments only
        return [_message(row) for row in rows]

    # -------------------------------------------------------------- deferred

    def defer(self, stanza: str, *, archived: bool, archive_id: str | None) -> None:
        """Keep a received message that could not be opened yet (its sender's key was
        out of reach), to try again when the connection is back."""
        self._db.execute(
            "INSERT INTO deferred (stanza, archived, archive_id, received_at) VALUES (?, ?, ?, ?)",
            (stanza, int(archived), archive_id, time.time()),
        )

    def take_deferred(self) -> list[tuple[str, bool, str | None]]:
        """Every deferred message (and forget them: the caller defers again what still fails)."""
        rows = self._db.execute(
            "SELECT stanza, archived, archive_id FROM deferred ORDER BY id"
        ).fetchall()
        self._db.execute("DELETE FROM deferred")
        return [(str(s), bool(a), None if i is None else str(i)) for s, a, i in rows]

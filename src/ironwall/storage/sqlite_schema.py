"""The SQLite schema, as an ordered list of migration steps.

The database records how many steps it has applied in ``schema_version``; ``open()``
applies the missing ones in one transaction and refuses a database written by a newer
Ironwall. A released step is never edited: a schema change is a new step at the end.

Every query of a store names both the store and the owner, so indexes lead with
(owner, store): as selective as (store, owner) for those queries, and
``delete_owner`` (owner only) uses the same indexes instead of scanning whole tables.

Archive indexes, chosen by measurement (bench/storage.py, 100,000 items of one owner):
an index entry ends with the rowid, which is the item id, so (owner, store) and
(owner, store, with_jid) hand out items already in id order and a page of 50 costs
~0.1 ms however rare the contact. An index (owner, store, with_jid, stamp) would need a
sort of the whole conversation per page (17 ms for a rare contact); time ranges get
their own (owner, store, stamp) instead. No ANALYZE: without statistics SQLite's planner
picks these indexes; with them it preferred scans for time ranges (25 ms).

Archive ids (step 2): what users see of an item is not its rowid, which counts every
item of every owner and so told anyone the server's message volume and the order of
their items among everybody else's, but the rowid under a keyed permutation (AES-128 of
one block; the key, 16 random bytes, is made by this step and kept in ``archive_ids``).
So ids are unguessable and unordered, and still name the row directly: no column and no
index, which a random id per row would need (measured: an index of random keys cost a
quarter of the messages a server carries with its archive on). Rows that existed before
this step keep their old ids (their rowid in 16 hex digits, up to ``legacy_until``),
because clients hold those as stanza-ids and RSM cursors; they revealed only what was
already revealed. The key sits in the database: who holds the database can order the
ids, and holds the archive itself anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MIGRATIONS", "Migration"]

Migration = Sequence[str]
"""One step: SQL statements applied in order, inside the migration transaction."""

MIGRATIONS: Sequence[Migration] = (
    # 1: the three store kinds.
    (
        """
        CREATE TABLE kv (
            store TEXT NOT NULL,
            owner TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (store, owner)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX kv_owner ON kv (owner)",
        """
        CREATE TABLE map (
            owner TEXT NOT NULL,
            store TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (owner, store, key)
        ) WITHOUT ROWID
        """,
        # AUTOINCREMENT: an id is never reused, even after the newest item is deleted,
        # so an RSM cursor a client holds can never come to point at another message.
        """
        CREATE TABLE archive (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            store TEXT NOT NULL,
            owner TEXT NOT NULL,
            with_jid TEXT NOT NULL,
            stamp REAL NOT NULL,
            payload TEXT NOT NULL
        )
        """,
        "CREATE INDEX archive_owner ON archive (owner, store)",
        "CREATE INDEX archive_with ON archive (owner, store, with_jid)",
        "CREATE INDEX archive_stamp ON archive (owner, store, stamp)",
    ),
    # 2: opaque archive ids (see above).
    (
        """
        CREATE TABLE archive_ids (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            key BLOB NOT NULL,
            legacy_until INTEGER NOT NULL
        )
        """,
        """
        INSERT INTO archive_ids
        SELECT 1, randomblob(16), coalesce(max(seq), 0)
        FROM sqlite_sequence WHERE name = 'archive'
        """,
    ),
)

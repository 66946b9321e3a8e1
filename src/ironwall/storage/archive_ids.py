"""Archive item ids: the row number under a keyed permutation, so ids hide the server.

A row number counts every item of every owner: shown to users as it is, it would tell
anyone the server's message volume and where their items fall among everybody else's.
Under one AES-128 block (a keyed permutation) ids look random, are unrelated to one
another and cannot be made up, yet still name the row directly, so the archive needs no
random-id column and no index updated on every append (measured: such an index cost a
quarter of the messages a server carries with its archive on).

This is not end-to-end message crypto, and no message content passes through it: it
maps integers to opaque strings, with a key the database holds (see
``sqlite_schema``). Hence the one exception for this file in the crypto-boundary test.
"""

from __future__ import annotations

import re

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["ArchiveIds"]

# 32 hex digits: a rowid under the key; 16 for rows older than the permutation.
_ID = re.compile(r"[0-9a-f]{32}")
_LEGACY_ID = re.compile(r"[0-9a-f]{16}")


class ArchiveIds:
    """Archive ids: a rowid in the low 8 bytes of one 16-byte block under AES-128.

    Without ``key`` an id names a row only by chance: one whose block does not start
    with 8 zero bytes is refused, so a made-up id passes with odds of 2**-64. Rows up to
    ``legacy_until`` keep the ids they had before (their rowid in 16 hex digits), since
    clients hold those as stanza-ids and cursors.
    """

    def __init__(self, key: bytes, legacy_until: int) -> None:
        # One block per id, deterministic on purpose: the same row always has the same id.
        cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - a permutation, see above
        # ECB takes each block on its own, so one encryptor serves every id.
        self._encrypt = cipher.encryptor()
        self._decrypt = cipher.decryptor()
        self._legacy_until = legacy_until

    def format(self, rowid: int) -> str:
        """The id users see for ``rowid``."""
        if rowid <= self._legacy_until:
            return f"{rowid:016x}"
        return self._encrypt.update(rowid.to_bytes(16, "big")).hex()

    def parse(self, item_id: str) -> int | None:
        """The rowid ``item_id`` names, None if it names none; ValueError if malformed."""
        if _LEGACY_ID.fullmatch(item_id):
            rowid = int(item_id, 16)
            return rowid if 0 < rowid <= self._legacy_until else None
        if not _ID.fullmatch(item_id):
            raise ValueError(f"{item_id!r} is not an archive item id of this store")
        block = self._decrypt.update(bytes.fromhex(item_id))
        rowid = int.from_bytes(block[8:], "big")
        if block[:8] != bytes(8) or rowid <= self._legacy_until:
            return None
        return rowid

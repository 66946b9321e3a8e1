"""Fuzz reading a contact's public key (ironwall.e2e.PublicKey.from_bytes).

Public keys come from PEP nodes on a server that may be hostile. Input: the key bytes
(binary or ASCII-armored); seeds are the spec vectors' keys.

What must hold: ``InvalidKey`` is the only error; a key that reads is a v4 certificate
whose properties can all be asked, and which reads back from its own bytes, or merged
with itself, with the same fingerprint, JIDs, revocation and expiry. Not byte for byte:
Sequoia may reorder subkeys that carry no binding signature each time it writes a
certificate, so ``==`` (which compares bytes) can differ for such a damaged key.
"""

from __future__ import annotations

import datetime as dt

from fuzz_common import fuzz, instrumented

with instrumented(__name__):
    from ironwall.e2e import InvalidKey, PublicKey

NOW = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


def test_one_input(data: bytes) -> None:
    """Read ``data`` as a public key and use it the way the client does."""
    try:
        key = PublicKey.from_bytes(data)
    except InvalidKey:
        return
    assert len(key.fingerprint) == 40
    key.problem(NOW)
    for jid in key.user_jids:
        assert key.names(jid)
    for again in (PublicKey.from_bytes(key.to_bytes()), key.merge(key)):
        assert _properties(again) == _properties(key), (_properties(again), _properties(key))


def _properties(key: PublicKey) -> tuple[object, ...]:
    return key.fingerprint, key.user_jids, key.is_revoked, key.expires_at


if __name__ == "__main__":
    fuzz(test_one_input)

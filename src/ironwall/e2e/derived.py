"""Secrets derived from one's identity: the account revocation token, the local state key.

Both come from the primary secret key itself (HKDF-SHA256 over the secret-key packet's
body, with a purpose label), so any device that can unlock the identity derives the same
values and nothing else can. They do not change when the key gets new signatures (renewal,
revocation) or when the passphrase changes. Spec: spec/e2e.md §5.6.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pysequoia.packet import PacketPile, Tag

from ironwall.e2e.keys import Identity

__all__ = ["revocation_token", "revocation_verifier"]

_REVOCATION_INFO = b"ironwall account-revocation v1"
_LOCAL_STATE_INFO = b"ironwall local-state v1"
_KEY_BYTES = 32


def _primary_secret(identity: Identity) -> bytes:
    for packet in PacketPile.from_bytes(bytes(identity._tsk)):
        if packet.tag == Tag.SecretKey:
            body: bytes = packet.body
            return body
    raise ValueError("the identity holds no primary secret key")  # cannot happen for an Identity


def _derive(identity: Identity, info: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=None, info=info)
    return hkdf.derive(_primary_secret(identity))


def revocation_token(identity: Identity) -> str:
    """The secret (base64) that proves to the server the right to revoke the account.

    The server keeps only `revocation_verifier`; the token is sent once, to revoke.
    """
    return base64.b64encode(_derive(identity, _REVOCATION_INFO)).decode("ascii")


def revocation_verifier(identity: Identity) -> str:
    """SHA-256 of the revocation token (base64): what the server stores to check it."""
    token = _derive(identity, _REVOCATION_INFO)
    return base64.b64encode(hashlib.sha256(token).digest()).decode("ascii")


def local_state_key(identity: Identity) -> bytes:
    """The key of the device's encrypted local database (only `local_db` uses it)."""
    return _derive(identity, _LOCAL_STATE_INFO)

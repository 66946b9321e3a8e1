"""Private records: data one's own devices share through the server, readable only by them.

A record is signed by the identity and encrypted to it alone (OpenPGP, like a message to
oneself), with a purpose label inside the signed plaintext, so that the server can neither
read nor alter it, nor pass off another record or one of the user's own messages as it.
The client uses one for the contacts it verified, so a verification made on one device
holds on the others. Spec: spec/e2e.md §6.3.
"""

from __future__ import annotations

import base64
import binascii

import pysequoia

from ironwall.e2e.errors import E2EError
from ironwall.e2e.keys import Identity

__all__ = ["InvalidRecord", "open_private_record", "seal_private_record"]

MAX_RECORD_BYTES = 256 * 1024
_LABEL = b"ironwall private-record v1 "


class InvalidRecord(E2EError):
    """The record was not sealed by this identity for this purpose, or is damaged."""


def _prefix(purpose: str) -> bytes:
    if not purpose or not purpose.isascii() or "\n" in purpose:
        raise ValueError("a record purpose is a short ASCII name")
    return _LABEL + purpose.encode("ascii") + b"\n"


def seal_private_record(identity: Identity, purpose: str, data: bytes) -> str:
    """Sign `data` and encrypt it to `identity` alone; base64 text for a PEP item."""
    plaintext = _prefix(purpose) + data
    if len(plaintext) > MAX_RECORD_BYTES:
        raise ValueError(f"a private record holds at most {MAX_RECORD_BYTES} bytes")
    sealed = pysequoia.encrypt(
        plaintext,
        recipients=[identity.public_key._cert],
        signer=identity._signer,
        armor=False,
    )
    return base64.b64encode(sealed).decode("ascii")


def open_private_record(identity: Identity, purpose: str, text: str) -> bytes:
    """The data of a record `seal_private_record` made for `purpose`; else `InvalidRecord`."""
    try:
        sealed = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRecord("the record is not base64") from None
    if len(sealed) > 2 * MAX_RECORD_BYTES:
        raise InvalidRecord("the record is too large")
    own = identity.public_key
    try:
        result = pysequoia.decrypt(
            sealed, decryptor=identity._decryptor, store=lambda _ids: [own._cert]
        )
    except RuntimeError:
        raise InvalidRecord("the record does not decrypt or is not signed by this key") from None
    signed = any(sig.certificate.upper() == own.fingerprint for sig in result.valid_sigs)
    prefix = _prefix(purpose)
    plaintext = result.bytes or b""
    if not signed or not plaintext.startswith(prefix):
        raise InvalidRecord("the record is not this account's record for this purpose")
    return plaintext[len(prefix) :]

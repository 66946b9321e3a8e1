"""Test-only forgery: OpenPGP messages `seal_message` would never make, built with
pysequoia directly, to prove `open_message` rejects them.

Reaches into the opaque key objects (`_signer`, `_cert`) on purpose: an attacker holding a
key can produce any of these messages with any OpenPGP tool.
"""

from __future__ import annotations

import base64
import datetime as dt

import pysequoia

from ironwall.e2e import Identity, PublicKey
from ironwall.e2e.signcrypt import Signcrypt, build_signcrypt

NS_OX = "urn:xmpp:openpgp:0"


def signcrypt(
    *to: str,
    body: str = "hello",
    origin_id: str | None = "forged-1",
    when: dt.datetime | None = None,
) -> bytes:
    """A well-formed `<signcrypt>` naming `to`."""
    when = when or dt.datetime.now(dt.UTC)
    return build_signcrypt(Signcrypt(tuple(to), when, body, origin_id), rpad="pad")


def encrypt(plaintext: bytes, recipients: list[PublicKey], signer: Identity | None = None) -> str:
    """Base64 of `plaintext` encrypted to `recipients`, signed by `signer` if given."""
    data = pysequoia.encrypt(
        plaintext,
        recipients=[key._cert for key in recipients],
        signer=signer._signer if signer else None,
        armor=False,
    )
    return base64.b64encode(data).decode()


def sign_only(plaintext: bytes, signer: Identity) -> str:
    """Base64 of `plaintext` signed (inline) but not encrypted."""
    data = pysequoia.sign(signer._signer, plaintext, armor=False)
    return base64.b64encode(data).decode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)

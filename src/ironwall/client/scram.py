"""SCRAM logins from salted keys, so that a device never stores the account password.

After a successful SCRAM login (RFC 5802) the device keeps the SaltedPassword for the
server's salt and iteration count, in its encrypted local state: with it the client can
log in again, but it reveals neither the password nor the passphrase it was derived from,
and it is worthless against a server with another salt. If the server's salt changes (the
password was changed on another device), the cached value no longer matches and the login
falls back to the password, which the client then derives from the passphrase.

This replaces slixmpp's SCRAM mechanism for the process (same names, same priority): it
also uses hashlib's PBKDF2 instead of slixmpp's pure-Python loop, which is several hundred
times faster for a password the client does not have cached.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from slixmpp.util.sasl.client import sasl_mech
from slixmpp.util.sasl.mechanisms import SCRAM

__all__ = ["CREDENTIAL", "CachedSCRAM", "SaltedPassword", "used_salted_password"]

#: The slixmpp credential that carries a cached ``SaltedPassword`` (as JSON bytes).
CREDENTIAL = "ironwall_salted_password"


@dataclass(frozen=True)
class SaltedPassword:
    """RFC 5802 SaltedPassword for one hash, salt and iteration count."""

    hash_name: str
    salt: bytes
    iterations: int
    value: bytes

    def to_json(self) -> str:
        """The form kept in the local state."""
        return json.dumps(
            {
                "hash": self.hash_name,
                "salt": base64.b64encode(self.salt).decode(),
                "iterations": self.iterations,
                "value": base64.b64encode(self.value).decode(),
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> SaltedPassword | None:
        """Parse ``to_json`` output; None if it is not one."""
        try:
            data = json.loads(text)
            return cls(
                str(data["hash"]),
                base64.b64decode(data["salt"], validate=True),
                int(data["iterations"]),
                base64.b64decode(data["value"], validate=True),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None


@sasl_mech(60)
class CachedSCRAM(SCRAM):
    """slixmpp's SCRAM, with SaltedPassword taken from the cache when it matches."""

    optional_credentials = SCRAM.optional_credentials | {CREDENTIAL}

    #: The SaltedPassword this login used, for the connection to keep after success.
    salted: SaltedPassword | None = None

    # slixmpp declares ``text`` a str, but hands over the SASLprep'd password as bytes.
    def Hi(self, text: bytes, salt: bytes, iterations: int) -> bytes:  # type: ignore[override]
        """SaltedPassword: the cached one if it is for this salt, else PBKDF2 of the password."""
        name = str(self.hash_name)
        cached = SaltedPassword.from_json(self.credentials.get(CREDENTIAL) or b"")
        if (
            cached is not None
            and cached.hash_name == name
            and cached.salt == salt
            and cached.iterations == iterations
        ):
            value = cached.value
        else:
            algorithm = name.replace("-", "").lower()
            value = hashlib.pbkdf2_hmac(algorithm, bytes(text), salt, iterations)
        self.salted = SaltedPassword(name, salt, iterations, value)
        return value


def used_salted_password(mechanism: Any) -> SaltedPassword | None:
    """The SaltedPassword a finished login used, if it was a SCRAM login."""
    return mechanism.salted if isinstance(mechanism, CachedSCRAM) else None

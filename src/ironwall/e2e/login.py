"""The XMPP account password derived from the passphrase, so a user remembers one secret.

The account password must not be the passphrase: the server sees the password at
registration (XEP-0077) and keeps a SCRAM verifier of it, and the passphrase opens the
sealed key the server also holds. So the password is Argon2id(passphrase) with a salt
fixed by the JID and a purpose label, at the same cost as the seal: guessing the
passphrase through the password is no cheaper for the server than through the blob,
and the password on its own opens nothing. Spec: spec/e2e.md, "Login password".
"""

from __future__ import annotations

import asyncio
import base64
import hashlib

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from ironwall.e2e._jid import bare_jid, check_bare_jid
from ironwall.e2e.passphrase import normalize_passphrase
from ironwall.e2e.secretkey import _ARGON2_INSECURE_FOR_TESTS, ARGON2_DEFAULT

__all__ = ["derive_login_password", "derive_login_password_async"]

_LABEL = b"ironwall login-password v1\x00"


def derive_login_password(
    passphrase: str, jid: str, *, insecure_fast_kdf_for_tests: bool = False
) -> str:
    """The account password for ``jid`` (bare) derived from ``passphrase``: 43 URL-safe characters."""
    jid = bare_jid(check_bare_jid(jid))
    params = _ARGON2_INSECURE_FOR_TESTS if insecure_fast_kdf_for_tests else ARGON2_DEFAULT
    # The salt is public and fixed per account: every device must derive the same password.
    salt = hashlib.sha256(_LABEL + jid.encode("utf-8")).digest()[:16]
    kdf = Argon2id(
        salt=salt,
        length=32,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    )
    return (
        base64.urlsafe_b64encode(kdf.derive(normalize_passphrase(passphrase))).decode().rstrip("=")
    )


async def derive_login_password_async(
    passphrase: str, jid: str, *, insecure_fast_kdf_for_tests: bool = False
) -> str:
    """``derive_login_password`` in a worker thread (it takes about half a second)."""
    return await asyncio.to_thread(
        derive_login_password,
        passphrase,
        jid,
        insecure_fast_kdf_for_tests=insecure_fast_kdf_for_tests,
    )

"""Fuzz unlocking a sealed secret key (ironwall.e2e.open_secret_key) from damaged blobs.

The blob lives on the server, so it is attacker-controlled. Input: one option byte that
picks the secret tried (the vector's passphrase, its recovery code, a wrong passphrase),
then the blob. Seeds are the spec vector's blob, sealed with the fast test KDF.

What must hold: ``SealedKeyError`` and ``WrongPassphrase`` are the only errors, and what
opens is the vector's identity.

A blob may ask for up to 2 GiB and 64 passes of Argon2id (a deliberate ceiling, so that
the cost can be raised later); the harness skips blobs over a small budget, which would
only measure Argon2id.
"""

from __future__ import annotations

from fuzz_common import fuzz, instrumented, vectors

with instrumented(__name__):
    from ironwall.e2e import SealedKeyError, WrongPassphrase, open_secret_key
    from ironwall.e2e.secretkey import SLOT_PASSPHRASE, _parse, _slot_argon2

SEALED = vectors()["sealed_keys"][0]
SECRETS = (SEALED["passphrase"], SEALED["recovery_code"], SEALED["wrong_passphrase"])
IDENTITY = vectors()["identities"][SEALED["identity"]]
MAX_FUZZ_MEMORY_KIB = 1024
MAX_FUZZ_ITERATIONS = 4


def _too_costly(blob: bytes) -> bool:
    try:
        slots, _payload = _parse(blob)
    except SealedKeyError:
        return False
    for slot in slots:
        if slot.kind == SLOT_PASSPHRASE:
            params = _slot_argon2(slot)
            if params.memory_kib > MAX_FUZZ_MEMORY_KIB or params.iterations > MAX_FUZZ_ITERATIONS:
                return True
    return False


def test_one_input(data: bytes) -> None:
    """Try to open the blob in ``data`` with the secret its option byte picks."""
    if not data:
        return
    secret, blob = SECRETS[data[0] % len(SECRETS)], data[1:]
    if _too_costly(blob):
        return
    try:
        identity = open_secret_key(blob, secret)
    except (SealedKeyError, WrongPassphrase):
        return
    assert identity.jid == SEALED["identity"]
    assert identity.fingerprint == IDENTITY["fingerprint"]


if __name__ == "__main__":
    fuzz(test_one_input)

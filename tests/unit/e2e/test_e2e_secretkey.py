"""The sealed secret key: passphrase and recovery-code slots, tampering, the real KDF cost."""

from __future__ import annotations

import asyncio
import struct
import time

import pytest

from ironwall.e2e import (
    Identity,
    SealedKeyError,
    WeakPassphrase,
    WrongPassphrase,
    change_passphrase,
    change_passphrase_async,
    new_recovery_code,
    open_secret_key,
    open_secret_key_async,
    seal_secret_key,
    seal_secret_key_async,
)
from ironwall.e2e.secretkey import ARGON2_DEFAULT, MAGIC, SLOT_PASSPHRASE, SLOT_RECOVERY_CODE

PASSPHRASE = "kettle umbrella vivid orbit"
OTHER_PASSPHRASE = "lantern quarry mosaic thimble"
FAST = {"insecure_fast_kdf_for_tests": True}


def _seal(
    identity: Identity, passphrase: str | None = PASSPHRASE, code: str | None = None
) -> bytes:
    return seal_secret_key(identity, passphrase, recovery_code=code, **FAST)


def test_passphrase_unlocks_the_same_identity(alice: Identity) -> None:
    unlocked = open_secret_key(_seal(alice), PASSPHRASE)
    assert unlocked.fingerprint == alice.fingerprint
    assert unlocked.jid == alice.jid
    assert unlocked.public_key == alice.public_key


def test_blob_layout_and_header(alice: Identity) -> None:
    blob = _seal(alice, code=new_recovery_code())
    assert blob[:6] == MAGIC + bytes([1, 2])
    assert blob[6] == SLOT_PASSPHRASE
    assert struct.unpack(">IIB", blob[7:16]) == (64, 1, 1)  # the test-only cost, in the blob
    second_slot = 6 + 1 + 9 + 16 + 12 + 48
    assert blob[second_slot] == SLOT_RECOVERY_CODE


def test_wrong_passphrase_is_one_clear_error_without_output(alice: Identity) -> None:
    blob = _seal(alice)
    with pytest.raises(WrongPassphrase) as caught:
        open_secret_key(blob, "kettle umbrella vivid orbiT")
    assert str(caught.value) == "wrong passphrase or recovery code"
    assert "orbit" not in repr(caught.value)


def test_recovery_code_unlocks_the_same_key_in_any_spelling(alice: Identity) -> None:
    code = new_recovery_code()
    blob = _seal(alice, code=code)
    for typed in (code, code.lower(), code.replace("-", ""), " ".join(code.split("-"))):
        assert open_secret_key(blob, typed).fingerprint == alice.fingerprint
    assert open_secret_key(blob, PASSPHRASE).fingerprint == alice.fingerprint


def test_recovery_code_alone(alice: Identity) -> None:
    code = new_recovery_code()
    blob = _seal(alice, passphrase=None, code=code)
    assert open_secret_key(blob, code).fingerprint == alice.fingerprint
    with pytest.raises(WrongPassphrase):
        open_secret_key(blob, PASSPHRASE)
    with pytest.raises(WrongPassphrase):
        open_secret_key(blob, new_recovery_code())


def test_sealing_needs_a_secret_and_a_well_formed_code(alice: Identity) -> None:
    with pytest.raises(ValueError, match="passphrase, a recovery code"):
        seal_secret_key(alice, None)
    with pytest.raises(ValueError, match="not a recovery code"):
        _seal(alice, code="1234-5678")


def test_weak_passphrase_is_refused_with_a_reason(alice: Identity) -> None:
    with pytest.raises(WeakPassphrase) as caught:
        _seal(alice, passphrase="password1")
    assert caught.value.reason
    assert "password1" not in caught.value.reason
    with pytest.raises(WeakPassphrase):
        _seal(alice, passphrase="alice example.org")  # the user's own JID is guessed first


def test_change_passphrase_rewraps_only_its_slot(alice: Identity) -> None:
    code = new_recovery_code()
    blob = _seal(alice, code=code)
    changed = change_passphrase(blob, PASSPHRASE, OTHER_PASSPHRASE, **FAST)

    assert open_secret_key(changed, OTHER_PASSPHRASE).fingerprint == alice.fingerprint
    assert open_secret_key(changed, code).fingerprint == alice.fingerprint
    with pytest.raises(WrongPassphrase):
        open_secret_key(changed, PASSPHRASE)
    slot = 1 + 9 + 16 + 12 + 48
    assert changed[6 + slot :] == blob[6 + slot :]  # recovery slot and sealed key untouched
    assert changed[6:slot] != blob[6:slot]


def test_change_passphrase_with_the_recovery_code(alice: Identity) -> None:
    code = new_recovery_code()
    blob = _seal(alice, passphrase=None, code=code)
    changed = change_passphrase(blob, code, OTHER_PASSPHRASE, **FAST)
    assert open_secret_key(changed, OTHER_PASSPHRASE).fingerprint == alice.fingerprint
    assert open_secret_key(changed, code).fingerprint == alice.fingerprint


def test_change_passphrase_checks_old_and_new(alice: Identity) -> None:
    blob = _seal(alice)
    with pytest.raises(WrongPassphrase):
        change_passphrase(blob, "not it at all, no", OTHER_PASSPHRASE, **FAST)
    with pytest.raises(WeakPassphrase):
        change_passphrase(blob, PASSPHRASE, "123456", **FAST)


def test_every_flipped_bit_is_refused(alice: Identity) -> None:
    blob = _seal(alice)
    for position in range(len(blob)):
        damaged = bytearray(blob)
        damaged[position] ^= 0x01
        with pytest.raises((WrongPassphrase, SealedKeyError)):
            open_secret_key(bytes(damaged), PASSPHRASE)


def test_damaged_sealed_key_is_not_a_wrong_passphrase(alice: Identity) -> None:
    blob = bytearray(_seal(alice))
    blob[-1] ^= 0x80
    with pytest.raises(SealedKeyError, match="damaged"):
        open_secret_key(bytes(blob), PASSPHRASE)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "not a sealed"),
        (b"PGP!\x01", "not a sealed"),
        (MAGIC + b"\x02\x01", "version"),
        (MAGIC + b"\x01", "truncated"),
        (MAGIC + b"\x01\x00" + b"x" * 100, "no or duplicate"),
        (MAGIC + b"\x01\x01\x07" + b"x" * 100, "unknown key slot"),
        (MAGIC + b"\x01\x01\x01" + b"x" * 10, "truncated"),
    ],
)
def test_malformed_blobs(blob: bytes, message: str) -> None:
    with pytest.raises(SealedKeyError, match=message):
        open_secret_key(blob, PASSPHRASE)


def test_duplicate_slots_are_refused(alice: Identity) -> None:
    blob = _seal(alice)
    slot = blob[6 : 6 + 1 + 9 + 16 + 12 + 48]
    doubled = blob[:5] + b"\x02" + slot + blob[6:]
    with pytest.raises(SealedKeyError, match="duplicate"):
        open_secret_key(doubled, PASSPHRASE)


@pytest.mark.parametrize(
    "params", [(4 * 1024 * 1024, 1, 1), (64, 1000, 1), (64, 1, 0), (4, 1, 1), (1024, 1, 40)]
)
def test_hostile_kdf_cost_is_refused_before_running(
    alice: Identity, params: tuple[int, ...]
) -> None:
    blob = _seal(alice)
    hostile = blob[:7] + struct.pack(">IIB", *params) + blob[16:]
    started = time.monotonic()
    with pytest.raises(SealedKeyError, match="unreasonable KDF cost"):
        open_secret_key(hostile, PASSPHRASE)
    assert time.monotonic() - started < 0.5


def test_lowered_kdf_cost_does_not_unlock(alice: Identity) -> None:
    # A server that rewrites the parameters only changes the derived key: wrong passphrase.
    blob = _seal(alice)
    lowered = blob[:7] + struct.pack(">IIB", 32, 1, 1) + blob[16:]
    with pytest.raises(WrongPassphrase):
        open_secret_key(lowered, PASSPHRASE)


def test_unicode_passphrase_is_normalized(alice: Identity) -> None:
    composed = "Café Gödel Straße Kiefer 17"  # NFC
    decomposed = "Cafe\u0301 Go\u0308del Straße Kiefer 17"  # NFD, as macOS may type it
    blob = _seal(alice, passphrase=composed)
    assert open_secret_key(blob, decomposed).fingerprint == alice.fingerprint


async def test_async_variants_work(alice: Identity) -> None:
    blob = await seal_secret_key_async(alice, PASSPHRASE, **FAST)
    changed = await change_passphrase_async(blob, PASSPHRASE, OTHER_PASSPHRASE, **FAST)
    assert (await open_secret_key_async(changed, OTHER_PASSPHRASE)).fingerprint == alice.fingerprint


async def test_default_cost_is_memory_hard_slow_and_does_not_block_the_loop(
    alice: Identity,
) -> None:
    """The one test at the real cost: parameters in the blob, time, and a live event loop."""
    assert ARGON2_DEFAULT.memory_kib >= 64 * 1024
    blob = seal_secret_key(alice, PASSPHRASE)
    assert struct.unpack(">IIB", blob[7:16]) == (
        ARGON2_DEFAULT.memory_kib,
        ARGON2_DEFAULT.iterations,
        ARGON2_DEFAULT.lanes,
    )
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    try:
        identity = await open_secret_key_async(blob, PASSPHRASE)
    finally:
        task.cancel()
    elapsed = time.perf_counter() - started
    assert identity.fingerprint == alice.fingerprint
    # About 0.5 s on the reference machine (bench/crypto.py); a loose floor here.
    assert elapsed > 0.1
    assert ticks >= 10  # the loop kept running while Argon2id worked in a thread

"""The sealed secret key: an identity locked under a passphrase and/or a recovery code.

The blob (format in spec/e2e.md §5) holds the OpenPGP secret key encrypted with AES-256-GCM
under a random data key, and one or two key slots that each wrap that data key: one under
Argon2id(passphrase), one under HKDF(recovery code). Either unlocks the key, and changing
the passphrase re-wraps only its slot. KDF parameters and salts live in the blob, so the
cost can be raised later without breaking old blobs.

Unlocking takes about half a second on purpose (the server holding the blob could guess
offline). Call the `*_async` variants from an event loop: they run in a worker thread, and
Argon2id releases the GIL, so the loop keeps running.
"""

from __future__ import annotations

import asyncio
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ironwall.e2e.errors import InvalidKey, SealedKeyError, WrongPassphrase
from ironwall.e2e.keys import Identity, identity_from_secret_bytes, identity_to_secret_bytes
from ironwall.e2e.passphrase import check_passphrase, normalize_passphrase, parse_recovery_code

__all__ = [
    "ARGON2_DEFAULT",
    "Argon2Params",
    "change_passphrase",
    "change_passphrase_async",
    "open_secret_key",
    "open_secret_key_async",
    "seal_secret_key",
    "seal_secret_key_async",
]

MAGIC = b"IWSK"
VERSION = 1
SLOT_PASSPHRASE = 1
SLOT_RECOVERY_CODE = 2
_SALT_BYTES = 16
_NONCE_BYTES = 12
_KEY_BYTES = 32
_WRAPPED_BYTES = _KEY_BYTES + 16
_ARGON2_FIELDS = struct.Struct(">IIB")
_RECOVERY_INFO = b"ironwall sealed-key v1 recovery-code"
_HEADER = MAGIC + bytes([VERSION])


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """Argon2id cost: memory in KiB, passes over it, and parallel lanes."""

    memory_kib: int
    iterations: int
    lanes: int

    def acceptable(self) -> bool:
        """Whether a blob may ask for this cost (bounds a hostile blob's memory and time)."""
        return (
            1 <= self.lanes <= 16
            and 8 * self.lanes <= self.memory_kib <= 2 * 1024 * 1024
            and 1 <= self.iterations <= 64
        )


ARGON2_DEFAULT = Argon2Params(memory_kib=256 * 1024, iterations=4, lanes=4)
"""256 MiB, 4 passes: about 0.5 s on the reference machine (bench/crypto.py measures it)."""
_ARGON2_INSECURE_FOR_TESTS = Argon2Params(memory_kib=64, iterations=1, lanes=1)


@dataclass(frozen=True, slots=True)
class _Slot:
    kind: int
    params: bytes  # the slot header after the kind octet: KDF fields and salt
    nonce: bytes
    wrapped: bytes

    @property
    def header(self) -> bytes:
        return bytes([self.kind]) + self.params

    def to_bytes(self) -> bytes:
        return self.header + self.nonce + self.wrapped


def seal_secret_key(
    identity: Identity,
    passphrase: str | None,
    *,
    recovery_code: str | None = None,
    insecure_fast_kdf_for_tests: bool = False,
) -> bytes:
    """Seal `identity` under `passphrase`, `recovery_code` (`new_recovery_code()`), or both.

    Raises `WeakPassphrase` if the passphrase is too easy to guess and ValueError if neither
    secret is given or the recovery code is malformed. `insecure_fast_kdf_for_tests` makes
    Argon2id nearly free: for test suites only, never for a real key.
    """
    if passphrase is None and recovery_code is None:
        raise ValueError("seal with a passphrase, a recovery code, or both")
    argon2 = _ARGON2_INSECURE_FOR_TESTS if insecure_fast_kdf_for_tests else ARGON2_DEFAULT
    data_key = AESGCM.generate_key(bit_length=_KEY_BYTES * 8)
    slots = []
    if passphrase is not None:
        check_passphrase(passphrase, user_inputs=_user_inputs(identity))
        slots.append(_passphrase_slot(data_key, passphrase, argon2))
    if recovery_code is not None:
        code = parse_recovery_code(recovery_code)
        if code is None:
            raise ValueError("not a recovery code")
        slots.append(_recovery_slot(data_key, code))
    nonce = os.urandom(_NONCE_BYTES)
    payload = nonce + AESGCM(data_key).encrypt(nonce, identity_to_secret_bytes(identity), _HEADER)
    return _assemble(slots, payload)


def open_secret_key(blob: bytes, secret: str) -> Identity:
    """Unlock a sealed key with its passphrase or its recovery code.

    Raises `WrongPassphrase` if `secret` opens no slot, `SealedKeyError` if the blob is
    damaged or of an unknown version. Slow on purpose (see the module docstring).
    """
    slots, payload = _parse(blob)
    return _decrypt_payload(_unwrap(slots, secret), payload)


def change_passphrase(
    blob: bytes,
    secret: str,
    new_passphrase: str,
    *,
    new_recovery_code: str | None = None,
    insecure_fast_kdf_for_tests: bool = False,
) -> bytes:
    """A copy of `blob` whose passphrase slot opens with `new_passphrase` instead.

    `secret` is the current passphrase or the recovery code. With `new_recovery_code`
    (`new_recovery_code()`) the recovery code slot is replaced too, so the old code stops
    working (after a recovery, the used code should); otherwise it is kept as it is, like
    the sealed key. Raises `WrongPassphrase`, `WeakPassphrase`, `SealedKeyError`, and
    ValueError for a malformed new recovery code.
    """
    slots, payload = _parse(blob)
    data_key = _unwrap(slots, secret)
    identity = _decrypt_payload(data_key, payload)
    check_passphrase(new_passphrase, user_inputs=_user_inputs(identity))
    argon2 = _ARGON2_INSECURE_FOR_TESTS if insecure_fast_kdf_for_tests else ARGON2_DEFAULT
    replaced = {SLOT_PASSPHRASE}
    new_slots = [_passphrase_slot(data_key, new_passphrase, argon2)]
    if new_recovery_code is not None:
        code = parse_recovery_code(new_recovery_code)
        if code is None:
            raise ValueError("not a recovery code")
        replaced.add(SLOT_RECOVERY_CODE)
        new_slots.append(_recovery_slot(data_key, code))
    kept = [slot for slot in slots if slot.kind not in replaced]
    return _assemble([*new_slots, *kept], payload)


async def seal_secret_key_async(
    identity: Identity,
    passphrase: str | None,
    *,
    recovery_code: str | None = None,
    insecure_fast_kdf_for_tests: bool = False,
) -> bytes:
    """`seal_secret_key` in a worker thread, so an event loop is not blocked."""
    return await asyncio.to_thread(
        seal_secret_key,
        identity,
        passphrase,
        recovery_code=recovery_code,
        insecure_fast_kdf_for_tests=insecure_fast_kdf_for_tests,
    )


async def open_secret_key_async(blob: bytes, secret: str) -> Identity:
    """`open_secret_key` in a worker thread, so an event loop is not blocked."""
    return await asyncio.to_thread(open_secret_key, blob, secret)


async def change_passphrase_async(
    blob: bytes,
    secret: str,
    new_passphrase: str,
    *,
    new_recovery_code: str | None = None,
    insecure_fast_kdf_for_tests: bool = False,
) -> bytes:
    """`change_passphrase` in a worker thread, so an event loop is not blocked."""
    return await asyncio.to_thread(
        change_passphrase,
        blob,
        secret,
        new_passphrase,
        new_recovery_code=new_recovery_code,
        insecure_fast_kdf_for_tests=insecure_fast_kdf_for_tests,
    )


def _user_inputs(identity: Identity) -> list[str]:
    local, _, domain = identity.jid.rpartition("@")
    return [part for part in (identity.jid, local, domain) if part]


def _passphrase_slot(data_key: bytes, passphrase: str, argon2: Argon2Params) -> _Slot:
    salt = os.urandom(_SALT_BYTES)
    params = _ARGON2_FIELDS.pack(argon2.memory_kib, argon2.iterations, argon2.lanes) + salt
    return _wrap(SLOT_PASSPHRASE, params, _argon2_key(passphrase, argon2, salt), data_key)


def _recovery_slot(data_key: bytes, code: str) -> _Slot:
    salt = os.urandom(_SALT_BYTES)
    return _wrap(SLOT_RECOVERY_CODE, salt, _recovery_key(code, salt), data_key)


def _wrap(kind: int, params: bytes, slot_key: bytes, data_key: bytes) -> _Slot:
    nonce = os.urandom(_NONCE_BYTES)
    wrapped = AESGCM(slot_key).encrypt(nonce, data_key, _HEADER + bytes([kind]) + params)
    return _Slot(kind, params, nonce, wrapped)


def _argon2_key(passphrase: str, argon2: Argon2Params, salt: bytes) -> bytes:
    kdf = Argon2id(
        salt=salt,
        length=_KEY_BYTES,
        iterations=argon2.iterations,
        lanes=argon2.lanes,
        memory_cost=argon2.memory_kib,
    )
    return kdf.derive(normalize_passphrase(passphrase))


def _recovery_key(code: str, salt: bytes) -> bytes:
    # ~123 bits of entropy: a fast KDF suffices, guessing is hopeless at any speed.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=salt, info=_RECOVERY_INFO)
    return hkdf.derive(code.encode("ascii"))


def _slot_key(slot: _Slot, secret: str) -> bytes | None:
    """The key `secret` derives for `slot`, or None if it cannot be this slot's secret."""
    if slot.kind == SLOT_RECOVERY_CODE:
        code = parse_recovery_code(secret)
        return None if code is None else _recovery_key(code, slot.params)
    return _argon2_key(secret, _slot_argon2(slot), slot.params[_ARGON2_FIELDS.size :])


def _unwrap(slots: list[_Slot], secret: str) -> bytes:
    # The recovery code slot first: it is fast, and a passphrase rarely looks like a code.
    for slot in sorted(slots, key=lambda s: s.kind != SLOT_RECOVERY_CODE):
        slot_key = _slot_key(slot, secret)
        if slot_key is None:
            continue
        try:
            return AESGCM(slot_key).decrypt(slot.nonce, slot.wrapped, _HEADER + slot.header)
        except InvalidTag:
            continue
    raise WrongPassphrase()


def _decrypt_payload(data_key: bytes, payload: bytes) -> Identity:
    try:
        secret_key = AESGCM(data_key).decrypt(
            payload[:_NONCE_BYTES], payload[_NONCE_BYTES:], _HEADER
        )
        return identity_from_secret_bytes(secret_key)
    except (InvalidTag, InvalidKey, RuntimeError):
        raise SealedKeyError("the sealed secret key is damaged") from None


def _assemble(slots: list[_Slot], payload: bytes) -> bytes:
    return _HEADER + bytes([len(slots)]) + b"".join(slot.to_bytes() for slot in slots) + payload


def _parse(blob: bytes) -> tuple[list[_Slot], bytes]:
    if blob[:4] != MAGIC:
        raise SealedKeyError("not a sealed Ironwall secret key")
    if blob[4:5] != bytes([VERSION]):
        raise SealedKeyError("unsupported sealed key version")
    if len(blob) < 6:
        raise SealedKeyError("the sealed secret key is truncated")
    pos = 6
    slots: list[_Slot] = []
    for _ in range(blob[5]):
        kind = blob[pos] if pos < len(blob) else None
        if kind == SLOT_PASSPHRASE:
            params_size = _ARGON2_FIELDS.size + _SALT_BYTES
        elif kind == SLOT_RECOVERY_CODE:
            params_size = _SALT_BYTES
        else:
            raise SealedKeyError("unknown key slot in the sealed secret key")
        end = pos + 1 + params_size + _NONCE_BYTES + _WRAPPED_BYTES
        if end > len(blob):
            raise SealedKeyError("the sealed secret key is truncated")
        params = blob[pos + 1 : pos + 1 + params_size]
        nonce = blob[pos + 1 + params_size : end - _WRAPPED_BYTES]
        slots.append(_Slot(kind, params, nonce, blob[end - _WRAPPED_BYTES : end]))
        pos = end
    kinds = [slot.kind for slot in slots]
    if not slots or len(set(kinds)) != len(kinds):
        raise SealedKeyError("the sealed secret key has no or duplicate key slots")
    for slot in slots:
        if slot.kind == SLOT_PASSPHRASE and not _slot_argon2(slot).acceptable():
            raise SealedKeyError("the sealed secret key asks for an unreasonable KDF cost")
    if len(blob) - pos <= _NONCE_BYTES + 16:
        raise SealedKeyError("the sealed secret key is truncated")
    return slots, blob[pos:]


def _slot_argon2(slot: _Slot) -> Argon2Params:
    return Argon2Params(*_ARGON2_FIELDS.unpack(slot.params[: _ARGON2_FIELDS.size]))

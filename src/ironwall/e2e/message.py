"""Sealing and opening chat messages: XEP-0373/0374 `<signcrypt>` in OpenPGP.

`seal_message` signs a `<signcrypt>` with the sender's key and encrypts it to every key of
every recipient and to the sender's own key (other devices, history). `open_message`
accepts a message only if all five receiver checks of spec/e2e.md hold, and otherwise
raises `UntrustedMessage` with the first failed check as its reason:

1. it is encrypted to me, decrypts intact, and carries a valid signature;
2. the signature is by a key pinned for the outer sender, naming that sender's JID;
3. a `<to>` inside names the outer recipient (defeats surreptitious forwarding);
4. the (sender, message id) pair is new and the time is not in the future;
5. the signing key is neither revoked nor expired.

Both are fast (well under a millisecond for a chat message) and may run on the event loop.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pysequoia

from ironwall.e2e import _packets
from ironwall.e2e._jid import bare_jid, check_bare_jid
from ironwall.e2e.errors import KeyProblem, KeyUnusable, Reason, UntrustedMessage
from ironwall.e2e.keys import Identity, PublicKey, resolve_now
from ironwall.e2e.replay import REPLAY_WINDOW, ReplayCache
from ironwall.e2e.signcrypt import (
    MAX_ORIGIN_ID_CHARS,
    MalformedSigncrypt,
    Signcrypt,
    build_signcrypt,
    parse_signcrypt,
)

__all__ = [
    "FUTURE_TOLERANCE",
    "MAX_BODY_BYTES",
    "OpenedMessage",
    "SealedMessage",
    "open_message",
    "seal_message",
]

MAX_BODY_BYTES = 128 * 1024
"""Largest body (UTF-8) that can be sealed."""
MAX_MESSAGE_BYTES = 256 * 1024
"""Largest OpenPGP message opened: a sealed maximal body with room for many recipients.

It also bounds what a compressed packet inside can inflate to (deflate tops out near 1:1000).
"""
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
"""How far a message's `<time>` may lie ahead of the receiver's clock (clock skew)."""
RPAD_MAX_CHARS = 200
"""The `<rpad>` is 0..RPAD_MAX_CHARS random characters, so length says less about the text."""

_PROBLEM_REASONS = {KeyProblem.REVOKED: Reason.REVOKED_KEY, KeyProblem.EXPIRED: Reason.EXPIRED_KEY}


@dataclass(frozen=True, slots=True)
class SealedMessage:
    """A sealed message: `text` goes inside `<openpgp xmlns='urn:xmpp:openpgp:0'>`."""

    text: str
    origin_id: str


@dataclass(frozen=True, slots=True)
class OpenedMessage:
    """A message that passed every receiver check.

    `origin_id` is None when the sender put none in (go-sendxmpp does not); replay detection
    then uses a digest of the signed content instead.
    """

    body: str
    origin_id: str | None
    sent_at: dt.datetime
    signer_fingerprint: str


def seal_message(
    sender: Identity,
    recipients: Mapping[str, Sequence[PublicKey]],
    body: str,
    *,
    origin_id: str | None = None,
    now: dt.datetime | None = None,
) -> SealedMessage:
    """Sign and encrypt `body` from `sender` to `recipients` (bare JID -> that JID's keys).

    Every key given is encrypted to, plus the sender's own. Raises `KeyUnusable` for a key
    that is revoked, expired, not bound to its JID or unable to encrypt (the sender's own
    included), and ValueError for an empty recipient map, a JID without keys, a body over
    `MAX_BODY_BYTES` or text XML cannot carry. `origin_id` defaults to a random UUID.
    """
    now = resolve_now(now)
    _require_usable(sender.jid, sender.public_key, now)
    if not recipients:
        raise ValueError("a message needs at least one recipient")
    owners = {sender.fingerprint: sender.jid}
    keys = {sender.fingerprint: sender.public_key}
    for jid, jid_keys in recipients.items():
        check_bare_jid(jid)
        if not jid_keys:
            raise ValueError(f"no key given for {jid}")
        for key in jid_keys:
            if not key.names(jid):
                raise KeyUnusable(jid, key.fingerprint, KeyProblem.WRONG_JID)
            _require_usable(jid, key, now)
            owners.setdefault(key.fingerprint, jid)
            keys[key.fingerprint] = key
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise ValueError(f"the body is longer than {MAX_BODY_BYTES} bytes")
    origin_id = str(uuid.uuid4()) if origin_id is None else origin_id
    if not 0 < len(origin_id) <= MAX_ORIGIN_ID_CHARS:
        raise ValueError(f"an origin-id has 1 to {MAX_ORIGIN_ID_CHARS} characters")
    rpad_chars = secrets.randbelow(RPAD_MAX_CHARS + 1)
    rpad = secrets.token_urlsafe(rpad_chars)[:rpad_chars]
    plaintext = build_signcrypt(Signcrypt(tuple(recipients), now, body, origin_id), rpad)
    certs = [key._cert for key in keys.values()]
    try:
        data = pysequoia.encrypt(plaintext, recipients=certs, signer=sender._signer, armor=False)
    except RuntimeError:
        raise _unencryptable(keys, owners) from None
    return SealedMessage(base64.b64encode(data).decode("ascii"), origin_id)


def open_message(
    me: Identity,
    text: str,
    *,
    outer_from: str,
    outer_to: str,
    sender_keys: Sequence[PublicKey],
    replay_cache: ReplayCache,
    max_age: dt.timedelta | None = REPLAY_WINDOW,
    now: dt.datetime | None = None,
) -> OpenedMessage:
    """Decrypt and check the base64 `text` of an `<openpgp>` element received by `me`.

    `outer_from` and `outer_to` are the stanza's `from` and `to` (resources are ignored);
    `sender_keys` are the keys pinned for `outer_from` (include revoked ones, so that their
    messages are reported as revoked rather than unknown). The message id is recorded in
    `replay_cache` only if every check passes. A message signed more than `max_age` ago is
    `stale`: live messages keep the default (`REPLAY_WINDOW`, what the cache remembers);
    pass None only for history a client fetches on purpose (an archive query), which it
    deduplicates by its own records. Raises `UntrustedMessage`.
    """
    now = resolve_now(now)
    data = _decode(text)
    _check_envelope(me, data)
    plaintext, signer = _decrypt_verified(me, data, sender_keys, now)
    problem = signer.problem(now)
    if problem is not None:
        raise UntrustedMessage(_PROBLEM_REASONS[problem])
    if not signer.names(outer_from):
        raise UntrustedMessage(Reason.SENDER_MISMATCH)
    try:
        content = parse_signcrypt(plaintext)
    except MalformedSigncrypt:
        raise UntrustedMessage(Reason.MALFORMED) from None
    if bare_jid(outer_to) not in {bare_jid(jid) for jid in content.recipients}:
        raise UntrustedMessage(Reason.WRONG_RECIPIENT)
    if content.timestamp > now + FUTURE_TOLERANCE:
        raise UntrustedMessage(Reason.BAD_TIMESTAMP)
    if max_age is not None and content.timestamp < now - max_age:
        raise UntrustedMessage(Reason.STALE)
    if content.origin_id is None:
        message_id = "sha256:" + hashlib.sha256(plaintext).hexdigest()
    else:
        message_id = "origin-id:" + content.origin_id
    if not replay_cache.add(bare_jid(outer_from), message_id, content.timestamp):
        raise UntrustedMessage(Reason.REPLAY)
    return OpenedMessage(content.body, content.origin_id, content.timestamp, signer.fingerprint)


def _require_usable(jid: str, key: PublicKey, now: dt.datetime) -> None:
    problem = key.problem(now)
    if problem is not None:
        raise KeyUnusable(jid, key.fingerprint, problem)


def _unencryptable(keys: Mapping[str, PublicKey], owners: Mapping[str, str]) -> KeyUnusable:
    """Find the key pysequoia could not encrypt to (only on this rare path, one by one)."""
    for fingerprint, key in keys.items():
        try:
            pysequoia.encrypt(b"", recipients=[key._cert], armor=False)
        except RuntimeError:
            return KeyUnusable(owners[fingerprint], fingerprint, KeyProblem.CANNOT_ENCRYPT)
    # Every key encrypts alone, so it is the sender's key that could not sign.
    sender = next(iter(keys))
    return KeyUnusable(owners[sender], sender, KeyProblem.CANNOT_SIGN)


def _decode(text: str) -> bytes:
    compact = "".join(text.split())
    if not compact or len(compact) > (MAX_MESSAGE_BYTES + 2) // 3 * 4:
        raise UntrustedMessage(Reason.MALFORMED)
    if not compact.isascii():
        # b64decode refuses non-ASCII text with a plain ValueError, not binascii.Error.
        raise UntrustedMessage(Reason.MALFORMED)
    try:
        return base64.b64decode(compact, validate=True)
    except binascii.Error:
        raise UntrustedMessage(Reason.MALFORMED) from None


def _check_envelope(me: Identity, data: bytes) -> None:
    """Only PKESKs then one SEIP may be at the top level, and a PKESK must be for me."""
    try:
        packets = _packets.read_packets(data)
    except _packets.FramingError:
        raise UntrustedMessage(Reason.MALFORMED) from None
    tags = [packet.tag for packet in packets]
    if _packets.SIGNED_OR_PLAIN_TAGS.intersection(tags):
        raise UntrustedMessage(Reason.NOT_ENCRYPTED)
    if len(tags) < 2 or tags[-1] != _packets.TAG_SEIP or set(tags[:-1]) != {_packets.TAG_PKESK}:
        raise UntrustedMessage(Reason.MALFORMED)
    my_ids = me.public_key._ids
    if not any(p.wildcard or p.recipient in my_ids for p in packets[:-1]):
        raise UntrustedMessage(Reason.NOT_FOR_ME)


def _decrypt_verified(
    me: Identity, data: bytes, sender_keys: Sequence[PublicKey], now: dt.datetime
) -> tuple[bytes, PublicKey]:
    """Decrypt with signature checks against `sender_keys` only; classify any failure."""
    requested: set[str] = set()
    certs = [key._cert for key in sender_keys]

    def store(ids: list[str]) -> list[pysequoia.Cert]:
        requested.update(key_id.lower() for key_id in ids)
        return certs

    try:
        result = pysequoia.decrypt(data, decryptor=me._decryptor, store=store)
    except RuntimeError:
        raise UntrustedMessage(_failure_reason(me, data, requested, sender_keys, now)) from None
    by_fingerprint = {key.fingerprint: key for key in sender_keys}
    signers = [by_fingerprint.get(sig.certificate.upper()) for sig in result.valid_sigs]
    signer = next((key for key in signers if key is not None), None)
    if result.bytes is None or signer is None:
        raise UntrustedMessage(Reason.NOT_SIGNED)
    return result.bytes, signer


def _failure_reason(
    me: Identity,
    data: bytes,
    requested: set[str],
    sender_keys: Sequence[PublicKey],
    now: dt.datetime,
) -> Reason:
    """Tell a damaged message from a signature problem by decrypting once more, unverified.

    pysequoia reports every failure as the same RuntimeError; asking it again without a
    key store separates "does not decrypt" from "decrypts, but no signature verifies"
    without depending on its error wording.
    """
    try:
        unverified = pysequoia.decrypt(data, decryptor=me._decryptor).bytes or b""
    except RuntimeError:
        return Reason.CORRUPTED
    if not requested:
        return Reason.NOT_SIGNED
    named = [key for key in sender_keys if key._ids & requested]
    if not named:
        return Reason.UNKNOWN_SENDER_KEY
    problems = {key.problem(now) or key.problem() for key in named}
    for problem in (KeyProblem.REVOKED, KeyProblem.EXPIRED):
        if problem in problems:
            return _PROBLEM_REASONS[problem]
    # pysequoia refuses signatures made over 30 minutes ahead of its clock. The unverified
    # time only chooses between two rejections: a sender's clock far ahead is then shown
    # as such rather than as a forgery.
    try:
        if parse_signcrypt(unverified).timestamp > now + FUTURE_TOLERANCE:
            return Reason.BAD_TIMESTAMP
    except MalformedSigncrypt:
        pass
    return Reason.BAD_SIGNATURE

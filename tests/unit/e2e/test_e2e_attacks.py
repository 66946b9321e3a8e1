"""Acceptance 2: one test per attack, each rejected with its reason (spec/e2e.md §4)."""

from __future__ import annotations

import datetime as dt
import time

import pysequoia
import pytest
from e2e_forge import NS_OX, b64, encrypt, sign_only, signcrypt, unb64

from ironwall.e2e import (
    FUTURE_TOLERANCE,
    REPLAY_WINDOW,
    Identity,
    KeyProblem,
    KeyUnusable,
    MemoryReplayCache,
    PublicKey,
    Reason,
    UntrustedMessage,
    open_message,
    seal_message,
)
from ironwall.e2e._packets import TAG_SEIP, read_packets

SECOND = dt.timedelta(seconds=1)


def _open_as_bob(
    bob: Identity,
    text: str,
    *,
    sender: Identity | None = None,
    outer_from: str = "alice@example.org",
    sender_keys: list[PublicKey] | None = None,
    cache: MemoryReplayCache | None = None,
    now: dt.datetime | None = None,
) -> str:
    keys = sender_keys if sender_keys is not None else [sender.public_key] if sender else []
    return open_message(
        bob,
        text,
        outer_from=outer_from,
        outer_to="bob@example.org",
        sender_keys=keys,
        replay_cache=cache if cache is not None else MemoryReplayCache(),
        now=now,
    ).body


def _reason(call: object) -> Reason:
    assert callable(call)
    with pytest.raises(UntrustedMessage) as caught:
        call()
    return caught.value.reason


def test_reason_is_a_sentence_for_the_user(alice: Identity, bob: Identity, carol: Identity) -> None:
    sealed = seal_message(alice, {carol.jid: [carol.public_key]}, "for carol")
    with pytest.raises(UntrustedMessage) as caught:
        _open_as_bob(bob, sealed.text, sender=alice)
    assert caught.value.reason is Reason.NOT_FOR_ME
    assert str(caught.value) == "The message was not encrypted to your key."
    assert "for carol" not in repr(caught.value)


# -- 1. a flipped bit anywhere ---------------------------------------------------------


def test_flipped_bit_anywhere_is_rejected_or_changes_nothing(
    alice: Identity, bob: Identity
) -> None:
    """Every single-bit flip of the binary message, all of them.

    Two kinds of bits carry nothing Bob reads, so flipping them cannot be noticed and
    changes nothing: the PKESK addressed to another key (here the sender's own copy, which
    only that key can check), and the top bit of the X25519 ephemeral key in Bob's PKESK,
    which X25519 ignores (RFC 7748 §5). A flip there must leave the opened message exactly
    as sent; every other flip must be rejected.
    """
    sealed = seal_message(alice, {bob.jid: [bob.public_key]}, "attack at dawn", origin_id="f")
    data = unb64(sealed.text)
    inert_bits = _inert_bits(data, bob)
    rejected: dict[Reason, int] = {}
    for bit in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        try:
            body = _open_as_bob(bob, b64(bytes(flipped)), sender=alice)
        except UntrustedMessage as exc:
            rejected[exc.reason] = rejected.get(exc.reason, 0) + 1
            continue
        assert bit in inert_bits, f"bit {bit} flipped and accepted"
        assert body == "attack at dawn"
    # A flipped tag can turn the encrypted packet into a signature packet: NOT_ENCRYPTED.
    expected = {Reason.MALFORMED, Reason.NOT_FOR_ME, Reason.CORRUPTED, Reason.NOT_ENCRYPTED}
    assert set(rejected) <= expected, rejected
    assert rejected[Reason.CORRUPTED] > 2000  # among them every bit of the encrypted data


def _inert_bits(data: bytes, me: Identity) -> set[int]:
    """Bit positions that no receiver can check (see the test above)."""
    inert: set[int] = set()
    pos = 0
    for packet in read_packets(data):
        if packet.tag == TAG_SEIP:
            break
        assert data[pos] == 0xC1  # new-format PKESK
        assert data[pos + 1] < 192  # one-octet length
        end = pos + 2 + data[pos + 1]
        if packet.recipient not in me.public_key._ids:
            inert.update(range(pos * 8, end * 8))
        else:
            # v6 PKESK: version, size, key version, 20-octet fingerprint, algorithm, then
            # the ephemeral key MPI (2-octet bit count, 0x40, 32 octets).
            assert data[pos + 2 : pos + 4] == bytes([6, 21])
            last_key_octet = pos + 2 + 24 + 2 + 33 - 1
            inert.add(last_key_octet * 8 + 7)
        pos = end
    return inert


def test_truncated_message_is_rejected(alice: Identity, bob: Identity) -> None:
    data = unb64(seal_message(alice, {bob.jid: [bob.public_key]}, "hello").text)
    for cut in (1, 10, len(data) // 2, len(data) - 1):
        assert _reason(lambda c=cut: _open_as_bob(bob, b64(data[:c]), sender=alice)) in {
            Reason.MALFORMED,
            Reason.CORRUPTED,
        }
    assert _reason(lambda: _open_as_bob(bob, b64(data[:-1]), sender=alice)) is Reason.MALFORMED


def test_appended_bytes_are_rejected(alice: Identity, bob: Identity) -> None:
    data = unb64(seal_message(alice, {bob.jid: [bob.public_key]}, "hello").text)
    assert _reason(lambda: _open_as_bob(bob, b64(data + b"\x00"), sender=alice)) is Reason.MALFORMED


@pytest.mark.parametrize("text", ["", "   ", "not base64!", "QUJD", "A" * 400_000])
def test_garbage_text_is_malformed(bob: Identity, alice: Identity, text: str) -> None:
    assert _reason(lambda: _open_as_bob(bob, text, sender=alice)) is Reason.MALFORMED


# -- 2. not encrypted to me -------------------------------------------------------------


def test_message_not_encrypted_to_me(alice: Identity, bob: Identity, carol: Identity) -> None:
    sealed = seal_message(alice, {carol.jid: [carol.public_key]}, "for carol only")
    assert _reason(lambda: _open_as_bob(bob, sealed.text, sender=alice)) is Reason.NOT_FOR_ME


# -- 3. signed by a key other than the sender's pinned key ------------------------------


def test_signed_by_another_key_than_the_pinned_one(
    alice: Identity, bob: Identity, mallory: Identity
) -> None:
    forged = encrypt(signcrypt(bob.jid), [bob.public_key], signer=mallory)
    reason = _reason(lambda: _open_as_bob(bob, forged, sender=alice))
    assert reason is Reason.UNKNOWN_SENDER_KEY


def test_impostor_key_with_the_senders_user_id(alice: Identity, bob: Identity) -> None:
    # The server substitutes its own key for "alice"; Bob pinned Alice's real one.
    impostor = Identity.generate(alice.jid)
    forged = encrypt(signcrypt(bob.jid), [bob.public_key], signer=impostor)
    assert _reason(lambda: _open_as_bob(bob, forged, sender=alice)) is Reason.UNKNOWN_SENDER_KEY


def test_no_pinned_key_at_all(alice: Identity, bob: Identity) -> None:
    sealed = seal_message(alice, {bob.jid: [bob.public_key]}, "hi")
    assert _reason(lambda: _open_as_bob(bob, sealed.text, sender_keys=[])) is (
        Reason.UNKNOWN_SENDER_KEY
    )


def test_key_pinned_for_sender_does_not_name_the_sender(
    alice: Identity, bob: Identity, mallory: Identity
) -> None:
    # Mallory's own valid key, but the stanza claims to come from Alice (and the client
    # wrongly pinned Mallory's key for her): the key's user ID does not match.
    forged = encrypt(signcrypt(bob.jid), [bob.public_key], signer=mallory)
    reason = _reason(lambda: _open_as_bob(bob, forged, sender_keys=[mallory.public_key]))
    assert reason is Reason.SENDER_MISMATCH


# -- 4. surreptitious forwarding --------------------------------------------------------


def test_surreptitious_forwarding_is_rejected(
    alice: Identity, bob: Identity, carol: Identity
) -> None:
    """Bob re-encrypts Alice's signed message to him for Carol (Davis 2001).

    The forged message carries Alice's genuine signature over the very `<signcrypt>` she
    sent Bob. Bob gets those signed bytes by decrypting; building them here with Alice's
    signer yields the same signed content without writing a packet-level re-encryptor.
    """
    original = signcrypt(bob.jid, body="I love you", origin_id="love-1")
    sent = encrypt(original, [bob.public_key, alice.public_key], signer=alice)
    assert _open_as_bob(bob, sent, sender=alice) == "I love you"

    forwarded = encrypt(original, [carol.public_key], signer=alice)
    reason = _reason(
        lambda: open_message(
            carol,
            forwarded,
            outer_from=alice.jid,
            outer_to=carol.jid,
            sender_keys=[alice.public_key],
            replay_cache=MemoryReplayCache(),
        )
    )
    assert reason is Reason.WRONG_RECIPIENT


# -- 5. replay --------------------------------------------------------------------------


def test_replayed_message_is_rejected(alice: Identity, bob: Identity) -> None:
    cache = MemoryReplayCache()
    sealed = seal_message(alice, {bob.jid: [bob.public_key]}, "pay 10 EUR")
    assert _open_as_bob(bob, sealed.text, sender=alice, cache=cache) == "pay 10 EUR"
    assert _reason(lambda: _open_as_bob(bob, sealed.text, sender=alice, cache=cache)) is (
        Reason.REPLAY
    )


def test_reused_origin_id_in_a_new_message_is_a_replay(alice: Identity, bob: Identity) -> None:
    cache = MemoryReplayCache()
    first = seal_message(alice, {bob.jid: [bob.public_key]}, "one", origin_id="same")
    second = seal_message(alice, {bob.jid: [bob.public_key]}, "two", origin_id="same")
    _open_as_bob(bob, first.text, sender=alice, cache=cache)
    assert _reason(lambda: _open_as_bob(bob, second.text, sender=alice, cache=cache)) is (
        Reason.REPLAY
    )


def test_same_origin_id_from_two_senders_is_no_replay(
    alice: Identity, bob: Identity, carol: Identity
) -> None:
    cache = MemoryReplayCache()
    from_alice = seal_message(alice, {bob.jid: [bob.public_key]}, "a", origin_id="1")
    from_carol = seal_message(carol, {bob.jid: [bob.public_key]}, "c", origin_id="1")
    assert _open_as_bob(bob, from_alice.text, sender=alice, cache=cache) == "a"
    assert (
        _open_as_bob(bob, from_carol.text, sender=carol, outer_from=carol.jid, cache=cache) == "c"
    )


def test_replay_without_origin_id_is_caught_by_content(alice: Identity, bob: Identity) -> None:
    # go-sendxmpp sends no origin-id: the digest of the signed content stands in for it.
    cache = MemoryReplayCache()
    message = encrypt(signcrypt(bob.jid, origin_id=None), [bob.public_key], signer=alice)
    assert _open_as_bob(bob, message, sender=alice, cache=cache) == "hello"
    assert _reason(lambda: _open_as_bob(bob, message, sender=alice, cache=cache)) is Reason.REPLAY
    assert len(cache) == 1


def test_rejected_message_is_not_recorded(alice: Identity, bob: Identity) -> None:
    cache = MemoryReplayCache()
    sealed = seal_message(alice, {bob.jid: [bob.public_key]}, "hi")
    _reason(lambda: _open_as_bob(bob, sealed.text, sender_keys=[], cache=cache))
    assert len(cache) == 0
    assert _open_as_bob(bob, sealed.text, sender=alice, cache=cache) == "hi"


def test_time_in_the_future_is_rejected(alice: Identity, bob: Identity) -> None:
    now = dt.datetime.now(dt.UTC)
    ahead = seal_message(alice, {bob.jid: [bob.public_key]}, "hi", now=now + dt.timedelta(hours=1))
    assert _reason(lambda: _open_as_bob(bob, ahead.text, sender=alice, now=now)) is (
        Reason.BAD_TIMESTAMP
    )
    skewed = seal_message(alice, {bob.jid: [bob.public_key]}, "ok", now=now + FUTURE_TOLERANCE)
    assert _open_as_bob(bob, skewed.text, sender=alice, now=now) == "ok"


def test_late_message_within_the_replay_window_is_accepted(alice: Identity, bob: Identity) -> None:
    # Offline delivery can be days late.
    now = dt.datetime.now(dt.UTC)
    late = seal_message(alice, {bob.jid: [bob.public_key]}, "late", now=now - dt.timedelta(days=29))
    assert _open_as_bob(bob, late.text, sender=alice, now=now) == "late"


def test_message_older_than_the_replay_window_is_stale_live_but_readable_as_history(
    alice: Identity, bob: Identity
) -> None:
    # The replay cache forgets after REPLAY_WINDOW: an older message arriving as new could
    # be a replay it no longer remembers, so only a deliberate history read opens it.
    now = dt.datetime.now(dt.UTC)
    old = seal_message(alice, {bob.jid: [bob.public_key]}, "old", now=now - REPLAY_WINDOW - SECOND)
    assert _reason(lambda: _open_as_bob(bob, old.text, sender=alice, now=now)) is Reason.STALE
    history = open_message(
        bob,
        old.text,
        outer_from="alice@example.org",
        outer_to="bob@example.org",
        sender_keys=[alice.public_key],
        replay_cache=MemoryReplayCache(),
        max_age=None,
        now=now,
    )
    assert history.body == "old"


# -- 6. revoked and expired sender keys --------------------------------------------------


def test_revoked_sender_key_is_rejected() -> None:
    alice = Identity.generate("alice@example.org")
    bob = Identity.generate("bob@example.org")
    sealed = seal_message(alice, {bob.jid: [bob.public_key]}, "before revocation")
    revoked = alice.revoke().public_key
    # Any copy carrying the revocation shows it, however it arrived.
    for copy in (
        revoked,
        PublicKey.from_bytes(revoked.to_bytes()),
        alice.public_key.merge(revoked),
    ):
        assert _reason(lambda c=copy: _open_as_bob(bob, sealed.text, sender_keys=[c])) is (
            Reason.REVOKED_KEY
        )


def test_revoked_identity_cannot_seal() -> None:
    alice = Identity.generate("alice@example.org").revoke()
    bob = Identity.generate("bob@example.org")
    with pytest.raises(KeyUnusable) as caught:
        seal_message(alice, {bob.jid: [bob.public_key]}, "x")
    assert caught.value.problem is KeyProblem.REVOKED


def test_expired_sender_key_is_rejected(bob: Identity) -> None:
    alice = Identity.generate("alice@example.org", valid_for=dt.timedelta(days=1))
    sealed = seal_message(alice, {bob.jid: [bob.public_key]}, "hi")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    assert _reason(lambda: _open_as_bob(bob, sealed.text, sender=alice, now=later)) is (
        Reason.EXPIRED_KEY
    )
    # Renewed (the new copy arrives from PEP): accepted again.
    renewed = alice.renew(dt.timedelta(days=30)).public_key
    assert _open_as_bob(bob, sealed.text, sender_keys=[renewed], now=later) == "hi"


def test_key_expired_in_real_time_is_rejected(bob: Identity) -> None:
    # Signed after the key expired (a stolen, lapsed key): pysequoia itself refuses the
    # signature, and the reason must still say "expired", not "bad signature".
    alice = Identity.generate("alice@example.org")
    created = _creation_time(alice.public_key)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    alice = alice.renew(soon - created, now=created)
    time.sleep(max(0.0, (soon - dt.datetime.now(dt.UTC)).total_seconds()) + 0.2)
    forged = encrypt(signcrypt(bob.jid), [bob.public_key], signer=alice)
    assert _reason(lambda: _open_as_bob(bob, forged, sender=alice)) is Reason.EXPIRED_KEY


def _creation_time(key: PublicKey) -> dt.datetime:
    packets = pysequoia.packet.PacketPile.from_bytes(key.to_bytes())
    created = next(iter(packets)).key_created
    assert created is not None
    return created


# -- 7. unsigned and unencrypted payloads ------------------------------------------------


def test_encrypt_only_payload_is_rejected(alice: Identity, bob: Identity) -> None:
    crypt = (
        f"<crypt xmlns='{NS_OX}'><to jid='bob@example.org'/><time stamp='2025-01-01T00:00:00Z'/>"
        "<payload><body xmlns='jabber:client'>unsigned</body></payload></crypt>"
    ).encode()
    for plaintext in (crypt, signcrypt(bob.jid)):
        message = encrypt(plaintext, [bob.public_key])
        assert _reason(lambda m=message: _open_as_bob(bob, m, sender=alice)) is Reason.NOT_SIGNED


def test_sign_only_payload_is_rejected(alice: Identity, bob: Identity) -> None:
    sign = (
        f"<sign xmlns='{NS_OX}'><to jid='bob@example.org'/><time stamp='2025-01-01T00:00:00Z'/>"
        "<payload><body xmlns='jabber:client'>readable by all</body></payload></sign>"
    ).encode()
    for plaintext in (sign, signcrypt(bob.jid)):
        message = sign_only(plaintext, alice)
        assert _reason(lambda m=message: _open_as_bob(bob, m, sender=alice)) is (
            Reason.NOT_ENCRYPTED
        )


def test_signed_and_encrypted_element_other_than_signcrypt_is_malformed(
    alice: Identity, bob: Identity
) -> None:
    crypt = f"<crypt xmlns='{NS_OX}'><to jid='bob@example.org'/></crypt>".encode()
    message = encrypt(crypt, [bob.public_key], signer=alice)
    assert _reason(lambda: _open_as_bob(bob, message, sender=alice)) is Reason.MALFORMED


def test_signed_message_wrapped_as_literal_data_is_unsigned(alice: Identity, bob: Identity) -> None:
    # Sign first, then encrypt the signed bytes as opaque data: the signature is not seen.
    signed = unb64(sign_only(signcrypt(bob.jid), alice))
    message = encrypt(signed, [bob.public_key])
    assert _reason(lambda: _open_as_bob(bob, message, sender=alice)) is Reason.NOT_SIGNED


@pytest.mark.parametrize(
    "plaintext",
    [
        b"not xml",
        b"<signcrypt xmlns='urn:xmpp:openpgp:0'><payload/></signcrypt>",
        b"<!DOCTYPE x [<!ENTITY a 'b'>]><signcrypt xmlns='urn:xmpp:openpgp:0'/>",
    ],
)
def test_hostile_signcrypt_content_is_malformed(
    alice: Identity, bob: Identity, plaintext: bytes
) -> None:
    message = encrypt(plaintext, [bob.public_key], signer=alice)
    assert _reason(lambda: _open_as_bob(bob, message, sender=alice)) is Reason.MALFORMED

"""Identities and public keys: the OpenPGP shape, fingerprints, revocation, expiry."""

from __future__ import annotations

import datetime as dt

import pysequoia
import pytest
from pysequoia.packet import PacketPile, PublicKeyAlgorithm, Tag

from ironwall.e2e import (
    DEFAULT_VALIDITY,
    Identity,
    InvalidKey,
    KeyProblem,
    KeyUnusable,
    PublicKey,
    format_fingerprint,
    seal_message,
)


def test_new_identity_is_openpgp_v4_ed25519_cv25519_with_xmpp_user_id() -> None:
    identity = Identity.generate("juliet@example.org")
    packets = list(PacketPile.from_bytes(identity.public_key.to_bytes()))
    keys = [(p.tag, p.key_algorithm) for p in packets if p.tag in (Tag.PublicKey, Tag.PublicSubkey)]
    assert keys == [
        (Tag.PublicKey, PublicKeyAlgorithm.EdDSA),
        (Tag.PublicSubkey, PublicKeyAlgorithm.EdDSA),
        (Tag.PublicSubkey, PublicKeyAlgorithm.ECDH),
    ]
    assert [p.user_id for p in packets if p.tag == Tag.UserID] == ["xmpp:juliet@example.org"]
    assert all(p.signature_version == 4 for p in packets if p.tag == Tag.Signature)
    assert len(identity.fingerprint) == 40
    assert identity.jid == "juliet@example.org"
    assert identity.public_key.user_jids == frozenset({"juliet@example.org"})


def test_identity_expires_after_the_default_validity() -> None:
    before = dt.datetime.now(dt.UTC)
    expires = Identity.generate("a@example.org").public_key.expires_at
    assert expires is not None
    assert before + DEFAULT_VALIDITY - dt.timedelta(minutes=2) <= expires
    assert expires <= dt.datetime.now(dt.UTC) + DEFAULT_VALIDITY
    assert Identity.generate("a@example.org", valid_for=None).public_key.expires_at is None


@pytest.mark.parametrize("jid", ["", "a@b/res", "a b@c", "a@b\n"])
def test_generate_refuses_what_is_not_a_bare_jid(jid: str) -> None:
    with pytest.raises(ValueError, match="bare JID"):
        Identity.generate(jid)


def test_generate_refuses_a_validity_under_a_day() -> None:
    with pytest.raises(ValueError, match="at least a day"):
        Identity.generate("a@example.org", valid_for=dt.timedelta(hours=23))


def test_identity_reveals_no_secret_in_repr(alice: Identity) -> None:
    assert repr(alice) == f"<Identity alice@example.org {alice.fingerprint}>"
    assert not hasattr(alice, "__dict__")


def test_format_fingerprint_groups_like_gnupg() -> None:
    fpr = "5AE3CC710E0A545B3ED140F4B6C6B45E6A2324D1"
    grouped = "5AE3 CC71 0E0A 545B 3ED1  40F4 B6C6 B45E 6A23 24D1"
    assert format_fingerprint(fpr) == grouped
    assert format_fingerprint(fpr.lower()) == grouped
    assert format_fingerprint(grouped) == grouped
    assert format_fingerprint("ab" * 32) == " ".join(["ABAB"] * 16)
    for bad in ("", "XYZ1", "ABC"):
        with pytest.raises(ValueError, match="fingerprint"):
            format_fingerprint(bad)


def test_public_key_round_trips_through_bytes_and_armor(alice: Identity) -> None:
    data = alice.public_key.to_bytes()
    assert PublicKey.from_bytes(data) == alice.public_key
    armored = pysequoia.armor(data, pysequoia.ArmorKind.PublicKey).encode()
    assert PublicKey.from_bytes(armored) == alice.public_key
    assert hash(PublicKey.from_bytes(data)) == hash(alice.public_key)


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x99" * 10, b"x" * 300_000])
def test_from_bytes_refuses_garbage(data: bytes) -> None:
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(data)


def test_from_bytes_refuses_secret_key_material(alice: Identity) -> None:
    from ironwall.e2e.keys import identity_to_secret_bytes

    with pytest.raises(InvalidKey, match="secret"):
        PublicKey.from_bytes(identity_to_secret_bytes(alice))


def test_from_bytes_refuses_a_keyring(alice: Identity, bob: Identity) -> None:
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(alice.public_key.to_bytes() + bob.public_key.to_bytes())


def test_from_bytes_refuses_a_v6_key() -> None:
    v6 = pysequoia.Tsk.generate("xmpp:x@example.org", profile=pysequoia.Profile.RFC9580)
    with pytest.raises(InvalidKey, match="v4"):
        PublicKey.from_bytes(bytes(v6.extract_certificate()))


def test_user_ids_in_name_and_angle_form_are_read() -> None:
    tsk = pysequoia.Tsk.generate(
        user_ids=["Romeo <xmpp:Romeo@Montague.lit>", "romeo@montague.lit", "xmpp:x y@z"],
        profile=pysequoia.Profile.RFC4880,
    )
    key = PublicKey.from_bytes(bytes(tsk.extract_certificate()))
    assert key.user_jids == frozenset({"romeo@montague.lit"})
    assert key.names("ROMEO@montague.lit/balcony")


def test_revocation_shows_on_every_copy_and_survives_merges(alice: Identity) -> None:
    revoked = alice.revoke()
    assert revoked.fingerprint == alice.fingerprint
    assert revoked.public_key.is_revoked
    assert not alice.public_key.is_revoked
    from_wire = PublicKey.from_bytes(revoked.public_key.to_bytes())
    assert from_wire.is_revoked
    assert from_wire.problem() is KeyProblem.REVOKED
    assert alice.public_key.merge(from_wire).is_revoked
    assert from_wire.merge(alice.public_key).is_revoked


def test_merge_refuses_a_different_key(alice: Identity, bob: Identity) -> None:
    with pytest.raises(InvalidKey, match="different"):
        alice.public_key.merge(bob.public_key)


def test_expiry_and_renewal() -> None:
    identity = Identity.generate("a@example.org", valid_for=dt.timedelta(days=10))
    key = identity.public_key
    expires = key.expires_at
    assert expires is not None
    assert key.is_usable(expires - dt.timedelta(seconds=1))
    assert key.problem(expires) is KeyProblem.EXPIRED
    assert not key.is_usable(expires + dt.timedelta(days=1))

    now = dt.datetime.now(dt.UTC)
    renewed = identity.renew(dt.timedelta(days=365), now=now)
    assert renewed.fingerprint == identity.fingerprint
    new_expiry = renewed.public_key.expires_at
    assert new_expiry is not None
    assert abs(new_expiry - (now + dt.timedelta(days=365))) < dt.timedelta(seconds=2)
    # Contacts merge the new copy into the one they hold.
    assert key.merge(PublicKey.from_bytes(renewed.public_key.to_bytes())).is_usable(
        expires + dt.timedelta(days=1)
    )


def test_renewed_identity_still_signs_and_decrypts(bob: Identity) -> None:
    identity = Identity.generate("a@example.org").renew()
    seal_message(identity, {bob.jid: [bob.public_key]}, "still works")


def test_sealing_to_an_expired_recipient_key_is_refused(alice: Identity) -> None:
    dora = Identity.generate("dora@example.org", valid_for=dt.timedelta(days=1))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    with pytest.raises(KeyUnusable) as caught:
        seal_message(alice, {dora.jid: [dora.public_key]}, "x", now=later)
    assert (caught.value.jid, caught.value.fingerprint, caught.value.problem) == (
        dora.jid,
        dora.fingerprint,
        KeyProblem.EXPIRED,
    )


def test_sealing_to_a_revoked_recipient_key_is_refused(alice: Identity) -> None:
    dora = Identity.generate("dora@example.org").revoke()
    with pytest.raises(KeyUnusable) as caught:
        seal_message(alice, {dora.jid: [dora.public_key]}, "x")
    assert caught.value.problem is KeyProblem.REVOKED


def test_sealing_to_a_key_of_another_jid_is_refused(alice: Identity, bob: Identity) -> None:
    with pytest.raises(KeyUnusable) as caught:
        seal_message(alice, {"carol@example.org": [bob.public_key]}, "x")
    assert caught.value.problem is KeyProblem.WRONG_JID


def test_sealing_to_a_key_without_encryption_subkey_is_refused(alice: Identity) -> None:
    packets = [
        p for p in PacketPile.from_bytes(Identity.generate("e@example.org").public_key.to_bytes())
    ]
    # Drop the encryption subkey and its binding signature (the last two packets).
    sign_only = PublicKey(pysequoia.Cert.from_packets(packets[:-2]))
    with pytest.raises(KeyUnusable) as caught:
        seal_message(alice, {"e@example.org": [sign_only]}, "x")
    assert caught.value.problem is KeyProblem.CANNOT_ENCRYPT
    assert caught.value.fingerprint == sign_only.fingerprint


def test_sealing_needs_a_recipient(alice: Identity) -> None:
    with pytest.raises(ValueError, match="at least one recipient"):
        seal_message(alice, {}, "x")


def test_sealing_needs_a_key_for_each_recipient(alice: Identity) -> None:
    with pytest.raises(ValueError, match=r"no key given for bob@example\.org"):
        seal_message(alice, {"bob@example.org": []}, "x")


def test_import_openpgp_takes_an_unprotected_secret_key(alice: Identity) -> None:
    from ironwall.e2e.keys import identity_to_secret_bytes

    imported = Identity.import_openpgp(identity_to_secret_bytes(alice))
    assert imported.fingerprint == alice.fingerprint
    with pytest.raises(InvalidKey):
        Identity.import_openpgp(b"nonsense")
    two_ids = pysequoia.Tsk.generate(
        user_ids=["xmpp:a@example.org", "xmpp:b@example.org"], profile=pysequoia.Profile.RFC4880
    )
    with pytest.raises(InvalidKey, match="exactly one"):
        Identity.import_openpgp(bytes(two_ids))


def test_naive_times_are_refused(alice: Identity, bob: Identity) -> None:
    naive = dt.datetime(2025, 1, 1, 12, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        alice.public_key.problem(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        seal_message(alice, {bob.jid: [bob.public_key]}, "x", now=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        alice.renew(now=naive)

"""OpenPGP identities and public keys, as opaque objects over pysequoia.

An `Identity` is one's own secret key; a `PublicKey` is anyone's certificate. Both are
OpenPGP v4 (the other OX implementations read v4 only): an Ed25519 certification key with
an Ed25519 signing subkey and a Cv25519 encryption subkey, and the user ID `xmpp:JID`
(XEP-0373 §4.1). Parsed pysequoia objects, the signer and the decryptor are built once and
kept inside, so sealing and opening do not re-parse keys.
"""

from __future__ import annotations

import datetime as dt
import re

import pysequoia
from pysequoia.packet import Packet, PacketPile, Tag

from ironwall.e2e._jid import bare_jid, check_bare_jid
from ironwall.e2e.errors import InvalidKey, KeyProblem

__all__ = ["DEFAULT_VALIDITY", "Identity", "PublicKey", "format_fingerprint"]

DEFAULT_VALIDITY = dt.timedelta(days=2 * 365)
"""How long a new or renewed identity stays valid; clients renew well before it runs out."""

MIN_VALIDITY = dt.timedelta(days=1)
MAX_KEY_BYTES = 256 * 1024
"""Largest certificate accepted: an OX key is a few KiB; the cap bounds parsing work."""

_V4_FINGERPRINT_HEX = 40
_KEY_TAGS = (Tag.PublicKey, Tag.PublicSubkey, Tag.SecretKey, Tag.SecretSubkey)
_SECRET_TAGS = (Tag.SecretKey, Tag.SecretSubkey)
# XEP-0373 §4.1 user ID "xmpp:JID"; "Name <xmpp:JID>" is read too, as some clients write it.
_USER_ID_JID = re.compile(r"(?:^|<)xmpp:([^\s<>/]+)(?:>|$)")


def resolve_now(now: dt.datetime | None) -> dt.datetime:
    """`now`, or the current UTC time if None; a naive datetime is refused (ValueError)."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("times must be timezone-aware")
    return now


def format_fingerprint(fingerprint: str) -> str:
    """Group a hex fingerprint for reading aloud: `5AE3 CC71 ... 0E0A  545B ... 24D1`.

    Groups of four upper-case hex digits; a v4 fingerprint gets a double space after its
    fifth group, as GnuPG and Sequoia print it. Spaces in the input are ignored.
    """
    digits = "".join(fingerprint.split()).upper()
    if not digits or len(digits) % 4 or any(c not in "0123456789ABCDEF" for c in digits):
        raise ValueError("not a hex fingerprint")
    groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    if len(digits) == _V4_FINGERPRINT_HEX:
        return " ".join(groups[:5]) + "  " + " ".join(groups[5:])
    return " ".join(groups)


class PublicKey:
    """Someone's OpenPGP certificate: immutable, comparable, safe to share.

    Build one with `from_bytes` (binary or ASCII-armored, as found in a XEP-0373 PEP node);
    `to_bytes` gives the binary form back, with every signature it carries (revocations,
    renewed expiry), so a revoked key is recognised on any copy that holds the revocation.
    """

    __slots__ = ("_cert", "_expires_at", "_fingerprint", "_ids", "_revoked", "_user_jids")

    def __init__(self, cert: pysequoia.Cert) -> None:
        """Wrap a parsed public certificate; use `from_bytes` rather than this."""
        if len(cert.fingerprint) != _V4_FINGERPRINT_HEX:
            raise InvalidKey("only OpenPGP v4 keys are supported")
        self._cert = cert
        self._fingerprint = cert.fingerprint.upper()
        try:
            self._ids = _key_ids(PacketPile.from_bytes(bytes(cert)))
            self._revoked = cert.is_revoked
            # Raises for a certificate without a valid binding signature on its primary key.
            self._expires_at = cert.expiration
            self._user_jids = frozenset(
                bare_jid(m.group(1))
                for uid in cert.user_ids
                if (m := _USER_ID_JID.search(str(uid))) is not None
            )
        except RuntimeError as exc:
            raise InvalidKey("not a usable OpenPGP certificate") from exc

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKey:
        """Parse one OpenPGP v4 certificate; raise `InvalidKey` for anything else."""
        if len(data) > MAX_KEY_BYTES:
            raise InvalidKey("the key is too large")
        try:
            if any(packet.tag in _SECRET_TAGS for packet in PacketPile.from_bytes(data)):
                raise InvalidKey("a public key must not carry secret key material")
            cert = pysequoia.Cert.from_bytes(data)
        except RuntimeError as exc:
            raise InvalidKey("not an OpenPGP certificate") from exc
        return cls(cert)

    def to_bytes(self) -> bytes:
        """The binary certificate (what XEP-0373 publishes base64-encoded in PEP)."""
        return bytes(self._cert)

    @property
    def fingerprint(self) -> str:
        """The primary key's fingerprint: 40 upper-case hex digits."""
        return self._fingerprint

    @property
    def user_jids(self) -> frozenset[str]:
        """The bare JIDs named by the key's valid `xmpp:` user IDs, lower-cased."""
        return self._user_jids

    @property
    def is_revoked(self) -> bool:
        """Whether the key carries a valid self-signed revocation."""
        return self._revoked

    @property
    def expires_at(self) -> dt.datetime | None:
        """When the key expires, or None if it does not."""
        return self._expires_at

    def problem(self, now: dt.datetime | None = None) -> KeyProblem | None:
        """What stops the key being used at `now` (default: the current time), if anything."""
        if self._revoked:
            return KeyProblem.REVOKED
        if self._expires_at is not None and resolve_now(now) >= self._expires_at:
            return KeyProblem.EXPIRED
        return None

    def is_usable(self, now: dt.datetime | None = None) -> bool:
        """Whether the key is neither revoked nor expired at `now` (default: now)."""
        return self.problem(now) is None

    def merge(self, other: PublicKey) -> PublicKey:
        """Combine two copies of the same key, keeping every signature of both.

        This is how a newer copy (a renewal, a revocation) is taken in without losing what
        the older copy had: a revocation survives any merge.
        """
        if other._fingerprint != self._fingerprint:
            raise InvalidKey("cannot merge two different keys")
        return PublicKey(self._cert.merge(other._cert))

    def names(self, jid: str) -> bool:
        """Whether the key carries the user ID `xmpp:` + the bare form of `jid`."""
        return bare_jid(jid) in self._user_jids

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self._fingerprint)

    def __repr__(self) -> str:
        return f"<PublicKey {self._fingerprint} {sorted(self._user_jids)}>"


class Identity:
    """One's own OpenPGP secret key. Opaque: its secret bytes leave only sealed.

    `generate` makes a new one; `ironwall.e2e.open_secret_key` restores one from its sealed
    blob. `revoke` and `renew` return a new `Identity` whose `public_key` must then be
    published again.
    """

    __slots__ = ("_decryptor", "_jid", "_public", "_signer", "_tsk")

    def __init__(self, tsk: pysequoia.Tsk) -> None:
        """Wrap a parsed secret key; use `generate` or `open_secret_key` rather than this."""
        self._public = PublicKey(tsk.extract_certificate())
        if len(self._public.user_jids) != 1:
            raise InvalidKey("an identity needs exactly one xmpp: user ID")
        (self._jid,) = self._public.user_jids
        try:
            self._signer = tsk.signer()
            self._decryptor = tsk.decryptor()
        except RuntimeError as exc:
            raise InvalidKey("the secret key cannot both sign and decrypt") from exc
        self._tsk = tsk

    @classmethod
    def generate(cls, jid: str, *, valid_for: dt.timedelta | None = DEFAULT_VALIDITY) -> Identity:
        """Make a new identity for the bare `jid`, valid for `valid_for` (None: no expiry)."""
        check_bare_jid(jid)
        # Key creation times are rounded down (up to a minute), so a shorter validity
        # could be over before the key is first used.
        if valid_for is not None and valid_for < MIN_VALIDITY:
            raise ValueError("a new identity must be valid for at least a day")
        seconds = None if valid_for is None else int(valid_for.total_seconds())
        tsk = pysequoia.Tsk.generate(
            f"xmpp:{jid}",
            profile=pysequoia.Profile.RFC4880,
            cipher_suite=pysequoia.CipherSuite.Cv25519,
            validity_seconds=seconds,
        )
        return cls(tsk)

    @classmethod
    def import_openpgp(cls, data: bytes) -> Identity:
        """Take over an existing, unprotected OpenPGP v4 secret key (e.g. from another OX client).

        It must carry exactly one `xmpp:` user ID and be able to sign and decrypt.
        """
        if len(data) > MAX_KEY_BYTES:
            raise InvalidKey("the key is too large")
        try:
            tsk = pysequoia.Tsk.from_bytes(data)
        except RuntimeError as exc:
            raise InvalidKey("not an OpenPGP secret key") from exc
        return cls(tsk)

    @property
    def jid(self) -> str:
        """The bare JID the identity belongs to (from its `xmpp:` user ID)."""
        return self._jid

    @property
    def public_key(self) -> PublicKey:
        """The public half, to publish and to give to contacts."""
        return self._public

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the public key (see `format_fingerprint`)."""
        return self._public.fingerprint

    def revoke(self) -> Identity:
        """A copy of this identity carrying a self-signed revocation of the whole key."""
        certificate = self._tsk.extract_certificate()
        revocation = certificate.revoke(self._tsk.certifier())
        revoked = pysequoia.Cert.from_bytes(bytes(certificate) + bytes(revocation))
        return Identity(_with_secrets(self._tsk, revoked))

    def renew(
        self, valid_for: dt.timedelta = DEFAULT_VALIDITY, *, now: dt.datetime | None = None
    ) -> Identity:
        """A copy of this identity that expires `valid_for` after `now` (default: now)."""
        if valid_for <= dt.timedelta(0):
            raise ValueError("valid_for must be positive")
        certificate = self._tsk.extract_certificate()
        expiry = resolve_now(now) + valid_for
        renewed = certificate.set_expiration(expiry, self._tsk.certifier())
        return Identity(_with_secrets(self._tsk, renewed))

    def __repr__(self) -> str:
        return f"<Identity {self._jid} {self._public.fingerprint}>"


def identity_to_secret_bytes(identity: Identity) -> bytes:
    """The unprotected transferable secret key; only the sealing code may call this."""
    return bytes(identity._tsk)


def identity_from_secret_bytes(data: bytes) -> Identity:
    """Rebuild an identity from `identity_to_secret_bytes` output."""
    return Identity(pysequoia.Tsk.from_bytes(data))


def _key_ids(packets: PacketPile) -> frozenset[str]:
    """Every fingerprint and key ID (lower-case hex) of a certificate's keys and subkeys."""
    ids: set[str] = set()
    for packet in packets:
        if packet.tag in _KEY_TAGS:
            ids.update(i for i in (packet.fingerprint, packet.key_id) if i)
    return frozenset(ids)


def _with_secrets(tsk: pysequoia.Tsk, certificate: pysequoia.Cert) -> pysequoia.Tsk:
    """`certificate` (new signatures on the same keys) with the secret keys of `tsk` put back."""
    secrets = {
        packet.fingerprint: packet
        for packet in PacketPile.from_bytes(bytes(tsk))
        if packet.tag in _SECRET_TAGS
    }
    packets: list[Packet] = [
        secrets.get(packet.fingerprint, packet) if packet.tag in _KEY_TAGS else packet
        for packet in PacketPile.from_bytes(bytes(certificate))
    ]
    return pysequoia.Tsk.from_packets(packets)

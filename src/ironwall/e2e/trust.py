"""Trust in a contact's keys, as pure logic: a value, events, and one transition table.

Trust on first use: the first keys seen for a contact are pinned automatically. Later keys
are never taken silently (DESIGN.md §5):

- for an unverified contact a new key is pinned at once, like Signal does: its messages
  are read (and shown as from a changed key), but nothing is encrypted to it until the user
  acknowledges the change;
- for a verified contact, or one whose keys were all revoked, the new key waits in
  `offered`: neither used nor accepted until the user accepts it (or verifies it).

Either way no message is encrypted to a new key before the user has seen the change.

The client persists a `ContactTrust` per contact and `apply`s each event to it; nothing
here does I/O or crypto. Fingerprints are 40 upper-case hex digits (`PublicKey.fingerprint`).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass

from ironwall.e2e.errors import E2EError

__all__ = [
    "ContactTrust",
    "KeyRevoked",
    "KeysAnnounced",
    "TrustError",
    "TrustEvent",
    "TrustState",
    "UserAcceptedChange",
    "UserVerified",
]


class TrustState(enum.Enum):
    """What the roster shows for a contact's keys."""

    NONE = "none"
    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    CHANGED = "changed"
    REVOKED = "revoked"


class TrustError(E2EError):
    """An event that makes no sense in the contact's current state (a caller bug)."""


@dataclass(frozen=True, slots=True)
class KeysAnnounced:
    """The contact's published key list (XEP-0373 metadata node) was seen."""

    fingerprints: frozenset[str]


@dataclass(frozen=True, slots=True)
class KeyRevoked:
    """A copy of one of the contact's keys carrying a revocation was seen."""

    fingerprint: str


@dataclass(frozen=True, slots=True)
class UserVerified:
    """The user compared these fingerprints with the contact's, out of band, and they match."""

    fingerprints: frozenset[str]


@dataclass(frozen=True, slots=True)
class UserAcceptedChange:
    """The user saw the key change and accepts the new keys."""


TrustEvent = KeysAnnounced | KeyRevoked | UserVerified | UserAcceptedChange


@dataclass(frozen=True, slots=True)
class ContactTrust:
    """The trust held in one contact's keys.

    `pinned`: keys messages are encrypted to and accepted from. `revoked`: pinned keys seen
    revoked (kept, so their messages are reported as revoked, not unknown). `offered`: new
    keys waiting for the user, which are neither used nor accepted until then.
    """

    state: TrustState = TrustState.NONE
    pinned: frozenset[str] = frozenset()
    revoked: frozenset[str] = frozenset()
    offered: frozenset[str] = frozenset()

    @property
    def can_send(self) -> bool:
        """Whether messages may be encrypted to this contact without asking the user."""
        return self.state in (TrustState.UNVERIFIED, TrustState.VERIFIED)

    @property
    def encrypt_to(self) -> frozenset[str]:
        """The fingerprints to encrypt to now; empty when sending is not allowed."""
        return self.pinned - self.revoked if self.can_send else frozenset()

    def accepts(self, fingerprint: str) -> bool:
        """Whether a message signed by this key may be opened (`open_message` sender keys)."""
        return fingerprint in self.pinned

    @property
    def needs_attention(self) -> bool:
        """Whether the user should be shown the key state (a change or a revocation)."""
        return self.state in (TrustState.CHANGED, TrustState.REVOKED)

    def apply(self, event: TrustEvent) -> ContactTrust:
        """The trust after `event`. Raises `TrustError` for an event the state does not allow."""
        handler = _TABLE.get((self.state, type(event)))
        if handler is None:
            raise TrustError(f"{type(event).__name__} is not allowed in state {self.state.value}")
        return handler(self, event)


def _first_keys(trust: ContactTrust, event: TrustEvent) -> ContactTrust:
    assert isinstance(event, KeysAnnounced)
    if not event.fingerprints:
        return trust
    return ContactTrust(TrustState.UNVERIFIED, pinned=event.fingerprints)


def _announced_unverified(trust: ContactTrust, event: TrustEvent) -> ContactTrust:
    """New keys replace the pins at once; the change stays shown until acknowledged."""
    assert isinstance(event, KeysAnnounced)
    if event.fingerprints <= trust.pinned:
        return trust
    pinned = event.fingerprints
    return ContactTrust(TrustState.CHANGED, pinned=pinned, revoked=trust.revoked & pinned)


def _announced_guarded(trust: ContactTrust, event: TrustEvent) -> ContactTrust:
    """New keys wait in `offered`; the pins stay and sending stops."""
    assert isinstance(event, KeysAnnounced)
    new = event.fingerprints - trust.pinned
    if new <= trust.offered:
        return trust
    return dataclasses.replace(trust, state=TrustState.CHANGED, offered=trust.offered | new)


def _announced_changed(trust: ContactTrust, event: TrustEvent) -> ContactTrust:
    if trust.offered:
        return _announced_guarded(trust, event)
    return _announced_unverified(trust, event)


def _revoked(trust: ContactTrust, event: TrustEvent) -> ContactTrust:
    assert isinstance(event, KeyRevoked)
    if event.fingerprint not in trust.pinned:
        return trust
    revoked = trust.revoked | {event.fingerprint}
    state = trust.state
    if revoked >= trust.pinned:
        state = TrustState.CHANGED if trust.offered else TrustState.REVOKED
    return dataclasses.replace(trust, state=state, revoked=revoked)


def _verified(trust: ContactTrust, event: TrustEvent) -> ContactTrust:
    assert isinstance(event, UserVerified)
    candidates = trust.offered or trust.pinned - trust.revoked
    if not event.fingerprints or event.fingerprints != candidates:
        raise TrustError("the verified fingerprints are not the contact's current keys")
    return ContactTrust(TrustState.VERIFIED, pinned=event.fingerprints)


def _accepted(trust: ContactTrust, event: TrustEvent) -> ContactTrust:
    assert isinstance(event, UserAcceptedChange)
    if trust.offered:
        return ContactTrust(TrustState.UNVERIFIED, pinned=trust.offered)
    return dataclasses.replace(trust, state=TrustState.UNVERIFIED)


_Handler = Callable[[ContactTrust, TrustEvent], ContactTrust]
_S = TrustState
# Every legal (state, event) pair; anything missing raises TrustError. spec/e2e.md §6 has
# the same table in words.
_TABLE: dict[tuple[TrustState, type], _Handler] = {
    (_S.NONE, KeysAnnounced): _first_keys,
    (_S.NONE, KeyRevoked): _revoked,
    (_S.UNVERIFIED, KeysAnnounced): _announced_unverified,
    (_S.UNVERIFIED, KeyRevoked): _revoked,
    (_S.UNVERIFIED, UserVerified): _verified,
    (_S.VERIFIED, KeysAnnounced): _announced_guarded,
    (_S.VERIFIED, KeyRevoked): _revoked,
    (_S.VERIFIED, UserVerified): _verified,
    (_S.CHANGED, KeysAnnounced): _announced_changed,
    (_S.CHANGED, KeyRevoked): _revoked,
    (_S.CHANGED, UserVerified): _verified,
    (_S.CHANGED, UserAcceptedChange): _accepted,
    (_S.REVOKED, KeysAnnounced): _announced_guarded,
    (_S.REVOKED, KeyRevoked): _revoked,
}

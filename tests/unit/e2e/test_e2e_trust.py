"""Trust states and their transitions (spec/e2e.md §6), one row of the table at a time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironwall.e2e import (
    ContactTrust,
    KeyRevoked,
    KeysAnnounced,
    TrustError,
    TrustEvent,
    TrustState,
    UserAcceptedChange,
    UserVerified,
)

OLD, NEW, OTHER = "A" * 40, "B" * 40, "C" * 40


def _keys(*fingerprints: str) -> frozenset[str]:
    return frozenset(fingerprints)


def _unverified() -> ContactTrust:
    return ContactTrust().apply(KeysAnnounced(_keys(OLD)))


def _verified() -> ContactTrust:
    return _unverified().apply(UserVerified(_keys(OLD)))


def test_no_key_allows_nothing() -> None:
    trust = ContactTrust()
    assert (trust.state, trust.can_send, trust.encrypt_to) == (TrustState.NONE, False, _keys())
    assert not trust.accepts(OLD)
    assert trust.apply(KeysAnnounced(_keys())) == trust


def test_first_key_is_pinned_automatically() -> None:
    trust = _unverified()
    assert trust == ContactTrust(TrustState.UNVERIFIED, pinned=_keys(OLD))
    assert (trust.can_send, trust.encrypt_to, trust.needs_attention) == (True, _keys(OLD), False)
    assert trust.accepts(OLD)
    assert not trust.accepts(NEW)


def test_seeing_the_pinned_keys_again_changes_nothing() -> None:
    for trust in (_unverified(), _verified()):
        assert trust.apply(KeysAnnounced(_keys(OLD))) == trust


def test_verification_must_name_exactly_the_pinned_keys() -> None:
    trust = _unverified()
    for wrong in (_keys(), _keys(NEW), _keys(OLD, NEW)):
        with pytest.raises(TrustError, match="not the contact's current keys"):
            trust.apply(UserVerified(wrong))
    verified = trust.apply(UserVerified(_keys(OLD)))
    assert verified == ContactTrust(TrustState.VERIFIED, pinned=_keys(OLD))
    assert verified.can_send


def test_unverified_contact_new_key_is_read_but_not_sent_to_until_acknowledged() -> None:
    changed = _unverified().apply(KeysAnnounced(_keys(NEW)))
    assert changed == ContactTrust(TrustState.CHANGED, pinned=_keys(NEW))
    assert (changed.can_send, changed.encrypt_to, changed.needs_attention) == (
        False,
        _keys(),
        True,
    )
    assert changed.accepts(NEW)
    assert not changed.accepts(OLD)
    acknowledged = changed.apply(UserAcceptedChange())
    assert acknowledged == ContactTrust(TrustState.UNVERIFIED, pinned=_keys(NEW))
    assert (acknowledged.can_send, acknowledged.encrypt_to) == (True, _keys(NEW))
    assert changed.apply(UserVerified(_keys(NEW))).state is TrustState.VERIFIED


def test_verified_contact_new_key_stops_sending_until_accepted() -> None:
    changed = _verified().apply(KeysAnnounced(_keys(OLD, NEW)))
    assert changed == ContactTrust(TrustState.CHANGED, pinned=_keys(OLD), offered=_keys(NEW))
    assert (changed.can_send, changed.encrypt_to) == (False, _keys())
    assert changed.accepts(OLD)
    assert not changed.accepts(NEW)  # not before the user says so
    # More keys appearing meanwhile join the offer.
    more = changed.apply(KeysAnnounced(_keys(NEW, OTHER)))
    assert more.offered == _keys(NEW, OTHER)
    assert more.apply(KeysAnnounced(_keys(NEW))) == more

    accepted = more.apply(UserAcceptedChange())
    assert accepted == ContactTrust(TrustState.UNVERIFIED, pinned=_keys(NEW, OTHER))
    assert accepted.can_send


def test_verifying_the_offered_key_pins_it_as_verified() -> None:
    changed = _verified().apply(KeysAnnounced(_keys(NEW)))
    with pytest.raises(TrustError):
        changed.apply(UserVerified(_keys(OLD)))
    assert changed.apply(UserVerified(_keys(NEW))) == ContactTrust(
        TrustState.VERIFIED, pinned=_keys(NEW)
    )


def test_revocation_of_the_only_key() -> None:
    for trust in (_unverified(), _verified()):
        revoked = trust.apply(KeyRevoked(OLD))
        assert revoked == ContactTrust(TrustState.REVOKED, pinned=_keys(OLD), revoked=_keys(OLD))
        assert (revoked.can_send, revoked.needs_attention) == (False, True)
        assert revoked.accepts(OLD)  # so open_message can say "revoked", not "unknown"
        with pytest.raises(TrustError):
            revoked.apply(UserVerified(_keys(OLD)))


def test_revocation_of_one_of_two_keys_keeps_the_other() -> None:
    trust = ContactTrust().apply(KeysAnnounced(_keys(OLD, OTHER))).apply(KeyRevoked(OLD))
    assert trust.state is TrustState.UNVERIFIED
    assert trust.encrypt_to == _keys(OTHER)
    with pytest.raises(TrustError):
        trust.apply(UserVerified(_keys(OLD, OTHER)))
    assert trust.apply(UserVerified(_keys(OTHER))).pinned == _keys(OTHER)


def test_revocation_of_an_unknown_key_changes_nothing() -> None:
    for trust in (ContactTrust(), _unverified(), _verified()):
        assert trust.apply(KeyRevoked(NEW)) == trust


def test_replacement_after_revocation_needs_the_user() -> None:
    revoked = _unverified().apply(KeyRevoked(OLD))
    offered = revoked.apply(KeysAnnounced(_keys(OLD, NEW)))
    assert offered.state is TrustState.CHANGED
    assert offered.offered == _keys(NEW)
    assert not offered.can_send
    assert offered.apply(UserAcceptedChange()) == ContactTrust(
        TrustState.UNVERIFIED, pinned=_keys(NEW)
    )


def test_old_key_revoked_while_new_one_waits() -> None:
    changed = _verified().apply(KeysAnnounced(_keys(NEW))).apply(KeyRevoked(OLD))
    assert changed.state is TrustState.CHANGED
    assert changed.offered == _keys(NEW)
    assert not changed.can_send


@pytest.mark.parametrize(
    ("trust", "event"),
    [
        (ContactTrust(), UserVerified(_keys(OLD))),
        (ContactTrust(), UserAcceptedChange()),
        (_unverified(), UserAcceptedChange()),
        (_verified(), UserAcceptedChange()),
    ],
)
def test_events_not_in_the_table_are_errors(trust: ContactTrust, event: TrustEvent) -> None:
    with pytest.raises(TrustError, match="not allowed in state"):
        trust.apply(event)


_FPRS = st.sampled_from([OLD, NEW, OTHER])
_EVENTS = st.one_of(
    st.builds(KeysAnnounced, st.frozensets(_FPRS)),
    st.builds(KeyRevoked, _FPRS),
    st.builds(UserVerified, st.frozensets(_FPRS)),
    st.just(UserAcceptedChange()),
)


@given(st.lists(_EVENTS, max_size=12))
def test_property_invariants_hold_after_any_event_sequence(events: list[TrustEvent]) -> None:
    trust = ContactTrust()
    seen: set[str] = set()
    for event in events:
        try:
            trust = trust.apply(event)
        except TrustError:
            continue
        if isinstance(event, KeysAnnounced):
            seen |= event.fingerprints
        # Nothing is ever encrypted to a key that is revoked, offered, or never announced.
        assert trust.encrypt_to <= trust.pinned - trust.revoked - trust.offered
        assert trust.pinned | trust.offered <= seen
        assert trust.revoked <= trust.pinned
        assert (trust.state is TrustState.NONE) == (not trust.pinned)
        if trust.state is TrustState.REVOKED:
            assert trust.pinned == trust.revoked
            assert not trust.can_send
        if trust.offered:
            assert trust.state is TrustState.CHANGED
        # A change is never sent to before the user has acknowledged it.
        if trust.state is TrustState.CHANGED:
            assert not trust.can_send

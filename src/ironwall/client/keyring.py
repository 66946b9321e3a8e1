"""Contacts' keys: fetched from PEP, pinned on first use, changes and revocations caught.

`KeyRing.refresh(jid)` reads the contact's XEP-0373 nodes, merges every copy of a key with
the one held (a revocation, once seen, stays), and applies what it saw to the contact's
trust table (`ironwall.e2e.ContactTrust`), publishing `KeyPinned`, `KeyChanged`,
`KeyRevoked` or `ContactHasNoKey` when the state moves. It runs when the session comes
online (for every contact), when a contact's server announces new keys (PEP, XEP-0163
``+notify``), before sending to a contact whose keys were not read lately, and when a
message arrives signed by a key not held.

The contacts the user verified are also kept in a private record on the server, sealed to
the account's own key, so every device of the account shows them verified.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ironwall.client import ox
from ironwall.client.errors import ClientError
from ironwall.client.events import ContactHasNoKey, Event, KeyChanged, KeyPinned, KeyRevoked
from ironwall.client.xmpp import IqFailed
from ironwall.e2e import (
    ContactTrust,
    InvalidKey,
    InvalidRecord,
    KeysAnnounced,
    PublicKey,
    TrustError,
    TrustEvent,
    TrustState,
    UserVerified,
    open_private_record,
    seal_private_record,
)
from ironwall.e2e import (
    KeyRevoked as TrustKeyRevoked,
)

if TYPE_CHECKING:
    from ironwall.client.session import ClientSession

__all__ = ["KeyRing", "KeysUnavailable"]

log = logging.getLogger(__name__)

_VERIFIED_PURPOSE = "verified-contacts"
#: Keys read longer ago than this are read again before a message is sealed to them.
STALE_AFTER = 600.0
_PARALLEL_REFRESHES = 4


class KeysUnavailable(ClientError):
    """The contact's keys cannot be read right now (offline, or their server does not answer)."""


def _apply(trust: ContactTrust, event: TrustEvent) -> ContactTrust:
    try:
        return trust.apply(event)
    except TrustError:
        return trust


class KeyRing:
    """The session's view of every contact's keys."""

    def __init__(self, session: ClientSession, emit: Callable[[Event], None]) -> None:
        self._session = session
        self._emit = emit
        self._locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------- fetching

    async def refresh(self, jid: str) -> ContactTrust:
        """Read ``jid``'s published keys and update its trust; raise ClientError if unreachable."""
        lock = self._locks.setdefault(jid, asyncio.Lock())
        async with lock:
            return await self._refresh(jid)

    async def refresh_for_message(self, jid: str) -> ContactTrust:
        """Keys for opening a message from ``jid``: `KeysUnavailable` if they may exist but
        cannot be read now (the message is kept and tried again), else what is known."""
        try:
            return await self.refresh(jid)
        except KeysUnavailable:
            raise
        except ClientError:
            return self._session.state.trust(jid)

    async def _refresh(self, jid: str) -> ContactTrust:
        if not self._session.online:
            raise KeysUnavailable(f"cannot read the keys of {jid} while offline")
        conn = self._session.connection
        state = self._session.state
        before = state.trust(jid)
        try:
            announced, keys = await ox.fetch_public_keys(conn, jid)
        except IqFailed as exc:
            if exc.condition in ("remote-server-timeout", "internal-server-error"):
                raise KeysUnavailable(
                    f"cannot read the keys of {jid} now: the server answered {exc.condition}"
                ) from None
            if exc.condition in (
                "service-unavailable",
                "item-not-found",
                "remote-server-not-found",
            ):
                raise ClientError(
                    f"{jid} does not exist or cannot be reached ({exc.condition})"
                ) from None
            raise ClientError(
                f"cannot fetch the keys of {jid}: the server answered {exc.condition}"
            ) from None
        trust = before
        usable = set()
        for key in keys:
            if not key.names(jid):
                continue
            merged = self._remember(jid, key)
            if merged.is_revoked:
                trust = _apply(trust, TrustKeyRevoked(merged.fingerprint))
            elif merged.is_usable():
                usable.add(merged.fingerprint)
        # A key no longer announced may have been withdrawn because it was revoked.
        for fingerprint in sorted(trust.pinned - set(announced)):
            withdrawn = await ox.fetch_key(conn, jid, fingerprint)
            if withdrawn is not None and self._remember(jid, withdrawn).is_revoked:
                trust = _apply(trust, TrustKeyRevoked(fingerprint))
        if usable:
            trust = _apply(trust, KeysAnnounced(frozenset(usable)))
        if trust.state is TrustState.UNVERIFIED:
            trust = self._verified_elsewhere(jid, trust)
        state.set_trust(jid, trust)
        state.mark_refreshed(jid)
        self._announce(jid, before, trust)
        return trust

    def _remember(self, jid: str, key: PublicKey) -> PublicKey:
        """Store ``key`` merged with the copy already held, so no revocation is ever lost."""
        stored = self._session.state.key(key.fingerprint)
        if stored is not None:
            with contextlib.suppress(InvalidKey, ValueError):
                key = PublicKey.from_bytes(stored).merge(key)
        self._session.state.store_key(jid, key.fingerprint, key.to_bytes())
        return key

    def _announce(self, jid: str, before: ContactTrust, after: ContactTrust) -> None:
        if after == before:
            if after.state is TrustState.NONE:
                self._emit(ContactHasNoKey(jid))
            return
        if before.state is TrustState.NONE and after.pinned:
            self._emit(KeyPinned(jid, tuple(sorted(after.pinned))))
        newly_revoked = after.revoked - before.revoked
        for fingerprint in sorted(newly_revoked):
            self._emit(KeyRevoked(jid, fingerprint))
        if after.state is TrustState.CHANGED and (
            before.state is not TrustState.CHANGED or after.offered != before.offered
        ):
            old = before.pinned - before.revoked
            new = after.offered or after.pinned
            self._emit(
                KeyChanged(
                    jid,
                    tuple(sorted(old)),
                    tuple(sorted(new)),
                    was_verified=before.state is TrustState.VERIFIED or bool(after.offered),
                )
            )

    async def refresh_all(self, jids: list[str]) -> None:
        """Refresh many contacts, a few at a time; failures are logged, not raised."""
        gate = asyncio.Semaphore(_PARALLEL_REFRESHES)

        async def one(jid: str) -> None:
            async with gate:
                try:
                    await self.refresh(jid)
                except (ClientError, IqFailed) as exc:
                    log.info("keys of a contact could not be read: %s", exc.__class__.__name__)

        await asyncio.gather(*(one(jid) for jid in jids))

    async def current(self, jid: str) -> ContactTrust:
        """The contact's trust, read again from the server if it was not read lately.

        Offline, the pinned state is used; a contact whose keys were never read cannot be
        judged then (`KeysUnavailable`).
        """
        state = self._session.state
        trust = state.trust(jid)
        # A session that announces presence hears of key changes at once (PEP +notify);
        # a one-shot session (a CLI command) does not, so it reads the keys every time.
        limit = STALE_AFTER if self._session.available else 0.0
        stale = time.time() - state.refreshed_at(jid) > limit
        if trust.state is not TrustState.NONE and not stale:
            return trust
        if not self._session.online:
            if trust.state is TrustState.NONE and not state.plaintext_allowed(jid):
                raise KeysUnavailable(
                    f"cannot check {jid}'s key while offline; nothing was sent: try again "
                    "when the server can be reached"
                )
            return trust
        try:
            return await self.refresh(jid)
        except ClientError:
            # A known key is still good to use when its owner's server does not answer.
            if trust.state is TrustState.NONE:
                raise
            return trust

    def keys(self, fingerprints: frozenset[str]) -> list[PublicKey]:
        """The held keys with these fingerprints."""
        found = []
        for fingerprint in sorted(fingerprints):
            data = self._session.state.key(fingerprint)
            if data is None:
                continue
            with contextlib.suppress(InvalidKey):
                found.append(PublicKey.from_bytes(data))
        return found

    # ---------------------------------------------------------- verification

    def _verified_elsewhere(self, jid: str, trust: ContactTrust) -> ContactTrust:
        """Verified on another device of this account (the private record says so)."""
        record = self._session.state.get("verified_record")
        if record is None:
            return trust
        fingerprints = frozenset(json.loads(record).get(jid, ()))
        current = trust.pinned - trust.revoked
        if current and fingerprints == current:
            return _apply(trust, UserVerified(current))
        return trust

    async def publish_verified(self, jid: str, fingerprints: frozenset[str]) -> None:
        """Add a verification to the private record the account's devices share."""
        record = self._load_record()
        record[jid] = sorted(fingerprints)
        self._session.state.set("verified_record", json.dumps(record, sort_keys=True))
        sealed = seal_private_record(
            self._session.identity, _VERIFIED_PURPOSE, json.dumps(record).encode()
        )
        await ox.store_verified_record(self._session.connection, sealed)

    def _load_record(self) -> dict[str, list[str]]:
        text = self._session.state.get("verified_record")
        return dict(json.loads(text)) if text else {}

    async def sync_verified(self) -> None:
        """Read the shared record of verified contacts and apply it here."""
        sealed = await ox.fetch_verified_record(self._session.connection)
        if sealed is None:
            return
        self.merge_verified(sealed)

    def merge_verified(self, sealed: str) -> None:
        """Apply a sealed record (from the server or a PEP notification) to this device."""
        try:
            data = json.loads(
                open_private_record(self._session.identity, _VERIFIED_PURPOSE, sealed)
            )
        except (InvalidRecord, ValueError):
            log.warning("the record of verified contacts on the server is not this account's")
            return
        if not isinstance(data, dict):
            return
        record = self._load_record()
        for jid, fingerprints in data.items():
            if isinstance(jid, str) and isinstance(fingerprints, list):
                record[jid] = sorted({str(f) for f in fingerprints})
        state = self._session.state
        state.set("verified_record", json.dumps(record, sort_keys=True))
        for jid in record:
            before = state.trust(jid)
            if before.state is TrustState.UNVERIFIED:
                after = self._verified_elsewhere(jid, before)
                if after != before:
                    state.set_trust(jid, after)

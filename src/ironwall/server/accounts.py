"""User accounts: creation, passwords (as SCRAM verifiers only), deletion, locking, revocation.

An account record is one JSON object in the ``accounts`` key-value store:
``scram`` (the verifiers), ``created``, and where they apply ``locked`` (no login),
``revoked`` (the time its owner revoked it: the permanent, owner-requested lock) and
``revocation_verifier`` (base64 SHA-256 of the owner's revocation token).
"""

from __future__ import annotations

import asyncio
import base64
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.sasl import check_password, make_verifiers
from ironwall.storage import StorageDriver

__all__ = [
    "CREDENTIALS_CHANGED",
    "MIN_PASSWORD_LENGTH",
    "REMOVED",
    "REVOKED",
    "AccountError",
    "AccountState",
    "Accounts",
]

# The stream error texts of sessions ended by what happened to their account.
#: A revoked account cannot log in or change anything again.
REVOKED = "this account was revoked by its owner"
#: The password changed: every other session (and login under way) ends.
CREDENTIALS_CHANGED = "the account's password was changed"
#: The account was deleted.
REMOVED = "this account has been removed"

MIN_PASSWORD_LENGTH = 8


class AccountError(ValueError):
    """An account operation was refused; ``condition`` is the matching stanza error."""

    def __init__(self, message: str, condition: str) -> None:
        super().__init__(message)
        self.condition = condition


def check_new_password(password: str) -> None:
    """Refuse passwords that are too short or contain control characters."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters", "not-acceptable"
        )
    if any(ord(c) < 0x20 for c in password):
        raise AccountError("the password contains control characters", "not-acceptable")


def account_jid(text: str) -> JID:
    """Parse a user's bare JID (``user@domain``); raise AccountError if it is not one."""
    try:
        jid = JID.parse(text)
    except InvalidJID as exc:
        raise AccountError(f"'{text}' is not a valid address: {exc}", "jid-malformed") from None
    if jid.local is None or jid.resource is not None:
        raise AccountError(
            f"'{text}' is not a user address of the form user@domain", "jid-malformed"
        )
    return jid


@dataclass(frozen=True, slots=True)
class AccountState:
    """One account as the login and the account modules need it."""

    #: The SCRAM verifiers, or None if the account has none (or is locked).
    scram: dict[str, Any] | None
    #: When its owner revoked it (Unix time), or None.
    revoked: float | None
    #: SHA-256 of the owner's revocation token, if one was registered.
    revocation_verifier: bytes | None

    @property
    def disabled(self) -> str:
        """Why the account may not log in, or "" if it may."""
        return f"{REVOKED}; it cannot be used again" if self.revoked is not None else ""


class Accounts:
    """The ``accounts`` store: one record per bare JID."""

    def __init__(self, driver: StorageDriver) -> None:
        self._driver = driver
        self._store = driver.kv("accounts")
        self._record_locks: weakref.WeakValueDictionary[JID, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._locks: weakref.WeakValueDictionary[JID, asyncio.Lock] = weakref.WeakValueDictionary()

    def guard(self, jid: JID) -> asyncio.Lock:
        """Hold this while deciding on and changing the account's credentials or state.

        A password change and a revocation each check something first (the session that
        asks, the token); holding the lock keeps the other from slipping in between.
        """
        return _lock_in(self._locks, jid.bare)

    async def state(self, jid: JID) -> AccountState | None:
        """The account's state, or None if it does not exist."""
        value = await self._store.get(str(jid.bare))
        if not isinstance(value, dict):
            return None
        scram = value.get("scram")
        revoked = value.get("revoked")
        verifier = value.get("revocation_verifier")
        return AccountState(
            scram=scram if isinstance(scram, dict) and not value.get("locked") else None,
            revoked=float(revoked) if isinstance(revoked, int | float) else None,
            revocation_verifier=base64.b64decode(verifier) if isinstance(verifier, str) else None,
        )

    async def is_revoked(self, jid: JID) -> bool:
        """True if the account's owner revoked it."""
        state = await self.state(jid)
        return state is not None and state.revoked is not None

    async def check_password(self, jid: JID, password: str) -> bool:
        """True if ``password`` is the account's (checked against its SCRAM verifier)."""
        state = await self.state(jid)
        if state is None or state.scram is None:
            return False
        return await asyncio.to_thread(check_password, state.scram, password)

    async def exists(self, jid: JID) -> bool:
        """True if the account exists (locked or not)."""
        return await self._store.get(str(jid.bare)) is not None

    async def create(self, jid: JID, password: str) -> None:
        """Create the account; AccountError('conflict') if it exists."""
        check_new_password(password)
        if await self.exists(jid):
            raise AccountError(f"the account {jid.bare} already exists", "conflict")
        verifiers = await asyncio.to_thread(make_verifiers, password)
        await self._store.set(str(jid.bare), {"scram": verifiers, "created": time.time()})

    async def set_password(self, jid: JID, password: str) -> None:
        """Replace the account's verifiers; AccountError('item-not-found') if absent,
        AccountError('forbidden') if the account was revoked."""
        check_new_password(password)
        verifiers = await asyncio.to_thread(make_verifiers, password)

        def change(value: dict[str, Any]) -> None:
            if value.get("revoked") is not None:
                raise AccountError(f"{REVOKED}; no password will let it log in again", "forbidden")
            value["scram"] = verifiers

        await self._update(jid, change)

    async def set_revocation_verifier(self, jid: JID, verifier: bytes) -> None:
        """Register SHA-256 of the owner's revocation token, once.

        The same verifier again changes nothing; AccountError('conflict') if another one is
        registered, AccountError('forbidden') if the account is already revoked.
        """
        encoded = base64.b64encode(verifier).decode()

        def change(value: dict[str, Any]) -> None:
            if value.get("revoked") is not None:
                raise AccountError(REVOKED, "forbidden")
            known = value.get("revocation_verifier")
            if known is not None and known != encoded:
                raise AccountError(
                    "a different revocation verifier is already registered for this account; "
                    "it cannot be replaced",
                    "conflict",
                )
            value["revocation_verifier"] = encoded

        await self._update(jid, change)

    async def revoke(self, jid: JID) -> None:
        """Mark the account revoked by its owner, for good (a second call changes nothing)."""

        def change(value: dict[str, Any]) -> None:
            value.setdefault("revoked", time.time())

        await self._update(jid, change)

    async def lock(self, jid: JID) -> None:
        """Refuse all further logins to the account (kept for its JID not to be reused)."""

        def change(value: dict[str, Any]) -> None:
            value["locked"] = True

        await self._update(jid, change)

    async def _update(self, jid: JID, change: Callable[[dict[str, Any]], None]) -> None:
        # Read, change and write one record with nothing else writing it in between: a
        # password change that read the record before a revocation must not write back a
        # record without it.
        async with _lock_in(self._record_locks, jid.bare):
            value = await self._store.get(str(jid.bare))
            if not isinstance(value, dict):
                raise AccountError(f"the account {jid.bare} does not exist", "item-not-found")
            change(value)
            await self._store.set(str(jid.bare), value)

    async def delete(self, jid: JID) -> None:
        """Delete the account and everything stored for it."""
        if not await self.exists(jid):
            raise AccountError(f"the account {jid.bare} does not exist", "item-not-found")
        await self._driver.delete_owner(str(jid.bare))
        await self._store.set(str(jid.bare), None)

    async def users(self) -> list[str]:
        """Every account's bare JID, sorted."""
        return await self._store.owners()


def _lock_in(locks: weakref.WeakValueDictionary[JID, asyncio.Lock], key: JID) -> asyncio.Lock:
    # Kept only while someone holds or waits for it, so idle accounts cost nothing.
    lock = locks.get(key)
    if lock is None:
        lock = asyncio.Lock()
        locks[key] = lock
    return lock

"""User accounts: creation, passwords (as SCRAM verifiers only), deletion, locking."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.sasl import make_verifiers
from ironwall.storage import StorageDriver

__all__ = ["MIN_PASSWORD_LENGTH", "AccountError", "Accounts"]

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


class Accounts:
    """The ``accounts`` store: one record per bare JID."""

    def __init__(self, driver: StorageDriver) -> None:
        self._driver = driver
        self._store = driver.kv("accounts")

    async def record(self, jid: JID) -> dict[str, Any] | None:
        """The account's SCRAM verifiers, or None if it does not exist or is locked."""
        value = await self._store.get(str(jid.bare))
        if not isinstance(value, dict) or value.get("locked"):
            return None
        scram = value.get("scram")
        return scram if isinstance(scram, dict) else None

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
        """Replace the account's verifiers; AccountError('item-not-found') if absent."""
        check_new_password(password)
        value = await self._store.get(str(jid.bare))
        if not isinstance(value, dict):
            raise AccountError(f"the account {jid.bare} does not exist", "item-not-found")
        value["scram"] = await asyncio.to_thread(make_verifiers, password)
        await self._store.set(str(jid.bare), value)

    async def lock(self, jid: JID) -> None:
        """Refuse all further logins to the account (kept for its JID not to be reused)."""
        value = await self._store.get(str(jid.bare))
        if not isinstance(value, dict):
            raise AccountError(f"the account {jid.bare} does not exist", "item-not-found")
        value["locked"] = True
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

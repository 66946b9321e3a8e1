"""Invites: single-use, expiring tokens that let someone register (XEP-0401/XEP-0445 URIs).

The recommended way to open a server to new users without opening it to bots, as
Prosody's mod_invites does: ``ironwall admin invite`` prints
``xmpp:DOMAIN?register;preauth=TOKEN`` (``xmpp:NAME@DOMAIN?...`` for an invite that names
the account), the invitee's client sends the token before registering.

A token is a 12-character selector and a 32-character secret (264 random bits in all,
URL-safe). The server stores, in the ``invites`` map store under the domain, only the
selector and a SHA-256 of the whole token: someone who reads the database cannot use an
invite. A presented token is looked up by its selector and its hash compared in constant
time. An invite for a named account reserves that name until it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from ironwall.storage import JSONValue, StorageDriver

__all__ = ["Invite", "InviteError", "Invites", "invite_uri"]

_SELECTOR_BYTES = 9  # 12 URL-safe characters
_SECRET_BYTES = 24  # 32 URL-safe characters
_SELECTOR_LENGTH = 12


class InviteError(ValueError):
    """A token was refused; ``condition`` is the stanza error, the message says why."""

    def __init__(self, message: str, condition: str = "item-not-found") -> None:
        super().__init__(message)
        self.condition = condition


@dataclass(frozen=True)
class Invite:
    """An invite as stored (without its token)."""

    domain: str
    selector: str
    account: str | None
    expires: float
    uses_left: int


def invite_uri(domain: str, token: str, account: str | None = None) -> str:
    """The XEP-0401 registration URI for ``token``."""
    where = domain if account is None else f"{account}@{domain}"
    return f"xmpp:{where}?register;preauth={token}"


class Invites:
    """The invites of every served domain."""

    def __init__(self, driver: StorageDriver) -> None:
        self._store = driver.map("invites")

    async def create(
        self, domain: str, *, account: str | None = None, hours: float = 168.0, uses: int = 1
    ) -> str:
        """Store a new invite and return its token (shown once, never stored)."""
        if hours <= 0:
            raise InviteError("an invite must be valid for some time: give hours above 0")
        if uses < 1:
            raise InviteError("an invite must allow at least one registration")
        await self._drop_expired(domain)
        selector = secrets.token_urlsafe(_SELECTOR_BYTES)
        token = selector + secrets.token_urlsafe(_SECRET_BYTES)
        record: dict[str, JSONValue] = {
            "hash": _digest(token),
            "account": account,
            "created": time.time(),
            "expires": time.time() + hours * 3600,
            "uses_left": uses,
        }
        await self._store.set(domain, selector, record)
        return token

    async def check(self, domain: str, token: str) -> Invite:
        """The valid invite ``token`` names on ``domain``; InviteError says why not."""
        selector = token[:_SELECTOR_LENGTH]
        record = await self._store.get(domain, selector) if len(token) > _SELECTOR_LENGTH else None
        if not isinstance(record, dict) or not hmac.compare_digest(
            str(record.get("hash", "")), _digest(token)
        ):
            raise InviteError("this invite is not valid on this server; check the link")
        invite = _invite(domain, selector, record)
        if invite.expires <= time.time():
            raise InviteError("this invite has expired; ask for a new one")
        if invite.uses_left <= 0:
            raise InviteError("this invite has already been used; ask for a new one")
        return invite

    async def use(self, invite: Invite) -> Invite:
        """Take one use of ``invite``; InviteError if none is left (used meanwhile)."""
        return await self._change_uses(invite, -1)

    async def give_back(self, invite: Invite) -> None:
        """Return a use taken by ``use`` for a registration that failed after all."""
        await self._change_uses(invite, +1)

    async def _change_uses(self, invite: Invite, change: int) -> Invite:
        record = await self._store.get(invite.domain, invite.selector)
        if not isinstance(record, dict):
            raise InviteError("this invite is not valid on this server; check the link")
        uses_left = _invite(invite.domain, invite.selector, record).uses_left + change
        if uses_left < 0:
            raise InviteError("this invite has already been used; ask for a new one")
        record["uses_left"] = uses_left
        # A used-up invite is kept until it expires, so that it is refused as "used".
        await self._store.set(invite.domain, invite.selector, record)
        return _invite(invite.domain, invite.selector, record)

    async def reserved_by(self, domain: str, account: str) -> Invite | None:
        """An unexpired invite with uses left that names ``account``, if any."""
        now = time.time()
        for selector, record in (await self._store.get_all(domain)).items():
            if isinstance(record, dict) and record.get("account") == account:
                invite = _invite(domain, selector, record)
                if invite.expires > now and invite.uses_left > 0:
                    return invite
        return None

    async def _drop_expired(self, domain: str) -> None:
        now = time.time()
        for selector, record in (await self._store.get_all(domain)).items():
            if not isinstance(record, dict) or _invite(domain, selector, record).expires <= now:
                await self._store.set(domain, selector, None)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _invite(domain: str, selector: str, record: dict[str, JSONValue]) -> Invite:
    account, expires, uses_left = (record.get(k) for k in ("account", "expires", "uses_left"))
    return Invite(
        domain=domain,
        selector=selector,
        account=account if isinstance(account, str) else None,
        expires=float(expires) if isinstance(expires, int | float) else 0.0,
        uses_left=uses_left if isinstance(uses_left, int) else 0,
    )

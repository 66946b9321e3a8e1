"""Account revocation (``urn:ironwall:account:0``): a compromised account is shut out.

An Ironwall extension; the wire format is in ``spec/server.md``. The owner registers,
once, the SHA-256 of a 256-bit revocation token it keeps offline; presenting the token
later revokes the account even from a session an attacker also holds. Revocation is
permanent: the account record is marked revoked, every session (parked ones too) ends
with ``not-authorized``, every login fails with ``account-disabled``, and the account's
PEP service and XEP-0077 refuse every change, while its PEP nodes stay served to
others under their access models, so contacts keep fetching the revoked key.

Hand-written: it is our own protocol over our own account store.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from xml.etree.ElementTree import Element

from ironwall.proto import ns
from ironwall.proto.stanza import iq_result, tag
from ironwall.server.accounts import REVOKED, AccountError
from ironwall.server.events import PRE_ROUTE, iq
from ironwall.server.module import Module
from ironwall.server.router import StanzaEvent

__all__ = ["ACCOUNT", "MODULE", "Revocation"]

log = logging.getLogger(__name__)

ACCOUNT = "urn:ironwall:account:0"
_REVOCATION = tag(ACCOUNT, "revocation")
_REVOKE = tag(ACCOUNT, "revoke")
_DIGEST_BYTES = 32
_TOKEN_BYTES = 32
_IQ = tag(ns.CLIENT, "iq")
#: Requests a revoked account may no longer make to its own account: every change of
#: its PEP service (publish, retract, create, configure, delete, purge) and of its
#: registration (password, removal).
_FROZEN = frozenset(
    {
        "http://jabber.org/protocol/pubsub",
        "http://jabber.org/protocol/pubsub#owner",
        ns.REGISTER,
    }
)


class Revocation(Module):
    """Registers the revocation verifier, revokes, and keeps revoked accounts frozen."""

    name = "revocation"
    disco_features = (ACCOUNT,)

    async def start(self) -> None:
        """Hook the account requests, and a guard in front of every request to one's own account."""
        hooks = self.server.hooks
        for target in ("host", "self"):
            hooks.on(iq("get", target, ACCOUNT), self._query)
            hooks.on(iq("set", target, ACCOUNT), self._set)
        # Ahead of the modules that would make the change.
        hooks.on(PRE_ROUTE, self._guard, priority=100)

    # ----------------------------------------------------------- the guard

    async def _guard(self, event: StanzaEvent) -> bool:
        """Refuse a revoked account's changes to itself, also from a session in a race."""
        stanza = event.stanza
        if event.origin is None or stanza.tag != _IQ or stanza.get("type") != "set":
            return False
        if not len(stanza) or stanza[0].tag[1:].partition("}")[0] not in _FROZEN:
            return False
        if not _to_own_account(event) or not await self.server.accounts.is_revoked(event.sender):
            return False
        self.server.router.bounce(
            stanza, "forbidden", f"{REVOKED}: its keys and its password cannot be changed"
        )
        return True

    # ------------------------------------------------------------ requests

    async def _query(self, event: StanzaEvent) -> bool:
        if not _to_own_account(event):
            return False
        if event.stanza[0].tag != _REVOCATION:
            self.server.router.bounce(
                event.stanza, "bad-request", "ask with <revocation/> in an iq of type 'get'"
            )
            return True
        state = await self.server.accounts.state(event.sender)
        registered = state is not None and state.revocation_verifier is not None
        answer = Element(_REVOCATION, {"verifier": "true" if registered else "false"})
        self.server.router.deliver_local(iq_result(event.stanza, answer))
        return True

    async def _set(self, event: StanzaEvent) -> bool:
        if not _to_own_account(event):
            return False
        payload = event.stanza[0]
        try:
            if payload.tag == _REVOCATION:
                await self._register(event, payload)
            elif payload.tag == _REVOKE:
                await self._revoke(event, payload)
            else:
                raise AccountError(
                    "send <revocation><verifier/></revocation> or <revoke><token/></revoke>",
                    "bad-request",
                )
        except AccountError as exc:
            self.server.router.bounce(event.stanza, exc.condition, str(exc))
        return True

    async def _register(self, event: StanzaEvent, payload: Element) -> None:
        verifier = _decoded(
            payload.findtext(tag(ACCOUNT, "verifier")),
            _DIGEST_BYTES,
            "the verifier must be the base64 of a SHA-256 digest (32 bytes)",
        )
        await self.server.accounts.set_revocation_verifier(event.sender.bare, verifier)
        log.info("revocation verifier of %s registered", event.sender.bare)
        self.server.router.deliver_local(iq_result(event.stanza))

    async def _revoke(self, event: StanzaEvent, payload: Element) -> None:
        account = event.sender.bare
        origin = event.origin
        token = _decoded(
            payload.findtext(tag(ACCOUNT, "token")),
            _TOKEN_BYTES,
            "the token must be the base64 of the 32-byte revocation token",
        )
        accounts = self.server.accounts
        limits = self.server.failed_logins
        address = origin.address if origin is not None else "local"
        async with accounts.guard(account):
            state = await accounts.state(account)
            if state is None:
                raise AccountError(f"the account {account} does not exist", "item-not-found")
            if state.revocation_verifier is not None:
                # Counted like a login: a wrong token is a guess (of 256 bits, but still).
                refusal = limits.refusal(address, str(account))
                if refusal is not None:
                    raise AccountError(refusal, "policy-violation")
                digest = hashlib.sha256(token).digest()
                if not hmac.compare_digest(digest, state.revocation_verifier):
                    limits.failed(address, str(account))
                    log.info("revocation of %s from %s: wrong token", account, address)
                    raise AccountError(
                        "the token does not match the revocation verifier registered for this "
                        "account; nothing was changed",
                        "not-authorized",
                    )
            await accounts.revoke(account)
            log.warning("account %s revoked by its owner (from %s)", account, address)
            self.server.router.deliver_local(iq_result(event.stanza))
            # The requesting session too: its result is queued ahead of the stream error.
            await self.server.end_sessions(account, "not-authorized", REVOKED)


def _to_own_account(event: StanzaEvent) -> bool:
    """Addressed to the sender's own account: no ``to``, its bare JID, or its server."""
    to = event.to
    if to is None:
        return True
    if to.local is None:
        return to.resource is None and to.domain == event.sender.domain
    return to.bare == event.sender.bare


def _decoded(text: str | None, size: int, error: str) -> bytes:
    try:
        value = base64.b64decode((text or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise AccountError(error, "bad-request") from None
    if len(value) != size:
        raise AccountError(error, "bad-request")
    return value


MODULE = Revocation

"""XEP-0445 Pre-Authenticated In-Band Registration: registering with an invite.

An invite (``ironwall admin invite``, stored by ``invite_tokens.py``) reaches the invitee
as ``xmpp:DOMAIN?register;preauth=TOKEN``. Before registering, the client sends
``<iq type='set'><preauth xmlns='urn:xmpp:pars:0' token='TOKEN'/></iq>`` on the stream
that has not logged in; the server checks the token then (an expiry is checked only
there) and remembers it for that stream. Clients that know no XEP-0445 may give the
token as the ``token`` field of the registration form instead. A use of the invite is
taken when the account is created, and given back if creating it fails; an invite for
a named account registers only that name, and no one else may register it while the
invite is valid.

Where ``registration = "invite"``, nothing else registers (``registration_policy.py``). Advertised
before login as the ``urn:xmpp:ibr-token:0`` stream feature (XEP-0445) and
``urn:xmpp:invite`` (what Prosody and Conversations use).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from xml.etree.ElementTree import Element

from ironwall.proto import ns
from ironwall.proto.stanza import error_reply, iq_result, tag
from ironwall.server.connection import ClientConnection, PreAuthRequest
from ironwall.server.events import ACCOUNT_REGISTERING, preauth_iq
from ironwall.server.invite_tokens import Invite, InviteError, Invites
from ironwall.server.module import Module
from ironwall.server.registration_policy import RegistrationAttempt

__all__ = ["MODULE", "InviteRegistration"]

log = logging.getLogger(__name__)

_PREAUTH = tag(ns.PARS, "preauth")


class InviteRegistration(Module):
    """Invite tokens before login, and the invite taken for each registration."""

    name = "invites"
    preauth_namespaces = (ns.PARS,)

    async def start(self) -> None:
        """Hook the token request and the registrations."""
        self._invites = Invites(self.server.storage)
        #: The invite each stream that has not logged in presented, while it lives.
        self._presented: weakref.WeakKeyDictionary[ClientConnection, Invite] = (
            weakref.WeakKeyDictionary()
        )
        # Checking an invite and taking a use of it is one step, or two registrations
        # could both take the last use.
        self._taking = asyncio.Lock()
        hooks = self.server.hooks
        hooks.on(preauth_iq(ns.PARS), self._on_token)
        hooks.on(ACCOUNT_REGISTERING, self._on_registering)

    def preauth_features(self, domain: str) -> list[Element]:
        """XEP-0445's stream feature, and the older one clients look for."""
        return [
            Element(tag("urn:xmpp:ibr-token:0", "register")),
            Element(tag("urn:xmpp:invite", "register")),
        ]

    async def _on_token(self, request: PreAuthRequest) -> bool:
        stanza = request.stanza
        element = stanza[0]
        token = element.get("token") or ""
        if element.tag != _PREAUTH or not token:
            request.reply(_error(stanza, "bad-request", "send <preauth token='...'/>"))
            return True
        try:
            invite = await self._invites.check(request.domain, token)
        except InviteError as exc:
            log.info("invalid invite token from %s", request.connection.address)
            request.reply(_error(stanza, exc.condition, str(exc)))
            return True
        self._presented[request.connection] = invite
        request.reply(iq_result(stanza))
        return True

    async def _on_registering(self, attempt: RegistrationAttempt) -> bool:
        domain, name = attempt.jid.domain, attempt.jid.local or ""
        async with self._taking:
            invite = self._presented.get(attempt.request.connection)
            try:
                if attempt.token is not None:
                    invite = await self._invites.check(domain, attempt.token)
                if invite is None:
                    if await self._invites.reserved_by(domain, name) is not None:
                        attempt.refuse(
                            "conflict",
                            "this username is kept for someone who was invited; choose another",
                        )
                    return False
                if invite.account not in (None, name):
                    attempt.refuse(
                        "not-acceptable",
                        f"this invite is for the account {invite.account}@{domain}",
                    )
                    return False
                if invite.account is None and await self._invites.reserved_by(domain, name):
                    attempt.refuse(
                        "conflict",
                        "this username is kept for someone who was invited; choose another",
                    )
                    return False
                taken = await self._invites.use(invite)
            except InviteError as exc:
                attempt.refuse(exc.condition, str(exc))
                return False

        async def give_back() -> None:
            async with self._taking:
                await self._invites.give_back(taken)

        attempt.invited = True
        attempt.undo.append(give_back)
        return False


def _error(stanza: Element, condition: str, text: str) -> Element:
    reply = error_reply(stanza, condition, text)
    assert reply is not None
    return reply


MODULE = InviteRegistration

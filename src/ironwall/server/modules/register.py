"""XEP-0077 In-Band Registration: create an account, change its password, remove it."""

from __future__ import annotations

import logging
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.stanza import error_reply, iq_result, tag
from ironwall.server.accounts import AccountError
from ironwall.server.connection import PreAuthRequest
from ironwall.server.module import Module
from ironwall.server.modules.registration_policy import (
    RegistrationAttempt,
    RegistrationLimits,
    add_invite_form,
    submitted_fields,
)
from ironwall.server.router import StanzaEvent

__all__ = ["MODULE", "Register"]

log = logging.getLogger(__name__)

_QUERY = tag(ns.REGISTER, "query")


def _field(query: Element, name: str) -> str | None:
    element = query.find(tag(ns.REGISTER, name))
    return None if element is None else (element.text or "")


class Register(Module):
    """Registration before login (if open for the domain), password change and removal after."""

    name = "register"
    disco_features = (ns.REGISTER,)

    async def start(self) -> None:
        """Hook registration requests, before and after login."""
        self._limits = RegistrationLimits(self.server.config.limits)
        hooks = self.server.hooks
        hooks.on(f"iq-preauth/{ns.REGISTER}", self._preauth)
        for target in ("host", "self"):
            hooks.on(f"iq-get/{target}/{ns.REGISTER}", self._get_registered)
            hooks.on(f"iq-set/{target}/{ns.REGISTER}", self._set_registered)

    def _form(self, registered_as: str | None = None) -> Element:
        query = Element(_QUERY)
        if registered_as is not None:
            SubElement(query, tag(ns.REGISTER, "registered"))
            SubElement(query, tag(ns.REGISTER, "username")).text = registered_as
        else:
            SubElement(
                query, tag(ns.REGISTER, "instructions")
            ).text = "Choose a username and a password of at least 8 characters."
            SubElement(query, tag(ns.REGISTER, "username"))
        SubElement(query, tag(ns.REGISTER, "password"))
        return query

    async def _preauth(self, request: PreAuthRequest) -> bool:
        # Who may register is registration_policy.py's: modes, limits, invites.
        stanza = request.stanza
        query = stanza[0]
        invite_only = self.server.config.registration_mode(request.domain) == "invite"
        if stanza.get("type") == "get":
            form = self._form()
            if invite_only:
                add_invite_form(form)
            request.reply(iq_result(stanza, form))
            return True
        if query.find(tag(ns.REGISTER, "remove")) is not None:
            request.reply(_error(stanza, "not-allowed", "log in before removing an account"))
            return True
        fields = submitted_fields(query)
        username, password = fields.get("username"), fields.get("password")
        if not username or not password:
            request.reply(
                _error(stanza, "not-acceptable", "a username and a password are required")
            )
            return True
        try:
            jid = JID.build(username, request.domain)
        except InvalidJID as exc:
            request.reply(_error(stanza, "jid-malformed", f"invalid username: {exc}"))
            return True
        attempt = RegistrationAttempt(request, jid, fields.get("token") or None)
        await self.server.hooks.fire("account-registering", attempt)
        if attempt.refusal is None and invite_only and not attempt.invited:
            attempt.refuse(
                "not-allowed",
                "this server registers accounts only with an invite; ask its administrator "
                "for an invite link",
            )
        if attempt.refusal is None and not attempt.invited:
            self._limits.count(attempt)
        if attempt.refusal is None:
            try:
                await self.server.accounts.create(jid, password)
            except AccountError as exc:
                attempt.refuse(exc.condition, str(exc))
        if attempt.refusal is not None:
            for undo in reversed(attempt.undo):
                await undo()
            request.reply(_error(stanza, *attempt.refusal))
            return True
        how = "with an invite " if attempt.invited else ""
        log.info("account %s registered %sfrom %s", jid, how, request.connection.address)
        request.reply(iq_result(stanza))
        return True

    async def _get_registered(self, event: StanzaEvent) -> bool:
        if not self._own(event):
            return False
        assert event.sender.local is not None
        self.server.router.deliver_local(iq_result(event.stanza, self._form(event.sender.local)))
        return True

    async def _set_registered(self, event: StanzaEvent) -> bool:
        if not self._own(event):
            return False
        stanza, query = event.stanza, event.stanza[0]
        account = event.sender.bare
        router = self.server.router
        if query.find(tag(ns.REGISTER, "remove")) is not None:
            await self.server.hooks.fire("account-deleting", account)
            await self.server.accounts.delete(account)
            log.info("account %s removed by its owner", account)
            router.deliver_local(iq_result(stanza))
            for session in router.resources(account):
                session.close("not-authorized", "this account has been removed")
            return True
        username, password = _field(query, "username"), _field(query, "password")
        if username is not None and username != account.local:
            router.bounce(stanza, "bad-request", "the username is not the logged-in account")
            return True
        if not password:
            router.bounce(stanza, "not-acceptable", "a new password is required")
            return True
        try:
            await self.server.accounts.set_password(account, password)
        except AccountError as exc:
            router.bounce(stanza, exc.condition, str(exc))
            return True
        log.info("password of %s changed", account)
        router.deliver_local(iq_result(stanza))
        return True

    def _own(self, event: StanzaEvent) -> bool:
        to = event.to
        return (
            to is None
            or to == event.sender.bare
            or (to.local is None and to.domain == event.sender.domain)
        )


def _error(stanza: Element, condition: str, text: str) -> Element:
    reply = error_reply(stanza, condition, text)
    assert reply is not None
    return reply


MODULE = Register

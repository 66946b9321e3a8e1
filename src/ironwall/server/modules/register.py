"""XEP-0077 In-Band Registration: create an account, change its password, remove it.

A password change is accepted from a session that logged in less than
``limits.password_change_window`` seconds ago, or with the §3.3 data form carrying the
old password; otherwise it is refused with that form in the error. A session someone
took over (a stolen device, a hijacked connection) so cannot set a password of its own
long after its login. After a change every other session of the account ends.
"""

from __future__ import annotations

import logging
import time
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.stanza import error_reply, iq_result, tag
from ironwall.server.accounts import CREDENTIALS_CHANGED, REMOVED, AccountError
from ironwall.server.connection import PreAuthRequest
from ironwall.server.events import ACCOUNT_REGISTERING, iq, preauth_iq
from ironwall.server.module import Module
from ironwall.server.registration_policy import (
    RegistrationAttempt,
    RegistrationLimits,
    add_invite_form,
    submitted_fields,
)
from ironwall.server.router import StanzaEvent

__all__ = ["MODULE", "Register"]

log = logging.getLogger(__name__)

_QUERY = tag(ns.REGISTER, "query")
_DATA = "jabber:x:data"
_CHANGE_FORM_TYPE = "jabber:iq:register:changepassword"


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
        hooks.on(preauth_iq(ns.REGISTER), self._preauth)
        for target in ("host", "self"):
            hooks.on(iq("get", target, ns.REGISTER), self._get_registered)
            hooks.on(iq("set", target, ns.REGISTER), self._set_registered)

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
        await self.server.hooks.fire(ACCOUNT_REGISTERING, attempt)
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
        try:
            if query.find(tag(ns.REGISTER, "remove")) is not None:
                await self.server.delete_account(account)
                log.info("account %s removed by its owner", account)
                router.deliver_local(iq_result(stanza))
                await self.server.end_sessions(account, "not-authorized", REMOVED)
            else:
                await self._change_password(event, query)
        except AccountError as exc:
            router.bounce(stanza, exc.condition, str(exc))
        return True

    async def _change_password(self, event: StanzaEvent, query: Element) -> None:
        stanza, origin, account = event.stanza, event.origin, event.sender.bare
        form = query.find(tag(_DATA, "x"))
        old: str | None = None
        if form is not None:
            fields = _form_fields(form)
            if fields.get("FORM_TYPE") != _CHANGE_FORM_TYPE:
                raise AccountError(f"the form is not a {_CHANGE_FORM_TYPE} form", "bad-request")
            username, old, password = (
                fields.get("username"),
                fields.get("old_password"),
                fields.get("password"),
            )
        else:
            username, password = _field(query, "username"), _field(query, "password")
        if username is not None and username not in (account.local, str(account)):
            raise AccountError("the username is not the logged-in account", "bad-request")
        if not password:
            raise AccountError("a new password is required", "not-acceptable")
        if origin is None:
            raise AccountError("only a session of the account may change its password", "forbidden")
        if old is None:
            window = self.server.config.limits.password_change_window
            if time.monotonic() - origin.authenticated_at >= window:
                self._ask_for_old_password(
                    stanza,
                    f"this session logged in more than {window:g} seconds ago: send the old "
                    "password in the form, or log in again and change it at once",
                )
                return
        elif not await self._old_password_matches(origin.address, account, old):
            self._ask_for_old_password(stanza, "the old password is wrong")
            return
        accounts = self.server.accounts
        async with accounts.guard(account):
            if origin.closed:
                # Another change or a revocation ended this session while it waited.
                return
            await accounts.set_password(account, password)
            log.info("password of %s changed", account)
            self.server.router.deliver_local(iq_result(stanza))
            await self.server.end_sessions(account, "reset", CREDENTIALS_CHANGED, keep=origin)

    async def _old_password_matches(self, address: str, account: JID, old: str) -> bool:
        # Guessed like a login, so limited like one: a taken-over session must not be
        # able to try passwords faster than a login could.
        limits = self.server.failed_logins
        refusal = limits.refusal(address, str(account))
        if refusal is not None:
            raise AccountError(refusal, "policy-violation")
        if await self.server.accounts.check_password(account, old):
            return True
        limits.failed(address, str(account))
        log.info("password change for %s from %s: wrong old password", account, address)
        return False

    def _ask_for_old_password(self, stanza: Element, text: str) -> None:
        """XEP-0077 §3.3: refuse with ``not-authorized`` and the form that would be accepted."""
        reply = _error(stanza, "not-authorized", text)
        # The type XEP-0077's example gives: the request can be sent again, completed.
        reply[-1].set("type", "modify")
        query = Element(_QUERY)
        query.append(_change_password_form())
        reply.insert(0, query)
        self.server.router.deliver_local(reply)

    def _own(self, event: StanzaEvent) -> bool:
        to = event.to
        return (
            to is None
            or to == event.sender.bare
            or (to.local is None and to.domain == event.sender.domain)
        )


def _form_fields(form: Element) -> dict[str, str]:
    """The first value of each field of a XEP-0004 form."""
    fields = {}
    for field in form.findall(tag(_DATA, "field")):
        var = field.get("var")
        if var and var not in fields:
            fields[var] = field.findtext(tag(_DATA, "value")) or ""
    return fields


def _change_password_form() -> Element:
    form = Element(tag(_DATA, "x"), {"type": "form"})
    SubElement(form, tag(_DATA, "title")).text = "Password Change"
    SubElement(
        form, tag(_DATA, "instructions")
    ).text = "Give the old password to change it, or log in again and change it at once."
    hidden = SubElement(form, tag(_DATA, "field"), {"type": "hidden", "var": "FORM_TYPE"})
    SubElement(hidden, tag(_DATA, "value")).text = _CHANGE_FORM_TYPE
    for var, kind, label in (
        ("username", "text-single", "Username"),
        ("old_password", "text-private", "Old Password"),
        ("password", "text-private", "New Password"),
    ):
        field = SubElement(form, tag(_DATA, "field"), {"type": kind, "label": label, "var": var})
        SubElement(field, tag(_DATA, "required"))
    return form


def _error(stanza: Element, condition: str, text: str) -> Element:
    reply = error_reply(stanza, condition, text)
    assert reply is not None
    return reply


MODULE = Register

"""XEP-0077 In-Band Registration: create an account, change its password, remove it.

Registration before login follows the domain's mode (``registration`` in the
configuration): ``open``, ``invite`` (only with an invite, ``invites.py``) or closed.
Registrations without an invite are limited per address and in all
(``limits.max_registrations_per_address``, ``limits.max_registrations`` per
``limits.registration_window`` seconds, sliding): one connection once made 300 accounts
in 3.5 s. Before an account is created, ``account-registering`` is fired with a
``RegistrationAttempt`` that a handler may refuse or mark as invited.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.stanza import error_reply, iq_result, tag
from ironwall.server.accounts import AccountError
from ironwall.server.connection import PreAuthRequest
from ironwall.server.module import Module
from ironwall.server.ratelimit import SlidingWindow
from ironwall.server.router import StanzaEvent

__all__ = ["MODULE", "Register", "RegistrationAttempt"]

log = logging.getLogger(__name__)

_QUERY = tag(ns.REGISTER, "query")
_DATA = "jabber:x:data"


@dataclass
class RegistrationAttempt:
    """An in-band registration about to create ``jid``; handlers of
    ``account-registering`` may refuse it, or take an invite for it."""

    request: PreAuthRequest
    jid: JID
    #: The invite token given as a registration form field, if any.
    token: str | None
    invited: bool = False
    refusal: tuple[str, str] | None = None
    #: What to take back if the account is not created after all.
    undo: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def refuse(self, condition: str, text: str) -> None:
        """Refuse the registration with a stanza error."""
        if self.refusal is None:
            self.refusal = (condition, text)


def _field(query: Element, name: str) -> str | None:
    element = query.find(tag(ns.REGISTER, name))
    return None if element is None else (element.text or "")


class Register(Module):
    """Registration before login (if open for the domain), password change and removal after."""

    name = "register"
    disco_features = (ns.REGISTER,)

    async def start(self) -> None:
        """Hook registration requests, before and after login."""
        limits = self.server.config.limits
        window = limits.registration_window
        self._per_address: SlidingWindow[str] = SlidingWindow(
            limits.max_registrations_per_address, window
        )
        self._overall: SlidingWindow[str] = SlidingWindow(limits.max_registrations, window)
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
        stanza = request.stanza
        query = stanza[0]
        invite_only = self.server.config.registration_mode(request.domain) == "invite"
        if stanza.get("type") == "get":
            request.reply(iq_result(stanza, self._preauth_form(invite_only=invite_only)))
            return True
        if query.find(tag(ns.REGISTER, "remove")) is not None:
            request.reply(_error(stanza, "not-allowed", "log in before removing an account"))
            return True
        fields = _submitted(query)
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
            self._count(attempt)
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

    def _count(self, attempt: RegistrationAttempt) -> None:
        """Count a registration without an invite, or refuse it when over a limit."""
        address = attempt.request.connection.address
        if not self._per_address.allow(address):
            wait = _minutes(self._per_address.retry_after(address))
            attempt.refuse(
                "policy-violation",
                f"too many accounts were registered from your address; try again in {wait}",
            )
            return
        if not self._overall.allow(""):
            self._per_address.undo(address)
            wait = _minutes(self._overall.retry_after(""))
            log.warning("in-band registrations are over the server's limit")
            attempt.refuse(
                "resource-constraint",
                "too many accounts are being registered on this server right now; try again "
                f"in {wait}, or ask its administrator for an invite",
            )
            return

        async def give_back() -> None:
            self._per_address.undo(address)
            self._overall.undo("")

        attempt.undo.append(give_back)

    def _preauth_form(self, *, invite_only: bool) -> Element:
        query = self._form()
        if invite_only:
            instructions = query.find(tag(ns.REGISTER, "instructions"))
            assert instructions is not None
            instructions.text = (
                "This server registers accounts only with an invite. Open the invite link, "
                "or give its token (after preauth=) and choose a username and a password "
                "of at least 8 characters."
            )
            # XEP-0004 form for clients that show forms: the token is a field of it.
            form = SubElement(query, tag(_DATA, "x"), {"type": "form"})
            SubElement(form, tag(_DATA, "title")).text = "Register with an invite"
            hidden = SubElement(form, tag(_DATA, "field"), {"var": "FORM_TYPE", "type": "hidden"})
            SubElement(hidden, tag(_DATA, "value")).text = ns.REGISTER
            for var, kind, label in (
                ("username", "text-single", "Username"),
                ("password", "text-private", "Password"),
                ("token", "text-single", "Invite token"),
            ):
                entry = SubElement(form, tag(_DATA, "field"), {"var": var, "type": kind})
                entry.set("label", label)
                SubElement(entry, tag(_DATA, "required"))
        return query

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


def _submitted(query: Element) -> dict[str, str]:
    """The registration's fields: a submitted XEP-0004 form, or XEP-0077's plain fields."""
    form = query.find(tag(_DATA, "x"))
    if form is not None and form.get("type") == "submit":
        return {
            var: entry.findtext(tag(_DATA, "value")) or ""
            for entry in form.findall(tag(_DATA, "field"))
            if (var := entry.get("var"))
        }
    fields = {}
    for name in ("username", "password", "token"):
        value = _field(query, name)
        if value is not None:
            fields[name] = value
    return fields


def _minutes(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _error(stanza: Element, condition: str, text: str) -> Element:
    reply = error_reply(stanza, condition, text)
    assert reply is not None
    return reply


MODULE = Register

"""Who may register in-band (XEP-0077 before login): modes, limits, and the attempt.

A domain's mode (``registration`` in the configuration) is ``open``, ``invite`` (only
with an invite: ``invites.py``) or closed. Registrations without an invite are limited
per remote address and in all (``limits.max_registrations_per_address`` and
``limits.max_registrations`` per ``limits.registration_window`` seconds, sliding
windows): one connection once registered 300 accounts in 3.5 s. Before ``register.py``
creates an account it fires ``account-registering`` with a ``RegistrationAttempt``,
which a handler may refuse or mark as invited.

This module has no ``MODULE``: it is a library of the ``register`` module.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.jid import JID
from ironwall.proto.stanza import tag
from ironwall.server.config import Limits
from ironwall.server.connection import PreAuthRequest
from ironwall.server.ratelimit import SlidingWindow

__all__ = ["RegistrationAttempt", "RegistrationLimits", "add_invite_form", "submitted_fields"]

log = logging.getLogger(__name__)

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
        """Refuse the registration with a stanza error (the first refusal stands)."""
        if self.refusal is None:
            self.refusal = (condition, text)


class RegistrationLimits:
    """The sliding windows for registrations without an invite."""

    def __init__(self, limits: Limits) -> None:
        window = limits.registration_window
        self._per_address: SlidingWindow[str] = SlidingWindow(
            limits.max_registrations_per_address, window
        )
        self._overall: SlidingWindow[str] = SlidingWindow(limits.max_registrations, window)

    def count(self, attempt: RegistrationAttempt) -> None:
        """Count the attempt, or refuse it when over a limit; a failure later gives it back."""
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


def add_invite_form(query: Element) -> None:
    """Say in the registration form that an invite is needed, with a field for its token.

    The XEP-0004 form is for clients that show forms and know no XEP-0445.
    """
    instructions = query.find(tag(ns.REGISTER, "instructions"))
    if instructions is None:
        instructions = SubElement(query, tag(ns.REGISTER, "instructions"))
    instructions.text = (
        "This server registers accounts only with an invite. Open the invite link, or give "
        "its token (after preauth=) and choose a username and a password of at least 8 "
        "characters."
    )
    form = SubElement(query, tag(_DATA, "x"), {"type": "form"})
    SubElement(form, tag(_DATA, "title")).text = "Register with an invite"
    hidden = SubElement(form, tag(_DATA, "field"), {"var": "FORM_TYPE", "type": "hidden"})
    SubElement(hidden, tag(_DATA, "value")).text = ns.REGISTER
    for var, kind, label in (
        ("username", "text-single", "Username"),
        ("password", "text-private", "Password"),
        ("token", "text-single", "Invite token"),
    ):
        entry = SubElement(form, tag(_DATA, "field"), {"var": var, "type": kind, "label": label})
        SubElement(entry, tag(_DATA, "required"))


def submitted_fields(query: Element) -> dict[str, str]:
    """The registration's fields: a submitted XEP-0004 form, or XEP-0077's plain fields."""
    form = query.find(tag(_DATA, "x"))
    if form is not None and form.get("type") == "submit":
        fields: dict[str, str] = {}
        for entry in form.findall(tag(_DATA, "field")):
            var = entry.get("var")
            if var and var not in fields:
                fields[var] = entry.findtext(tag(_DATA, "value")) or ""
        return fields
    plain = {}
    for name in ("username", "password", "token"):
        element = query.find(tag(ns.REGISTER, name))
        if element is not None:
            plain[name] = element.text or ""
    return plain


def _minutes(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"

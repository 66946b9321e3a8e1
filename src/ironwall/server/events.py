"""The server's events, each named with the type of what it carries.

A `Hook` is an event's name and, for the type checker, its payload type: ``hooks.on``
takes only a handler of that payload and ``hooks.fire`` only such a payload, so mypy
checks every handler against what fires it. Stanza routes are families of events named
by their parts (``iq("get", "self", ns.ROSTER)``); the rest are constants.

| event | payload | fired when |
|---|---|---|
| `PRE_ROUTE` | `StanzaEvent` | before any stanza is routed; True drops it (blocking, strangers) |
| `message_to(target)` | `StanzaEvent` | a message to a ``bare``/``full`` JID or the ``host`` |
| `MESSAGE_OFFLINE` | `StanzaEvent` | a message no session took: store it or bounce |
| `OFFLINE_REFUSED` | `StanzaEvent` | the offline store refused a message (full) |
| `presence_to(target)` | `StanzaEvent` | presence to ``bare``/``full``/``host``, or ``broadcast`` |
| `iq(kind, target, ns)` | `StanzaEvent` | an iq get/set to self/bare/full/host, by payload |
| `iq(kind, "host")` | `StanzaEvent` | an iq result or error to the host |
| `preauth_iq(ns)` | `PreAuthRequest` | an iq before login, where registration is open |
| `nonza(tag)` | `Nonza` | a top-level element a module declared (CSI) |
| `SESSION_BOUND` / `SESSION_CLOSED` | `Session` | a resource bound / a session ended |
| `PRESENCE_INITIAL` | `Session` | a session sent its first available presence |
| `ACCOUNT_REGISTERING` | `RegistrationAttempt` | in-band registration, before the account is made |
| `ACCOUNT_DELETING` | `JID` | before an account and its data are deleted |
| `DISCO_INFO_ACCOUNT` | `DiscoInfoQuery` | an account's disco#info is being answered |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from ironwall.proto.jid import JID
    from ironwall.server.connection import ClientConnection, PreAuthRequest
    from ironwall.server.registration_policy import RegistrationAttempt
    from ironwall.server.router import StanzaEvent
    from ironwall.server.session import Session

__all__ = [
    "ACCOUNT_DELETING",
    "ACCOUNT_REGISTERING",
    "DISCO_INFO_ACCOUNT",
    "MESSAGE_OFFLINE",
    "OFFLINE_REFUSED",
    "PRESENCE_INITIAL",
    "PRE_ROUTE",
    "SESSION_BOUND",
    "SESSION_CLOSED",
    "DiscoInfoQuery",
    "Hook",
    "Nonza",
    "iq",
    "message_to",
    "nonza",
    "preauth_iq",
    "presence_to",
]

PayloadT = TypeVar("PayloadT")


@dataclass(frozen=True)
class Hook(Generic[PayloadT]):
    """An event of the bus: its name, and (for the type checker) its payload's type."""

    name: str


@dataclass(frozen=True)
class Nonza:
    """A top-level element a bound stream sent (XEP-0352's ``<active/>``, ...)."""

    connection: ClientConnection
    element: Element


@dataclass(frozen=True)
class DiscoInfoQuery:
    """An account's disco#info answer being built: modules add to ``query``."""

    request: StanzaEvent
    query: Element


PRE_ROUTE: Hook[StanzaEvent] = Hook("pre-route")
MESSAGE_OFFLINE: Hook[StanzaEvent] = Hook("message/offline")
OFFLINE_REFUSED: Hook[StanzaEvent] = Hook("offline-refused")
SESSION_BOUND: Hook[Session] = Hook("session-bound")
SESSION_CLOSED: Hook[Session] = Hook("session-closed")
PRESENCE_INITIAL: Hook[Session] = Hook("presence-initial")
ACCOUNT_REGISTERING: Hook[RegistrationAttempt] = Hook("account-registering")
ACCOUNT_DELETING: Hook[JID] = Hook("account-deleting")
DISCO_INFO_ACCOUNT: Hook[DiscoInfoQuery] = Hook("disco-info/account")


def message_to(target: str) -> Hook[StanzaEvent]:
    """A message to a ``bare`` or ``full`` JID, or to the ``host``."""
    return Hook(f"message/{target}")


def presence_to(target: str) -> Hook[StanzaEvent]:
    """Presence to a ``bare`` or ``full`` JID or the ``host``, or a ``broadcast``."""
    return Hook(f"presence/{target}")


def iq(kind: str, target: str, namespace: str | None = None) -> Hook[StanzaEvent]:
    """An iq of ``kind`` to ``target`` (``self``, ``bare``, ``full``, ``host``) by its
    payload's namespace; without one, every iq of that kind to the host (results, errors)."""
    return Hook(f"iq-{kind}/{target}" if namespace is None else f"iq-{kind}/{target}/{namespace}")


def preauth_iq(namespace: str) -> Hook[PreAuthRequest]:
    """An iq set with a payload of ``namespace`` before login."""
    return Hook(f"iq-preauth/{namespace}")


def nonza(tag: str) -> Hook[Nonza]:
    """A top-level element (Clark name) a module declared in ``extension_nonzas``."""
    return Hook(f"nonza/{tag}")

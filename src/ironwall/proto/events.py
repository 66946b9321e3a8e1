"""What the server stream core reports to the I/O layer: small frozen dataclasses.

Each event that asks the I/O layer to do something names the ``ServerStream``
method that carries the answer back.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element

from ironwall.proto.jid import JID

__all__ = [
    "AckRequested",
    "AuthFailed",
    "Authenticated",
    "BindRequested",
    "CredentialsNeeded",
    "NonzaReceived",
    "PreAuthStanza",
    "SMEnableRequested",
    "SMResumeRequested",
    "StanzaReceived",
    "StreamClosed",
    "StreamEvent",
    "StreamOpened",
    "TLSRequested",
]


@dataclass(frozen=True, slots=True)
class StreamOpened:
    """A (possibly restarted) stream header arrived and was answered."""

    domain: str


@dataclass(frozen=True, slots=True)
class TLSRequested:
    """``<proceed/>`` is queued: flush it, start TLS, then call ``tls_established``."""


@dataclass(frozen=True, slots=True)
class CredentialsNeeded:
    """Look up ``username``'s account record and call ``supply_credentials``."""

    username: str
    mechanism: str


@dataclass(frozen=True, slots=True)
class Authenticated:
    """SASL succeeded for this account (bare JID)."""

    jid: JID


@dataclass(frozen=True, slots=True)
class AuthFailed:
    """A SASL attempt failed (for per-address failure accounting)."""

    username: str | None
    condition: str


@dataclass(frozen=True, slots=True)
class BindRequested:
    """The client asks for a resource; call ``bind_resource`` or ``refuse_bind``."""

    requested: str | None


@dataclass(frozen=True, slots=True)
class PreAuthStanza:
    """An ``<iq>`` for in-band registration (or its XEP-0445 token) before authentication."""

    stanza: Element


@dataclass(frozen=True, slots=True)
class StanzaReceived:
    """A validated stanza from the bound session, ``from`` stamped with its full JID."""

    stanza: Element


@dataclass(frozen=True, slots=True)
class NonzaReceived:
    """A top-level element of a negotiated extension (XEP-0198 ``<r/>``, ...)."""

    element: Element


@dataclass(frozen=True, slots=True)
class SMEnableRequested:
    """XEP-0198 ``<enable/>``: call ``enable_sm`` (with a resumption id if ``resume``)."""

    resume: bool


@dataclass(frozen=True, slots=True)
class SMResumeRequested:
    """XEP-0198 ``<resume/>``: call ``resume_sm`` with the parked state, or ``refuse_resume``."""

    previd: str
    handled: int


@dataclass(frozen=True, slots=True)
class AckRequested:
    """XEP-0198 ``<r/>``: once every stanza before it is handled, call ``send_ack(handled)``."""

    handled: int


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """The stream is over; ``condition`` is the stream error sent or received, if any."""

    condition: str | None
    by_peer: bool


StreamEvent = (
    StreamOpened
    | TLSRequested
    | CredentialsNeeded
    | Authenticated
    | AuthFailed
    | BindRequested
    | PreAuthStanza
    | StanzaReceived
    | NonzaReceived
    | SMEnableRequested
    | SMResumeRequested
    | AckRequested
    | StreamClosed
)

"""The one error the XML layer raises for input an XMPP stream must refuse."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ironwall.xml.events import ParserEvent

__all__ = ["XMLPolicyError"]

_CONDITIONS = frozenset(
    {
        "not-well-formed",
        "restricted-xml",
        "policy-violation",
        "unsupported-encoding",
        "bad-format",
    }
)


class XMLPolicyError(Exception):
    """Input that an XMPP stream must refuse.

    ``condition`` is the RFC 6120 §4.9.3 stream-error condition to send (one of
    ``not-well-formed``, ``restricted-xml``, ``policy-violation``, ``unsupported-encoding``,
    ``bad-format``); ``text`` is a short human explanation that never contains the
    offending input, so it is safe to log and to send to the peer. ``events`` holds what
    the same ``feed()`` call parsed before the error, in order, so a caller can still act
    on the stanzas that preceded it.
    """

    condition: str
    text: str
    events: tuple[ParserEvent, ...]

    def __init__(self, condition: str, text: str, events: tuple[ParserEvent, ...] = ()) -> None:
        if condition not in _CONDITIONS:
            raise ValueError(f"unknown stream-error condition {condition!r}")
        super().__init__(f"{condition}: {text}")
        self.condition = condition
        self.text = text
        self.events = events

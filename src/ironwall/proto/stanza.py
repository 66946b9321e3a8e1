"""Pure helpers for building and answering stanzas (RFC 6120 §8)."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns

__all__ = [
    "ERROR_TYPES",
    "error_reply",
    "iq_result",
    "make_stanza_error",
    "readdress",
    "tag",
]

#: The error type RFC 6120 §8.3.3 pairs with each defined condition.
ERROR_TYPES: dict[str, str] = {
    "bad-request": "modify",
    "conflict": "cancel",
    "feature-not-implemented": "cancel",
    "forbidden": "auth",
    "gone": "cancel",
    "internal-server-error": "cancel",
    "item-not-found": "cancel",
    "jid-malformed": "modify",
    "not-acceptable": "modify",
    "not-allowed": "cancel",
    "not-authorized": "auth",
    "policy-violation": "modify",
    "recipient-unavailable": "wait",
    "redirect": "modify",
    "registration-required": "auth",
    "remote-server-not-found": "cancel",
    "remote-server-timeout": "wait",
    "resource-constraint": "wait",
    "service-unavailable": "cancel",
    "subscription-required": "auth",
    "undefined-condition": "cancel",
    "unexpected-request": "wait",
}


def tag(namespace: str, name: str) -> str:
    """Clark notation: ``{namespace}name``."""
    return f"{{{namespace}}}{name}"


def make_stanza_error(
    condition: str, text: str = "", *, error_type: str | None = None, by: str | None = None
) -> Element:
    """An ``<error>`` child with a defined condition and optional human text."""
    error = Element(tag(ns.CLIENT, "error"), {"type": error_type or ERROR_TYPES[condition]})
    if by:
        error.set("by", by)
    SubElement(error, tag(ns.STANZAS, condition))
    if text:
        text_el = SubElement(error, tag(ns.STANZAS, "text"))
        text_el.text = text
    return error


def error_reply(
    stanza: Element, condition: str, text: str = "", *, by: str | None = None
) -> Element | None:
    """The error bounce for ``stanza``, or None if it must not be answered.

    RFC 6120 §8.3.1: never answer an error with an error. The reply swaps ``to`` and
    ``from`` and, for ``<iq>``, carries only the error (no echo of a possibly huge payload).
    """
    if stanza.get("type") == "error":
        return None
    reply = Element(stanza.tag, {"type": "error"})
    if (sid := stanza.get("id")) is not None:
        reply.set("id", sid)
    if (sender := stanza.get("from")) is not None:
        reply.set("to", sender)
    if (recipient := stanza.get("to")) is not None:
        reply.set("from", recipient)
    reply.append(make_stanza_error(condition, text, by=by))
    return reply


def iq_result(iq: Element, payload: Element | None = None) -> Element:
    """The ``type='result'`` answer to ``iq``, optionally with a payload."""
    reply = Element(tag(ns.CLIENT, "iq"), {"type": "result"})
    if (sid := iq.get("id")) is not None:
        reply.set("id", sid)
    if (sender := iq.get("from")) is not None:
        reply.set("to", sender)
    if (recipient := iq.get("to")) is not None:
        reply.set("from", recipient)
    if payload is not None:
        reply.append(payload)
    return reply


def readdress(stanza: Element, *, sender: str, to: str) -> Element:
    """A copy of ``stanza`` with new ``from`` and ``to``, sharing its children.

    ``copy.copy`` would share the attribute dict with the original, so rewriting the
    addresses of one copy would rewrite them all.
    """
    copied = Element(stanza.tag, dict(stanza.attrib))
    copied.text = stanza.text
    copied.extend(list(stanza))
    copied.set("from", sender)
    copied.set("to", to)
    return copied

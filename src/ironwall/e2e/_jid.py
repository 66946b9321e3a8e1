"""The little JID handling the e2e checks need: compare bare addresses.

Callers pass JIDs already prepared (RFC 7622) by the client; here a JID is only cut to its
bare form and lower-cased, so that `Alice@Example.org/phone` and `alice@example.org` compare
equal, as they do for a server.
"""

from __future__ import annotations


def bare_jid(jid: str) -> str:
    """The bare, lower-cased form of `jid` (resource dropped)."""
    return jid.partition("/")[0].lower()


def check_bare_jid(jid: str) -> str:
    """Return `jid` if it is a plausible bare JID, else raise `ValueError`."""
    if not jid or "/" in jid or " " in jid or not jid.isprintable():
        raise ValueError(f"not a bare JID: {jid!r}")
    return jid

"""Invite links (XEP-0401): ``xmpp:example.org?register;preauth=TOKEN``.

A server that registers only invited accounts (Ironwall's ``registration = "invite"``,
Prosody's mod_invites) hands out such links; the client shows the token to the server
before it registers (XEP-0379 ``<preauth/>``).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from ironwall.client.errors import InvalidAddress

__all__ = ["Invite", "parse_invite"]


@dataclass(frozen=True)
class Invite:
    """What an invite link says: the domain, maybe the account name, and the token."""

    domain: str
    local: str | None
    token: str

    def jid(self, local: str | None = None) -> str:
        """The account to create: the link's name, else ``local``."""
        name = self.local or local
        if not name:
            raise InvalidAddress(
                f"this invite names no account: give the address you want, e.g. alice@{self.domain}"
            )
        return f"{name}@{self.domain}"


def parse_invite(link: str) -> Invite:
    """Read an invite link; `InvalidAddress` says what is wrong with it."""
    text = link.strip()
    if not text.startswith("xmpp:"):
        raise InvalidAddress(
            "an invite link starts with 'xmpp:' (xmpp:example.org?register;preauth=...)"
        )
    address, _, query = text[len("xmpp:") :].partition("?")
    parts = query.split(";")
    if parts[0] != "register":
        raise InvalidAddress("this link is not an invite to register ('?register' is missing)")
    token = None
    for part in parts[1:]:
        key, _, value = part.partition("=")
        if key == "preauth":
            token = urllib.parse.unquote(value)
    if not token:
        raise InvalidAddress("this invite link holds no token ('preauth=...' is missing)")
    address = urllib.parse.unquote(address)
    local, at, domain = address.rpartition("@")
    if not domain:
        raise InvalidAddress("this invite link names no server")
    return Invite(domain=domain.lower(), local=local if at else None, token=token)

"""What the user types, checked before anything slow happens: addresses and message bodies.

Each check raises an error whose text says what is wrong and how to write it instead, so a
command fails in one line before it asks for the passphrase or unlocks a key.
"""

from __future__ import annotations

import re

from slixmpp import JID
from slixmpp.jid import InvalidJID

from ironwall.client.errors import InvalidAddress, InvalidMessage
from ironwall.e2e import MAX_BODY_BYTES

__all__ = ["account_address", "check_body", "contact_address"]

# Characters XML 1.0 cannot carry (§2.2), so no XMPP message can hold them.
_NOT_IN_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CONTROL_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "BACKSPACE", 0x1B: "ESC", 0x7F: "DEL"}


def _bare_address(text: str, what: str, example: str) -> str:
    text = text.strip()
    if "@" not in text:
        raise InvalidAddress(
            f"'{text}' is not a full address: write {what} as user@domain, e.g. {example}"
        )
    try:
        jid = JID(text)
    except InvalidJID:
        raise InvalidAddress(
            f"'{text}' is not a valid address: write {what} as user@domain, e.g. {example}"
        ) from None
    if not jid.user or not jid.domain:
        raise InvalidAddress(f"'{text}' is not a valid address: write {what} as user@domain")
    if jid.resource:
        raise InvalidAddress(f"write the address without the '/{jid.resource}' part: {jid.bare}")
    return str(jid.bare)


def contact_address(text: str) -> str:
    """The bare JID of a contact as typed (prepared as RFC 7622 says), or `InvalidAddress`."""
    return _bare_address(text, "the contact's address", "bob@example.org")


def account_address(text: str) -> str:
    """The bare JID of one's own account as typed, or `InvalidAddress`."""
    return _bare_address(text, "your account", "alice@localhost")


def check_body(text: str) -> str:
    """A message body that can be sent as it is, or `InvalidMessage` saying why not."""
    if not text.strip():
        raise InvalidMessage("the message is empty; nothing was sent")
    bad = _NOT_IN_XML.search(text)
    if bad is not None:
        code = ord(bad.group())
        name = _CONTROL_NAMES.get(code, "a control character" if code < 0x20 else "a character")
        raise InvalidMessage(
            f"the message holds {name} (U+{code:04X}), which XMPP cannot carry; remove it"
        )
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        raise InvalidMessage(
            f"the message is {size // 1024} KiB; one message can hold at most "
            f"{MAX_BODY_BYTES // 1024} KiB: split it"
        )
    return text

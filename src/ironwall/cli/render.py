"""How the command line shows messages, contacts and notices: as plain, safe text.

Everything that came from the network goes through `ironwall.client.text.visible`: a
body's continuation lines are indented under a bar, so no message can print a line that
looks like another message, and control characters and escapes are shown, not obeyed.
"""

from __future__ import annotations

import datetime as dt

from ironwall.client.events import (
    ConnectionChanged,
    ConnectionState,
    Delivery,
    Direction,
    KeyChanged,
    KeyRevoked,
    Message,
    MessageStatus,
)
from ironwall.client.text import visible, visible_lines
from ironwall.e2e import TrustState, format_fingerprint

__all__ = [
    "TRUST_WORDS",
    "connection_line",
    "history_lines",
    "key_notice",
    "message_lines",
    "when",
]

TRUST_WORDS = {
    TrustState.NONE: "no key",
    TrustState.UNVERIFIED: "unverified",
    TrustState.VERIFIED: "verified",
    TrustState.CHANGED: "KEY CHANGED",
    TrustState.REVOKED: "KEY REVOKED (account compromised)",
}
_LABELS = {
    MessageStatus.VERIFIED: "[verified]",
    MessageStatus.UNVERIFIED: "[unverified]",
    MessageStatus.CHANGED: "[KEY CHANGED]",
    MessageStatus.PLAINTEXT: "[NOT ENCRYPTED]",
}
_CONTINUATION = "    | "


def when(timestamp: float) -> str:
    """A message time as the CLI prints it (local time)."""
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _body_lines(head: str, message: Message) -> list[str]:
    if message.status is MessageStatus.REJECTED or message.body is None:
        return [f"{head} WARNING, not shown: {visible(message.detail)}"]
    label = _LABELS[message.status]
    if message.detail and message.status is not MessageStatus.PLAINTEXT:
        label = f"{label[:-1]} ({visible(message.detail)})]"
    first, *rest = visible_lines(message.body)
    return [f"{head} {label} {first}", *(_CONTINUATION + line for line in rest)]


def message_lines(message: Message) -> list[str]:
    """An incoming message as ``listen`` prints it: time, sender, trust, text."""
    return _body_lines(f"{when(message.sent_at)} {visible(message.peer)}", message)


def history_lines(message: Message) -> list[str]:
    """A message of a conversation as ``history`` prints it, with its delivery state."""
    arrow = "->" if message.direction is Direction.OUT else "<-"
    lines = _body_lines(f"{when(message.sent_at)} {arrow}", message)
    if message.delivery is not None and message.delivery is not Delivery.SENT:
        note = message.delivery.value
        if message.delivery is Delivery.FAILED and message.detail:
            note = f"failed: {visible(message.detail)}"
        elif message.delivery is Delivery.PENDING:
            note = "pending: not taken by the server yet"
        lines[-1] += f"  ({note})"
    return lines


def connection_line(event: ConnectionChanged) -> str:
    """A connection change in words."""
    if event.state is ConnectionState.CONNECTING:
        return "Connecting..."
    if event.state is ConnectionState.ONLINE:
        return "Connected."
    if event.state is ConnectionState.RESUMED:
        return "Reconnected; nothing was lost."
    reason = visible(event.reason) if event.reason else "the connection was lost"
    if event.retry_in is None:
        return f"Disconnected: {reason}. Not trying again."
    return f"Disconnected: {reason}. Trying again in {max(1, round(event.retry_in))} s..."


def key_notice(event: KeyChanged | KeyRevoked) -> str:
    """What to tell the user when a contact's key changes or is revoked."""
    jid = visible(event.jid)
    if isinstance(event, KeyRevoked):
        return (
            f"NOTICE: {jid} revoked their key {format_fingerprint(event.fingerprint)}: their "
            "account was compromised. Nothing more is encrypted to it."
        )
    return (
        f"NOTICE: {jid}'s key changed. Nothing is encrypted to the new key until you check it "
        f"('ironwall verify {jid}') and accept it ('ironwall contacts accept-key {jid}')."
    )

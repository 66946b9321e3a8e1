"""What the terminal chat shows, as Rich `Text`: badges, message lines, day separators.

Every string that came from the network (JIDs, bodies, reasons) goes through
`ironwall.client.text.visible` and into a `Text` object, which Textual never parses as
markup: a body holding ``[bold]`` or an escape sequence shows those characters as typed.
What a badge says comes from the session's checks (`Contact.trust`, `Message.status`);
nothing here decides trust.
"""

from __future__ import annotations

import datetime as dt

from rich.text import Text

from ironwall.client.events import (
    ConnectionChanged,
    ConnectionState,
    Contact,
    Delivery,
    Direction,
    Message,
    MessageStatus,
)
from ironwall.client.text import visible, visible_lines
from ironwall.e2e import TrustState, format_fingerprint

__all__ = [
    "connection_text",
    "day_label",
    "delivery_text",
    "fingerprint_lines",
    "message_text",
    "status_text",
    "trust_badge",
]

_BADGES = {
    TrustState.VERIFIED: ("✔ verified", "bold green"),
    TrustState.UNVERIFIED: ("? unverified", "yellow"),
    TrustState.CHANGED: ("! KEY CHANGED", "bold white on red"),
    TrustState.REVOKED: ("✖ KEY REVOKED", "bold white on red"),
}


def trust_badge(contact: Contact) -> Text:
    """The key badge of a contact: verified, unverified, changed, revoked, or no key."""
    if contact.trust is TrustState.NONE:
        if contact.plaintext_allowed:
            return Text("⚠ NOT ENCRYPTED", style="bold white on red")
        return Text("– no key", style="dim")
    words, style = _BADGES[contact.trust]
    return Text(words, style=style)


_STATUS = {
    MessageStatus.VERIFIED: ("✔", "green"),
    MessageStatus.UNVERIFIED: ("? unverified", "yellow"),
    MessageStatus.CHANGED: ("! FROM A CHANGED KEY", "bold white on red"),
    MessageStatus.PLAINTEXT: (" NOT ENCRYPTED ", "bold white on red"),
    MessageStatus.REJECTED: (" FAILED A CHECK ", "bold white on red"),
}


def status_text(message: Message) -> Text:
    """The mark of how far a message can be trusted (unmistakable unless verified)."""
    words, style = _STATUS[message.status]
    return Text(words, style=style)


_DELIVERY = {
    Delivery.PENDING: ("◷ pending", "dim"),
    Delivery.SENT: ("✓ sent", "dim"),
    Delivery.DELIVERED: ("✓✓ delivered", ""),
    Delivery.READ: ("✓✓ read", "bold cyan"),
    Delivery.FAILED: ("✖ not sent", "bold red"),
}


def delivery_text(message: Message) -> Text:
    """How far an outgoing message got (empty for incoming ones)."""
    if message.delivery is None:
        return Text()
    words, style = _DELIVERY[message.delivery]
    text = Text(words, style=style)
    if message.delivery is Delivery.FAILED and message.detail:
        text.append(f": {visible(message.detail)}", style="red")
    return text


def message_text(message: Message, *, own_name: str = "you") -> Text:
    """One message as the conversation shows it: time, author, marks, then the body."""
    line = Text()
    line.append(dt.datetime.fromtimestamp(message.sent_at).strftime("%H:%M"), style="dim")
    line.append("  ")
    if message.direction is Direction.OUT:
        line.append(own_name, style="bold blue")
    else:
        line.append(visible(message.peer), style="bold magenta")
    line.append("  ")
    line.append_text(status_text(message))
    if message.direction is Direction.OUT:
        line.append("  ")
        line.append_text(delivery_text(message))
    if message.status is MessageStatus.REJECTED or message.body is None:
        line.append("\n")
        line.append(f"Not shown: {visible(message.detail)}", style="italic red")
        return line
    if message.detail and message.status is not MessageStatus.PLAINTEXT:
        line.append(f" ({visible(message.detail)})", style="yellow")
    for body_line in visible_lines(message.body):
        line.append("\n")
        line.append(body_line)
    return line


def day_label(timestamp: float, *, today: dt.date | None = None) -> str:
    """``Today``, ``Yesterday`` or the date of a day separator."""
    day = dt.datetime.fromtimestamp(timestamp).date()
    today = today or dt.date.today()
    if day == today:
        return "Today"
    if day == today - dt.timedelta(days=1):
        return "Yesterday"
    return f"{day:%A} {day.day} {day:%B %Y}"


def connection_text(event: ConnectionChanged) -> Text:
    """The status bar's connection state."""
    if event.state is ConnectionState.CONNECTING:
        return Text("◌ connecting…", style="yellow")
    if event.state is ConnectionState.ONLINE:
        return Text("● online", style="green")
    if event.state is ConnectionState.RESUMED:
        return Text("● online (resumed, nothing lost)", style="green")
    text = Text("○ offline", style="bold red")
    if event.reason:
        text.append(f": {visible(event.reason)}", style="red")
    if event.retry_in is None:
        text.append(" — not trying again", style="red")
    else:
        text.append(f" — trying again in {max(1, round(event.retry_in))} s", style="red")
    return text


def fingerprint_lines(fingerprint: str) -> list[str]:
    """A fingerprint in groups of four, five groups to a line, for comparing aloud."""
    groups = format_fingerprint(fingerprint).split()
    return [" ".join(groups[i : i + 5]) for i in range(0, len(groups), 5)]

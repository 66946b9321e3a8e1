"""Every key binding of the chat, and what the badges mean."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["KEYS", "HelpScreen"]

#: (keys, what they do), as the help screen lists them.
KEYS = (
    ("Enter", "send the message (in the compose box); show a message's checks (in the list)"),
    ("Ctrl+J / Alt+Enter", "new line in the compose box"),
    ("Tab / Shift+Tab", "move between the contact list, the conversation and the compose box"),
    ("Alt+Up / Alt+Down", "previous / next conversation (also Ctrl+PageUp / Ctrl+PageDown)"),
    ("Ctrl+N", "add a contact"),
    ("Ctrl+T", "verify the contact: compare fingerprints, show the QR code"),
    ("Ctrl+S", "search the conversation"),
    ("F4", "stop sending unencrypted to a contact without a key"),
    ("F8", "remove the contact"),
    ("F1", "this help"),
    ("Ctrl+Q", "quit"),
)

_BADGES = (
    ("✔ verified", "bold green", "you compared fingerprints with them"),
    ("? unverified", "yellow", "encrypted to the key their server gave on first contact"),
    ("! KEY CHANGED", "bold white on red", "nothing is sent until you check the new key"),
    ("✖ KEY REVOKED", "bold white on red", "their account was compromised"),
    ("– no key", "dim", "they use no Ironwall encryption: sending asks first"),
    ("⚠ NOT ENCRYPTED", "bold white on red", "you chose to send to them unencrypted"),
)
_MARKS = (
    ("◷ pending", "waits for the server (or for the connection to come back)"),
    ("✓ sent", "the server has it"),
    ("✓✓ delivered", "their device received it"),
    ("✓✓ read", "they have seen it"),
)


class HelpScreen(ModalScreen[None]):
    """Keys, badges and marks; any of Escape, F1 or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "close", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 84; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        keys = Table(box=None, show_header=False, padding=(0, 1))
        keys.add_column(style="bold cyan", no_wrap=True)
        keys.add_column()
        for key, what in KEYS:
            keys.add_row(key, what)
        badges = Table(box=None, show_header=False, padding=(0, 1))
        badges.add_column(no_wrap=True)
        badges.add_column()
        for word, style, what in _BADGES:
            badges.add_row(Text(word, style), what)
        for word, what in _MARKS:
            badges.add_row(Text(word, "dim"), what)
        with VerticalScroll():
            yield Static(Text("Keys", style="bold"))
            yield Static(keys)
            yield Static(Text("\nBadges and marks", style="bold"))
            yield Static(badges)
            yield Static(Text("\nEscape closes this help.", style="dim"))

    def action_close(self) -> None:
        """Back to the chat."""
        self.dismiss(None)

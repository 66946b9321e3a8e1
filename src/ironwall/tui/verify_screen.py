"""The verification screen: both fingerprints side by side, a QR code, mark as verified.

The keys shown are the ones the session holds for the contact (the offered ones when a
change waits); marking them verified is the session's `verify` command. Returns True when
the user marked them verified.
"""

from __future__ import annotations

import io
from typing import ClassVar

import segno
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from ironwall.client.text import visible
from ironwall.tui.words import fingerprint_lines

__all__ = ["VerifyScreen", "qr_text"]


def qr_text(fingerprint: str) -> str:
    """A fingerprint as an ``OPENPGP4FPR:`` QR code drawn with half-block characters."""
    out = io.StringIO()
    segno.make(f"OPENPGP4FPR:{fingerprint}", error="m").terminal(out=out, compact=True)
    return out.getvalue().rstrip("\n")


class VerifyScreen(ModalScreen[bool]):
    """Compare the fingerprints with the contact (in person or on a call)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("q", "toggle_qr", "QR code"),
    ]
    DEFAULT_CSS = """
    VerifyScreen { align: center middle; }
    VerifyScreen > Vertical {
        width: 80; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    VerifyScreen .title { text-style: bold; }
    VerifyScreen .side { width: 1fr; height: auto; border: round $secondary; padding: 0 1; }
    VerifyScreen #sides { height: auto; }
    VerifyScreen #qr { display: none; height: auto; }
    VerifyScreen #qr.shown { display: block; }
    VerifyScreen #sides.hidden { display: none; }
    VerifyScreen #buttons { height: auto; }
    VerifyScreen Button { margin-right: 2; }
    """

    def __init__(self, own_jid: str, own: str, jid: str, theirs: tuple[str, ...]) -> None:
        super().__init__()
        self.own_jid = own_jid
        self.own = own
        self.jid = jid
        self.theirs = theirs

    def compose(self) -> ComposeResult:
        jid = visible(self.jid)
        with Vertical():
            yield Label(Text(f"Verify {jid}"), classes="title")
            yield Static(
                Text(
                    f"Ask {jid} to open this screen too, then read your fingerprints to each "
                    "other (in person or on a call). They must match exactly.",
                )
            )
            with Horizontal(id="sides"):
                yield Static(
                    self._side(f"Your key ({visible(self.own_jid)})", (self.own,)),
                    classes="side",
                    id="own",
                )
                yield Static(self._side(f"Key of {jid}", self.theirs), classes="side", id="theirs")
            yield Static(self._qr(), id="qr")
            with Horizontal(id="buttons"):
                yield Button("They match: verified", id="match", variant="success")
                yield Button("They differ", id="differ", variant="error")
                yield Button("Close", id="close")
            yield Static(Text("q: show the QR code of your key / the fingerprints", style="dim"))

    def _side(self, title: str, fingerprints: tuple[str, ...]) -> Text:
        text = Text(title, style="bold")
        for fingerprint in fingerprints:
            for line in fingerprint_lines(fingerprint):
                text.append(f"\n{line}", style="bold cyan")
        if not fingerprints:
            text.append("\nno key", style="red")
        return text

    def _qr(self) -> Text:
        text = Text(f"Your key as a QR code, for {visible(self.jid)} to scan:\n", style="dim")
        text.append(qr_text(self.own))
        return text

    def action_toggle_qr(self) -> None:
        """Show the QR code of one's own key instead of the fingerprints (or back): both
        do not fit in 24 lines."""
        self.query_one("#qr").toggle_class("shown")
        self.query_one("#sides").toggle_class("hidden")

    def action_close(self) -> None:
        """Close without verifying."""
        self.dismiss(False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Verified only when the user says the fingerprints match."""
        event.stop()
        if event.button.id == "differ":
            self.app.notify(
                "The fingerprints differ: do not trust this key. Ask the contact how they "
                "set up their account; someone may be reading your messages.",
                title="Not verified",
                severity="error",
                timeout=15,
            )
        self.dismiss(event.button.id == "match")

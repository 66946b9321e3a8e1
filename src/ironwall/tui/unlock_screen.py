"""Later runs: one passphrase prompt, with progress while the key unlocks.

The screen hands the passphrase to ``unlock`` (the app's, which opens the session) and
shows its error in words if it fails, so the user can try again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Label, LoadingIndicator, Static

from ironwall.client.errors import ClientError, WrongPassphraseError
from ironwall.client.text import visible
from ironwall.e2e import E2EError

__all__ = ["UnlockScreen"]


class UnlockScreen(Screen[None]):
    """Ask for the passphrase (or the recovery code) of ``jid``."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "app.quit", "Quit")]
    DEFAULT_CSS = """
    UnlockScreen { align: center middle; }
    UnlockScreen > Vertical {
        width: 64; max-width: 100%; height: auto; border: thick $primary;
        background: $surface; padding: 1 2;
    }
    UnlockScreen .title { text-style: bold; margin-bottom: 1; }
    UnlockScreen LoadingIndicator { height: 1; display: none; }
    UnlockScreen LoadingIndicator.busy { display: block; }
    UnlockScreen #status { height: auto; }
    UnlockScreen #status.error { color: $error; }
    """

    def __init__(
        self, jid: str, unlock: Callable[[str], Awaitable[None]], *, initial: str | None = None
    ) -> None:
        super().__init__()
        self.jid = jid
        self._unlock = unlock
        self._initial = initial

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Unlock {visible(self.jid)}"), classes="title")
            yield Input(password=True, placeholder="passphrase (or recovery code)", id="passphrase")
            yield LoadingIndicator()
            yield Static(Text("Enter your passphrase and press Enter."), id="status")

    def on_mount(self) -> None:
        """The prompt has the focus (or a passphrase given on the command line is tried)."""
        self.query_one(Input).focus()
        if self._initial:
            self._try(self._initial)
            self._initial = None

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            self._status("Enter your passphrase.", error=True)
            return
        self._try(event.value)

    @work(exclusive=True, group="unlock")
    async def _try(self, passphrase: str) -> None:
        field = self.query_one(Input)
        spinner = self.query_one(LoadingIndicator)
        field.disabled = True
        spinner.add_class("busy")
        self._status("Unlocking your key (slow on purpose, so it resists guessing)…")
        try:
            await self._unlock(passphrase)
        except WrongPassphraseError as exc:
            self._status(f"{exc}. Try again; if it is lost, use your recovery code.", error=True)
        except (ClientError, E2EError) as exc:
            self._status(str(exc), error=True)
        else:
            return
        finally:
            spinner.remove_class("busy")
        field.disabled = False
        field.value = ""
        field.focus()

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.set_class(error, "error")
        status.update(Text(text))

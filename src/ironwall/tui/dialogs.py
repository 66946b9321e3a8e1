"""The chat's dialogs: each asks one question and returns the answer with `dismiss`.

Dialogs about keys only present what the session checked (a `KeyChanged` or `KeyRevoked`
event, a contact's trust state); the user's answer goes back to the session's commands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ironwall.client.addresses import contact_address
from ironwall.client.errors import ClientError
from ironwall.client.events import CHECK_NAMES, Direction, Message, MessageStatus
from ironwall.client.text import visible
from ironwall.tui.words import message_text

__all__ = [
    "AddContactDialog",
    "ConfirmDialog",
    "KeyChangedDialog",
    "KeyRevokedDialog",
    "MessageDetails",
    "PlaintextDialog",
    "RequestDialog",
    "SearchDialog",
]


def _plain(text: str, style: str = "") -> Static:
    """A paragraph that is never parsed as markup."""
    return Static(Text(text, style=style))


class _Dialog(ModalScreen[str | None]):
    """A centred box; Escape cancels (None) unless the dialog must be answered."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    _Dialog { align: center middle; }
    _Dialog > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    _Dialog .title { text-style: bold; margin-bottom: 1; }
    _Dialog.warning > Vertical { border: thick $error; }
    _Dialog Horizontal { height: auto; margin-top: 1; }
    _Dialog Button { margin-right: 2; }
    _Dialog .error { color: $error; }
    """

    def action_cancel(self) -> None:
        """Close without an answer."""
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Answer with the pressed button (subclasses override `pressed`, not this: Textual
        calls every class's handler along the MRO)."""
        event.stop()
        self.pressed(event.button.id or "")

    def pressed(self, button: str) -> None:
        """The button with id ``button`` was pressed: by default it is the answer."""
        self.dismiss(button)


class AddContactDialog(_Dialog):
    """Ask for a contact's address; returns it (checked), or None."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Add a contact", classes="title")
            yield _plain("Their address, e.g. bob@example.org. They are asked to approve you.")
            yield Input(placeholder="name@server", id="jid")
            yield Static("", id="error", classes="error")
            with Horizontal():
                yield Button("Add", id="add", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter adds."""
        event.stop()
        self._add()

    def pressed(self, button: str) -> None:
        """Add, or cancel."""
        if button == "add":
            self._add()
        else:
            self.dismiss(None)

    def _add(self) -> None:
        text = self.query_one("#jid", Input).value
        try:
            self.dismiss(contact_address(text))
        except ClientError as exc:
            self.query_one("#error", Static).update(Text(str(exc)))


class RequestDialog(_Dialog):
    """Someone asks to become a contact: ``accept``, ``deny`` or None (later)."""

    def __init__(self, jid: str) -> None:
        super().__init__()
        self.jid = jid

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Contact request", classes="title")
            yield _plain(f"{visible(self.jid)} wants to be your contact.")
            yield _plain(
                "Accepting shares your presence with them and reads their key. Anyone can "
                "ask: accept only people you know.",
                "dim",
            )
            with Horizontal():
                yield Button("Accept", id="accept", variant="success")
                yield Button("Deny", id="deny", variant="error")
                yield Button("Later", id="later")

    def pressed(self, button: str) -> None:
        """Accept, deny, or decide later (None)."""
        self.dismiss(None if button == "later" else button)


class KeyChangedDialog(_Dialog):
    """A contact's key changed: ``verify``, ``accept`` or ``later``; it must be answered.

    Nothing is encrypted to the new key until the user verifies or accepts it, so sending
    to the contact stays blocked while the answer is ``later``.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "later", "Later", show=False)]

    def __init__(self, jid: str, *, was_verified: bool) -> None:
        super().__init__(classes="warning")
        self.jid = jid
        self.was_verified = was_verified

    def compose(self) -> ComposeResult:
        jid = visible(self.jid)
        with Vertical():
            yield Label(Text(f"⚠ The key of {jid} changed", style="bold red"), classes="title")
            if self.was_verified:
                yield _plain(
                    f"You had verified {jid}'s key in person. A new key can mean they set up "
                    "a new account or lost their old key — or that someone is trying to read "
                    "your messages."
                )
            else:
                yield _plain(
                    f"{jid} has a new key. That happens when they set up their account anew, "
                    "and also when someone tries to read your messages."
                )
            yield _plain(
                "Nothing is sent to the new key until you decide. Best: compare fingerprints "
                "with them in person or on a call.",
                "bold",
            )
            with Horizontal():
                yield Button("Compare fingerprints", id="verify", variant="primary")
                yield Button("Accept without comparing", id="accept", variant="warning")
                yield Button("Later", id="later")

    def action_later(self) -> None:
        """Escape: decide later (sending stays blocked)."""
        self.dismiss("later")


class KeyRevokedDialog(_Dialog):
    """A contact revoked their key: their account was compromised."""

    def __init__(self, jid: str) -> None:
        super().__init__(classes="warning")
        self.jid = jid

    def compose(self) -> ComposeResult:
        jid = visible(self.jid)
        with Vertical():
            yield Label(
                Text(f"✖ {jid}'s account was compromised", style="bold red"), classes="title"
            )
            yield _plain(
                f"{jid} revoked their key: someone else may have had it. Nothing more is "
                "encrypted to it, and messages signed with it are refused."
            )
            yield _plain(
                "Reach them another way (in person, by phone). They must make a new account; "
                "add that one as a new contact and verify it.",
                "bold",
            )
            with Horizontal():
                yield Button("I understand", id="ok", variant="primary")


class PlaintextDialog(_Dialog):
    """A contact has no key: ``plaintext`` sends unencrypted (now and later), or None."""

    def __init__(self, jid: str) -> None:
        super().__init__(classes="warning")
        self.jid = jid

    def compose(self) -> ComposeResult:
        jid = visible(self.jid)
        with Vertical():
            yield Label(Text(f"⚠ {jid} has no encryption key", style="bold red"), classes="title")
            yield _plain(
                f"{jid}'s client does not use Ironwall's encryption, so messages to them can "
                "only be sent unencrypted: their server, yours and anyone on the way can read "
                "and change them."
            )
            with Horizontal():
                yield Button("Send unencrypted", id="plaintext", variant="error")
                yield Button("Don't send", id="cancel")

    def pressed(self, button: str) -> None:
        """Only the explicit choice sends."""
        self.dismiss("plaintext" if button == "plaintext" else None)


class ConfirmDialog(_Dialog):
    """A yes/no question: ``yes`` or None."""

    def __init__(self, question: str, yes: str) -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield _plain(self.question)
            with Horizontal():
                yield Button(self.yes, id="yes", variant="error")
                yield Button("Cancel", id="cancel")

    def pressed(self, button: str) -> None:
        """Yes, or cancel."""
        self.dismiss("yes" if button == "yes" else None)


_CHECK_WORDS = {
    "decrypts-and-signed": "decrypts, and is signed",
    "sender-key": "signed by the sender's pinned key",
    "recipient": "addressed to you",
    "fresh": "recent, and not a replay",
    "key-valid": "the key was valid when it was signed",
}


class MessageDetails(_Dialog):
    """What was checked on one message."""

    def __init__(self, message: Message) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        message = self.message
        with Vertical():
            yield Label("Message details", classes="title")
            yield Static(message_text(message))
            yield Static(self._checks())
            with Horizontal():
                yield Button("Close", id="close")

    def _checks(self) -> Text:
        message = self.message
        text = Text("\n")
        if message.status is MessageStatus.PLAINTEXT:
            text.append("Not encrypted: anyone on the way could read or change it.", "bold red")
            return text
        if message.direction is Direction.OUT:
            text.append("Written on one of your devices and encrypted before it left.")
            return text
        checks = dict(message.checks)
        for name in CHECK_NAMES:
            result = checks.get(name)
            mark, style = {True: ("✔", "green"), False: ("✖", "bold red"), None: ("–", "dim")}[
                result
            ]
            text.append(f"{mark} ", style)
            text.append(f"{_CHECK_WORDS[name]}\n", "" if result is not False else "bold red")
        if message.detail:
            text.append(visible(message.detail), "yellow")
        return text


class SearchDialog(_Dialog):
    """Search the open conversation; the results are listed as the user types."""

    def __init__(self, peer: str, search: Callable[[str, str], list[Message]]) -> None:
        super().__init__()
        self.peer = peer
        self._search = search

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Search the conversation with {visible(self.peer)}"), classes="title")
            yield Input(placeholder="words to find", id="query")
            yield VerticalScroll(Static("", id="results"), id="results-box")

    def on_input_changed(self, event: Input.Changed) -> None:
        """List the messages holding the text."""
        results = self.query_one("#results", Static)
        query = event.value.strip()
        if not query:
            results.update("")
            return
        found = self._search(self.peer, query)
        text = Text(f"{len(found)} found\n", style="dim")
        for message in found[-50:]:
            text.append_text(message_text(message))
            text.append("\n")
        results.update(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter closes the search."""
        event.stop()
        self.dismiss(None)

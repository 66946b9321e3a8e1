"""First run: create an account or log in to an existing one; then the recovery code once.

The passphrase has a live strength meter that says why a weak one is refused (the same
rule `Account.create` applies). The screen dismisses with the set-up `Account` and the
passphrase, which the app uses to open the session.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, Static

from ironwall.client import Account
from ironwall.client.addresses import contact_address
from ironwall.client.errors import ClientError, ConnectFailed
from ironwall.client.invites import parse_invite
from ironwall.client.xmpp import ServerAddress
from ironwall.e2e import E2EError, passphrase_strength

__all__ = ["RecoveryCodeScreen", "SetupScreen"]


class SetupScreen(Screen[tuple[Account, str]]):
    """Create a new account, or set up an existing Ironwall account on this device."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "app.quit", "Quit")]
    DEFAULT_CSS = """
    SetupScreen { align: center top; }
    SetupScreen > VerticalScroll { width: 78; max-width: 100%; padding: 0 1; }
    SetupScreen .title { text-style: bold; margin: 1 0; }
    SetupScreen .hint { color: $text-muted; }
    SetupScreen #modes { height: auto; margin-bottom: 1; }
    SetupScreen #modes Button { margin-right: 2; }
    SetupScreen .field { height: 1; }
    SetupScreen .field .name { width: 20; }
    SetupScreen .field Input { width: 1fr; }
    SetupScreen #meter { margin-bottom: 0; }
    SetupScreen #strength { width: 24; }
    SetupScreen #advice { color: $warning; height: auto; }
    SetupScreen #status { height: auto; margin-top: 1; }
    SetupScreen #status.error { color: $error; }
    SetupScreen .hidden { display: none; }
    SetupScreen #go { margin-top: 0; }
    """

    def __init__(self, home: Path, *, fast_kdf: bool = False) -> None:
        super().__init__()
        self.home = home
        self.fast_kdf = fast_kdf
        self.creating = True

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label("Welcome to Ironwall", classes="title")
            yield Static(
                Text(
                    "Messages are encrypted on this device; your server stores them but "
                    "cannot read them. Your key is sealed with a passphrase only you know."
                ),
                classes="hint",
            )
            with Horizontal(id="modes"):
                yield Button(
                    "Create a new account", id="mode-create", variant="primary", compact=True
                )
                yield Button("Log in to my account", id="mode-login", compact=True)
            yield from self._field("Your address", "jid", "alice@example.org")
            yield from self._field(
                "Server (optional)", "server", "HOST[:PORT]; default: from the address"
            )
            yield from self._field(
                "CA file (optional)", "ca", "for a self-signed server; default: system CAs"
            )
            yield from self._field(
                "Invite link",
                "invite",
                "xmpp:example.org?register;preauth=… (if needed)",
                create_only=True,
            )
            yield from self._field(
                "Account password",
                "password",
                "only if your server's admin made the account; else leave empty",
                password=True,
            )
            yield from self._field("Passphrase", "passphrase", "", password=True)
            with Horizontal(classes="create-only field", id="meter"):
                yield Label("", classes="name")
                yield ProgressBar(total=4, show_eta=False, show_percentage=False, id="strength")
                yield Label("", id="strength-word")
            yield Static("", id="advice", classes="create-only")
            yield from self._field("Repeat it", "repeat", "", password=True, create_only=True)
            yield Button("Create account", id="go", variant="success", compact=True)
            yield Static("", id="status")

    def _field(
        self,
        label: str,
        name: str,
        placeholder: str,
        *,
        password: bool = False,
        create_only: bool = False,
    ) -> ComposeResult:
        with Horizontal(classes="field create-only" if create_only else "field"):
            yield Label(label, classes="name")
            yield Input(placeholder=placeholder, password=password, id=name, compact=True)

    def on_mount(self) -> None:
        """Start in the address field."""
        self.query_one("#jid", Input).focus()

    @on(Button.Pressed, "#mode-create")
    def _mode_create(self) -> None:
        self._set_mode(creating=True)

    @on(Button.Pressed, "#mode-login")
    def _mode_login(self) -> None:
        self._set_mode(creating=False)

    def _set_mode(self, *, creating: bool) -> None:
        self.creating = creating
        for widget in self.query(".create-only"):
            widget.set_class(not creating, "hidden")
        self.query_one("#mode-create", Button).variant = "primary" if creating else "default"
        self.query_one("#mode-login", Button).variant = "default" if creating else "primary"
        self.query_one("#go", Button).label = "Create account" if creating else "Log in"
        self._status("")

    @on(Input.Changed, "#passphrase")
    @on(Input.Changed, "#jid")
    def _update_meter(self) -> None:
        passphrase = self.query_one("#passphrase", Input).value
        jid = self.query_one("#jid", Input).value
        strength = passphrase_strength(passphrase, user_inputs=[jid, jid.split("@")[0]])
        self.query_one("#strength", ProgressBar).update(progress=strength.score)
        word = ("too weak", "too weak", "too weak", "almost", "strong")[strength.score]
        self.query_one("#strength-word", Label).update(
            Text(f" {word}", style="green" if strength.enough else "yellow")
        )
        self.query_one("#advice", Static).update(
            Text("" if not passphrase else strength.advice or "Good: this one is accepted.")
        )

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._go()

    @on(Button.Pressed, "#go")
    def _go(self) -> None:
        try:
            account, passphrase, invite, password = self._read_form()
        except (ClientError, E2EError) as exc:
            self._status(str(exc), error=True)
            return
        self.query_one("#go", Button).disabled = True
        self._set_up(account, passphrase, invite, password)

    def _read_form(self) -> tuple[Account, str, str | None, str | None]:
        """The account to set up, the passphrase, the invite token and the account's
        password (for an account made elsewhere, whose password is not derived from the
        passphrase)."""
        value = {
            name: self.query_one(f"#{name}", Input).value.strip()
            for name in ("jid", "server", "ca", "invite")
        }
        passphrase = self.query_one("#passphrase", Input).value
        invite = parse_invite(value["invite"]) if self.creating and value["invite"] else None
        typed = value["jid"]
        if invite is not None:
            typed = invite.jid(typed.split("@")[0] or None)
        if not typed:
            raise ClientError("enter your address, e.g. alice@example.org")
        jid = contact_address(typed)
        ca = Path(value["ca"]).expanduser() if value["ca"] else None
        if ca is not None and not ca.is_file():
            raise ClientError(f"there is no CA file at {ca}")
        address = ServerAddress.parse(value["server"] or None, ca)
        if self.creating:
            strength = passphrase_strength(passphrase, user_inputs=[jid, jid.split("@")[0]])
            if not strength.enough:
                raise ClientError(f"that passphrase is too weak: {strength.advice}")
            if self.query_one("#repeat", Input).value != passphrase:
                raise ClientError("the two passphrases differ")
        elif not passphrase:
            raise ClientError("enter your passphrase")
        account = Account(jid, self.home, insecure_fast_kdf_for_tests=self.fast_kdf)
        if account.exists:
            raise ClientError(f"{jid} is already set up on this device")
        account.remember_address(address)
        password = self.query_one("#password", Input).value or None
        return account, passphrase, invite.token if invite else None, password

    @work(exclusive=True, group="setup")
    async def _set_up(
        self, account: Account, passphrase: str, invite: str | None, password: str | None
    ) -> None:
        try:
            if self.creating:
                _fingerprint, code = await account.create(
                    passphrase, existing_password=password, invite=invite, progress=self._status
                )
                await self.app.push_screen_wait(RecoveryCodeScreen(code))
            else:
                await account.login(passphrase, password=password, progress=self._status)
        except (ClientError, ConnectFailed, E2EError) as exc:
            account.forget()
            self._status(str(exc), error=True)
            self.query_one("#go", Button).disabled = False
            return
        self.dismiss((account, passphrase))

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.set_class(error, "error")
        status.update(Text(text))


class RecoveryCodeScreen(ModalScreen[None]):
    """The recovery code, shown once: the only way back in if the passphrase is lost."""

    DEFAULT_CSS = """
    RecoveryCodeScreen { align: center middle; }
    RecoveryCodeScreen > Vertical {
        width: 70; max-width: 100%; height: auto; border: thick $warning;
        background: $surface; padding: 1 2;
    }
    RecoveryCodeScreen #code { text-style: bold; color: $accent; margin: 1 0; }
    RecoveryCodeScreen Button { margin-top: 1; }
    """

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Your recovery code", style="bold"))
            yield Static(Text(self.code), id="code")
            yield Static(
                Text(
                    "Write it down and keep it somewhere safe, away from this device. If you "
                    "forget your passphrase, it is the only way back into your account and "
                    "your messages. It is shown only now."
                )
            )
            yield Checkbox("I have written it down", id="kept")
            yield Button("Continue", id="continue", variant="success", disabled=True)

    @on(Checkbox.Changed, "#kept")
    def _kept(self, event: Checkbox.Changed) -> None:
        self.query_one("#continue", Button).disabled = not event.value

    @on(Button.Pressed, "#continue")
    def _continue(self) -> None:
        self.dismiss(None)

"""First run and later runs: creating an account in the chat, logging in on a new
device, unlocking with a wrong and then the right passphrase."""

from __future__ import annotations

import re
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input, Label, Static

from ironwall.client import Account
from ironwall.tui.app import ChatApp
from ironwall.tui.setup_screen import RecoveryCodeScreen, SetupScreen
from ironwall.tui.unlock_screen import UnlockScreen
from support.chat_pilot import SIZE, chat_app, main_screen, text_of, until
from support.client_world import PASSPHRASE, World
from support.server import server_port
from support.tls import test_pki


async def _go(pilot: Pilot[object]) -> None:
    # A button ignores a second click while it still shows the first (its active effect).
    await pilot.pause(0.3)
    await pilot.click("#go")


def _fill(screen: SetupScreen, **values: str) -> None:
    for name, value in values.items():
        screen.query_one(f"#{name}", Input).value = value


async def test_first_run_creates_the_account_and_shows_the_recovery_code_once(
    chat_world: World, tmp_path: Path
) -> None:
    home = tmp_path / "new-device"
    app = ChatApp(home, None, fast_kdf=True, desktop_notifications=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SetupScreen), "the setup screen")
        setup = app.screen
        assert isinstance(setup, SetupScreen)
        _fill(
            setup,
            jid="dora@localhost",
            server=f"127.0.0.1:{server_port(chat_world.server)}",
            ca=str(test_pki().ca_pem),
            passphrase="dora1234",
        )
        await pilot.pause()
        # The meter says why a weak passphrase is refused, and the button refuses it.
        assert "too weak" in str(setup.query_one("#strength-word", Label).content)
        assert text_of(setup.query_one("#advice", Static))
        await _go(pilot)
        status = lambda: text_of(setup.query_one("#status", Static))  # noqa: E731
        await until(pilot, lambda: "too weak" in status(), "the refusal")
        assert not Account("dora@localhost", home).exists

        _fill(setup, passphrase=PASSPHRASE, repeat=PASSPHRASE + " ")
        await _go(pilot)
        await until(
            pilot, lambda: "differ" in status(), lambda: f"the two entries differ: {status()!r}"
        )

        _fill(setup, repeat=PASSPHRASE)
        await pilot.pause()
        assert "strong" in str(setup.query_one("#strength-word", Label).content)
        await _go(pilot)
        await until(
            pilot,
            lambda: isinstance(app.screen, RecoveryCodeScreen),
            lambda: f"the code: {status()!r}",
            60,
        )
        code_screen = app.screen
        code = text_of(code_screen.query_one("#code", Static))
        assert re.fullmatch(r"([1-9A-NP-Z]{4}-){5}[1-9A-NP-Z]{4}", code)
        assert code_screen.query_one("#continue", Button).disabled  # until it is kept
        code_screen.query_one("#kept", Checkbox).value = True
        await pilot.pause()
        await pilot.click("#continue")
        screen = await main_screen(pilot)
        assert screen.session.jid == "dora@localhost"
    assert Account("dora@localhost", home).exists


async def test_logging_in_on_a_new_device_and_a_failed_login_leaves_nothing(
    chat_world: World, tmp_path: Path
) -> None:
    (alice,) = await chat_world.create("alice")
    home = tmp_path / "phone"
    app = ChatApp(home, None, fast_kdf=True, desktop_notifications=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SetupScreen), "the setup screen")
        setup = app.screen
        assert isinstance(setup, SetupScreen)
        await pilot.click("#mode-login")
        repeat_row = setup.query_one("#repeat", Input).parent
        assert repeat_row is not None
        assert repeat_row.has_class("hidden")
        _fill(
            setup,
            jid=alice.jid,
            server=f"127.0.0.1:{server_port(chat_world.server)}",
            ca=str(test_pki().ca_pem),
            passphrase="not the passphrase at all",
        )
        await _go(pilot)
        status = lambda: text_of(setup.query_one("#status", Static))  # noqa: E731
        await until(pilot, lambda: "refused the login" in status(), "the refusal")
        assert not Account(alice.jid, home).exists
        _fill(setup, passphrase=PASSPHRASE)
        await _go(pilot)
        screen = await main_screen(pilot)
        assert screen.session.identity.fingerprint == _fingerprint(alice)


def _fingerprint(account: Account) -> str:
    device = account.device
    assert device is not None
    assert device.sealed_key is not None
    from ironwall.e2e import open_secret_key

    return open_secret_key(device.sealed_key, PASSPHRASE).fingerprint


async def test_a_wrong_passphrase_is_refused_in_words_and_the_right_one_unlocks(
    chat_world: World,
) -> None:
    (alice,) = await chat_world.create("alice")
    app = chat_app(alice, passphrase=None)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, UnlockScreen), "the prompt")
        prompt = app.screen
        await pilot.press(*"wrong horse", "enter")
        status = lambda: text_of(prompt.query_one("#status", Static))  # noqa: E731
        await until(pilot, lambda: "wrong passphrase" in status(), "the refusal")
        assert "recovery code" in status()
        assert prompt.query_one(Input).value == ""  # cleared for the next try
        await pilot.press(*PASSPHRASE, "enter")
        await main_screen(pilot)

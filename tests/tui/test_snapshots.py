"""Snapshots (pytest-textual-snapshot) of the chat's setup, main, verification and
key-change screens, against a real server (a child process: the snapshot plugin runs the
app in an event loop of its own).

What would change from run to run is fixed: the keys are made once
(``tests/tui/keys``, test-only keys without expiry), the history shown is written into the
local state with fixed times, in UTC. ``pytest --snapshot-update tests/tui`` rewrites the
snapshots after an intended change; look at them before committing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from ironwall.client import Account
from ironwall.client.events import Delivery, Direction, MessageStatus
from ironwall.client.xmpp import ServerAddress
from ironwall.e2e import Identity
from ironwall.tui.app import ChatApp
from ironwall.tui.compose_box import ComposeBox
from ironwall.tui.dialogs import KeyChangedDialog
from ironwall.tui.main_screen import LAST_PEER_KEY
from ironwall.tui.setup_screen import SetupScreen
from ironwall.tui.verify_screen import VerifyScreen
from support.client_world import PASSPHRASE
from support.server import ServerProcess, write_config
from support.tls import test_pki

KEYS = Path(__file__).parent / "keys"
SIZE = (80, 24)
_PASSED = (
    ("decrypts-and-signed", True),
    ("sender-key", True),
    ("recipient", True),
    ("fresh", True),
    ("key-valid", True),
)

SnapCompare = Callable[..., bool]


@dataclass
class Accounts:
    home: Path
    alice: Account


def _at(day: int, hour: int, minute: int) -> float:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.UTC).timestamp()


async def _make_accounts(tmp: Path, port: int) -> Account:
    address = ServerAddress("127.0.0.1", port, test_pki().ca_pem)
    made = {}
    for name in ("alice", "bob", "carol"):
        account = Account(f"{name}@localhost", tmp / name, insecure_fast_kdf_for_tests=True)
        account.remember_address(address)
        key = KEYS / f"{name}.key"
        identity = Identity.import_openpgp(key.read_bytes()) if key.exists() else None
        await account.create(PASSPHRASE, identity=identity)
        made[name] = account
    alice = made["alice"]
    for name in ("bob", "carol"):
        async with alice.open(PASSPHRASE) as session:
            await session.add_contact(made[name].jid)
            await session.settled()
        async with made[name].open(PASSPHRASE) as session:
            await session.accept_contact(alice.jid)
            await session.settled()
    async with alice.open(PASSPHRASE) as session:
        await session.verify("carol@localhost")
        state = session.state
        bob = "bob@localhost"
        state.add_message(
            bob,
            Direction.IN,
            "Are we still on for Saturday?",
            _at(28, 18, 2),
            MessageStatus.UNVERIFIED,
            checks=_PASSED,
        )
        state.add_message(
            bob,
            Direction.OUT,
            "Yes! 10:00 at the station.",
            _at(28, 18, 5),
            MessageStatus.UNVERIFIED,
            delivery=Delivery.READ,
        )
        state.add_message(
            bob,
            Direction.IN,
            "[bold]Great[/bold] \x1b[31m see you\nthere",
            _at(30, 9, 41),
            MessageStatus.UNVERIFIED,
            checks=_PASSED,
        )
        state.add_message(
            bob,
            Direction.IN,
            None,
            _at(30, 9, 43),
            MessageStatus.REJECTED,
            detail="signed by a key that is not bob@localhost's",
            checks=(("decrypts-and-signed", True), ("sender-key", False)),
        )
        state.add_message(
            bob,
            Direction.OUT,
            "Did you send that last one?",
            _at(30, 9, 50),
            MessageStatus.UNVERIFIED,
            delivery=Delivery.DELIVERED,
        )
        carol = "carol@localhost"
        state.add_message(
            carol,
            Direction.IN,
            "New photos are up",
            _at(30, 11, 0),
            MessageStatus.VERIFIED,
            checks=_PASSED,
            unread=True,
        )
        state.add_message(
            carol,
            Direction.IN,
            "The one from the lake!",
            _at(30, 11, 1),
            MessageStatus.VERIFIED,
            checks=_PASSED,
            unread=True,
        )
        state.set(LAST_PEER_KEY, bob)
    return alice


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Accounts]:
    """alice (with bob and carol as contacts) on a server running as a child process."""
    tmp = tmp_path_factory.mktemp("snapshots")
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    server = ServerProcess(tmp / "server", config=write_config(tmp))
    port = server.start()
    try:
        alice = asyncio.run(_make_accounts(tmp, port))
        yield Accounts(tmp / "alice", alice)
    finally:
        server.stop()
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()


def _app(accounts: Accounts) -> ChatApp:
    return ChatApp(
        accounts.home,
        accounts.alice,
        passphrase=PASSPHRASE,
        fast_kdf=True,
        desktop_notifications=False,
    )


async def _until(pilot: Pilot[Any], condition: Callable[[], object], what: str) -> None:
    for _ in range(400):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for: {what}")


async def _chat_ready(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, ChatApp)
    await _until(
        pilot,
        lambda: (
            app.main is not None and app.screen is app.main and bool(app.main.query("#status-bar"))
        ),
        "the main screen",
    )
    assert app.main is not None
    main = app.main
    await _until(pilot, lambda: "online" in str(main.query_one("#status-bar").content), "online")
    await _until(
        pilot,
        lambda: (
            "carol@localhost (2)" in str(main.contact_list.get_option("carol@localhost").prompt)
        ),
        "the contact list",
    )
    main.query_one(ComposeBox).cursor_blink = False
    await main.session.settled()
    await pilot.pause(0.3)


def test_setup_screen(snap_compare: SnapCompare, tmp_path: Path) -> None:
    """First run: the setup form, with the meter saying why a passphrase is refused."""

    async def weak_passphrase(pilot: Pilot[Any]) -> None:
        from textual.widgets import Input

        screen = pilot.app.screen
        assert isinstance(screen, SetupScreen)
        screen.query_one("#jid", Input).value = "alice@example.org"
        screen.query_one("#passphrase", Input).value = "sunshine2026"
        screen.query_one("#jid", Input).focus()
        screen.query_one("#jid", Input).cursor_blink = False
        await pilot.pause()

    app = ChatApp(tmp_path / "new", None, fast_kdf=True, desktop_notifications=False)
    assert snap_compare(app, terminal_size=SIZE, run_before=weak_passphrase)


def test_main_screen(snap_compare: SnapCompare, accounts: Accounts) -> None:
    """Contacts with badges and unread counts; the conversation with day separators,
    delivery and read states, hostile markup shown as text, a message that failed a check."""
    assert snap_compare(_app(accounts), terminal_size=SIZE, run_before=_chat_ready)


def test_verification_screen(snap_compare: SnapCompare, accounts: Accounts) -> None:
    """Both fingerprints side by side, in groups."""

    async def verify(pilot: Pilot[Any]) -> None:
        await _chat_ready(pilot)
        await pilot.press("ctrl+t")
        await _until(pilot, lambda: isinstance(pilot.app.screen, VerifyScreen), "verify")
        await pilot.pause(0.3)

    assert snap_compare(_app(accounts), terminal_size=SIZE, run_before=verify)


def test_key_change_dialog(snap_compare: SnapCompare, accounts: Accounts) -> None:
    """The blocking dialog when a verified contact's key changes."""

    async def changed(pilot: Pilot[Any]) -> None:
        await _chat_ready(pilot)
        pilot.app.push_screen(KeyChangedDialog("bob@localhost", was_verified=True))
        await _until(pilot, lambda: isinstance(pilot.app.screen, KeyChangedDialog), "dialog")
        await pilot.pause(0.3)

    assert snap_compare(_app(accounts), terminal_size=SIZE, run_before=changed)

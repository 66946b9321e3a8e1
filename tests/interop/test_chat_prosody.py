"""``ironwall chat`` (the Textual app) against Prosody from Debian.

1. An existing Prosody account (made with ``prosodyctl``, so it has a password and no
   Ironwall keys) is set up as ``ironwall account create --existing`` does; the chat
   asks for the passphrase, unlocks, and is online.
2. Alice in the chat and Bob as a headless client session become contacts (Ctrl+N in
   the chat) and write both ways; the marks the chat shows (key badge, message status,
   delivery) are checked as rendered.
3. The setup screen on Prosody: its *log in* mode, given an account made from a
   password but not that password, derives one from the passphrase, which Prosody
   refuses: it says so and leaves nothing behind; with the password it logs in. An
   account the setup screen *created* (in-band registration, password derived from the
   passphrase) logs in on a second device.

One Prosody serves the module, with in-band registration on for the last test; every
test uses its own accounts, since keys and rosters stay on the server.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input, Static

from ironwall.client import Account, ClientSession, list_accounts
from ironwall.client.events import (
    Delivery,
    Direction,
    Message,
    MessageStatus,
    MessageUpdated,
    SubscriptionRequested,
)
from ironwall.client.xmpp import ServerAddress
from ironwall.e2e import TrustState, open_secret_key
from ironwall.tui.app import ChatApp
from ironwall.tui.compose_box import ComposeBox
from ironwall.tui.dialogs import AddContactDialog
from ironwall.tui.main_screen import MainScreen
from ironwall.tui.setup_screen import RecoveryCodeScreen, SetupScreen
from ironwall.tui.unlock_screen import UnlockScreen
from support.chat_pilot import SIZE, main_screen, text_of, until
from support.sessions import next_event, next_message

from .peers import require_peer
from .prosody import start_prosody
from .xmpp_server import XmppServer

pytestmark = pytest.mark.interop

ALICE_PASSPHRASE = "orbit lantern quietly seventeen marble"
BOB_PASSPHRASE = "velvet harbor copper ninety thistle"
WAIT = 20.0
#: Accounts made with prosodyctl (each test its own); "erin" is registered by the chat.
USERS = ("alice", "bob", "carol", "dave")


@pytest.fixture(scope="module")
def prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppServer]:
    require_peer("prosody")
    handle = start_prosody(
        tmp_path_factory.mktemp("chat-prosody"),
        {name: secrets.token_urlsafe(12) for name in USERS},
        allow_registration=True,
    )
    try:
        yield handle.server
    finally:
        handle.stop()


def _address(server: XmppServer) -> ServerAddress:
    return ServerAddress(server.host, server.port, server.ca_pem_path)


async def _existing_account(server: XmppServer, user: str, home: Path, passphrase: str) -> Account:
    """``ironwall account create --existing``: keys for a server account that has a password."""
    account = Account(server.jid(user), home, insecure_fast_kdf_for_tests=True)
    account.remember_address(_address(server))
    await account.create(passphrase, existing_password=server.users[user])
    return account


def _chat(home: Path, account: Account | None, passphrase: str | None = None) -> ChatApp:
    return ChatApp(home, account, passphrase=passphrase, fast_kdf=True, desktop_notifications=False)


def _rendered(main: MainScreen, message: Message) -> str:
    """The message's lines as the conversation shows them."""
    prompt = main.messages.get_option(f"m{message.id}").prompt
    return prompt.plain if isinstance(prompt, Text) else str(prompt)


def _shown(main: MainScreen, direction: Direction, body: str) -> Message | None:
    for message in main.messages.messages:
        if message.direction is direction and message.body == body:
            return message
    return None


async def _quit(pilot: Pilot[int]) -> None:
    await pilot.press("ctrl+q")
    await until(pilot, lambda: pilot.app.return_code is not None, "the chat to quit", 10.0)
    assert pilot.app.return_code == 0


# ------------------------------------------------------ 1. an existing account unlocks


async def test_chat_unlocks_an_existing_prosody_account(
    prosody: XmppServer, tmp_path: Path
) -> None:
    home = tmp_path / "carol-laptop"
    carol = await _existing_account(prosody, "carol", home, ALICE_PASSPHRASE)
    # As `ironwall chat` starts without a passphrase file: the prompt asks for it.
    app = _chat(home, carol)
    async with app.run_test(size=SIZE) as pilot:
        try:
            await until(pilot, lambda: isinstance(app.screen, UnlockScreen), "the prompt")
            await pilot.press(*"wrong horse battery", "enter")
            status = app.screen.query_one("#status", Static)
            await until(pilot, lambda: "wrong passphrase" in text_of(status), "the refusal")
            assert isinstance(app.screen, UnlockScreen)
            app.screen.query_one("#passphrase", Input).value = ALICE_PASSPHRASE
            await pilot.press("enter")
            main = await main_screen(pilot)
            assert carol.jid in text_of(main.query_one("#status-bar", Static))
            assert text_of(main.query_one("#peer", Static)) == "No conversation open"
            assert "No contacts yet" in text_of(main.query_one("#notice", Static))
            session = app.session
            assert session is not None
            assert session.online
            assert session.contacts() == []
            await _quit(pilot)
            assert app.session is None
        finally:
            await app.close_session()


# ------------------------------------------------- 2. contacts and messages both ways


async def test_chat_and_a_client_session_talk_through_prosody(
    prosody: XmppServer, tmp_path: Path
) -> None:
    alice_jid, bob_jid = prosody.jid("alice"), prosody.jid("bob")
    alice_home = tmp_path / "alice-laptop"
    alice = await _existing_account(prosody, "alice", alice_home, ALICE_PASSPHRASE)
    bob_account = await _existing_account(prosody, "bob", tmp_path / "bob-phone", BOB_PASSPHRASE)
    to_bob = f"hello bob, from the chat on Prosody {secrets.token_hex(3)}"
    to_alice = f"hello alice ✓ <b>not bold</b> {secrets.token_hex(3)}"
    async with bob_account.open(BOB_PASSPHRASE, available=True) as bob:
        app = _chat(alice_home, alice, ALICE_PASSPHRASE)
        async with app.run_test(size=SIZE) as pilot:
            try:
                main = await main_screen(pilot)
                await _befriend(pilot, main, bob, alice_jid, bob_jid)

                # Alice writes in the compose box; Enter sends.
                assert app.focused is main.query_one(ComposeBox)
                await pilot.press(*to_bob)
                await pilot.press("enter")
                got = await next_message(bob, WAIT)
                assert (got.peer, got.body, got.status, got.detail) == (
                    alice_jid,
                    to_bob,
                    MessageStatus.UNVERIFIED,
                    "",
                )
                assert got.checks, got
                assert all(passed for _name, passed in got.checks), got.checks
                assert main.query_one(ComposeBox).text == ""
                # Prosody routes Bob's XEP-0184 receipt back (it is an ordinary message to
                # Alice), so the chat gets past "sent" (the answer to the ping after the
                # message) to "delivered". Bob's session never marks it read.
                await until(
                    pilot,
                    lambda: (
                        (m := _shown(main, Direction.OUT, to_bob)) is not None
                        and m.delivery is Delivery.DELIVERED
                    ),
                    "alice's message delivered",
                )
                mine = _shown(main, Direction.OUT, to_bob)
                assert mine is not None
                assert mine.status is MessageStatus.UNVERIFIED
                assert "you  ? unverified  ✓✓ delivered" in _rendered(main, mine)

                # Bob answers; it shows in Alice's open conversation, checked and escaped.
                sent = await bob.send(alice_jid, to_alice)
                await until(
                    pilot,
                    lambda: _shown(main, Direction.IN, to_alice) is not None,
                    "bob's message in the conversation",
                )
                theirs = _shown(main, Direction.IN, to_alice)
                assert theirs is not None
                assert (theirs.peer, theirs.status) == (bob_jid, MessageStatus.UNVERIFIED)
                assert theirs.checks, theirs
                assert all(passed for _name, passed in theirs.checks), theirs.checks
                lines = _rendered(main, theirs).splitlines()
                assert lines[0].endswith(f"{bob_jid}  ? unverified"), lines
                assert lines[1:] == [to_alice]
                # Alice looks at the conversation: the chat confirms receipt (XEP-0184), then
                # marks it read (XEP-0333), and Bob's session sees both, in that order.
                states = []
                while Delivery.READ not in states:
                    updated = await next_event(
                        bob, MessageUpdated, where=lambda e: e.message.id == sent.id, timeout=WAIT
                    )
                    states.append(updated.message.delivery)
                assert [d for d in states if d is not Delivery.SENT] == [
                    Delivery.DELIVERED,
                    Delivery.READ,
                ], states
                assert updated.message.body == to_alice
                assert bob.state.message(sent.id) == updated.message
                await until(
                    pilot,
                    lambda: "unread" not in text_of(main.query_one("#status-bar", Static)),
                    "no unread count once read",
                )
                assert app.session is not None
                assert app.session.unread_counts() == {}
                await _quit(pilot)
            finally:
                await app.close_session()


async def _befriend(
    pilot: Pilot[int], main: MainScreen, bob: ClientSession, alice_jid: str, bob_jid: str
) -> None:
    """Alice adds Bob with Ctrl+N; Bob's session accepts; both see the other's key."""
    app = pilot.app
    await pilot.press("ctrl+n")
    await until(pilot, lambda: isinstance(app.screen, AddContactDialog), "the add dialog")
    await pilot.press(*bob_jid, "enter")
    request = await next_event(bob, SubscriptionRequested, timeout=WAIT)
    assert request.jid == alice_jid
    trust = await bob.accept_contact(alice_jid)
    assert trust.state is TrustState.UNVERIFIED
    await until(pilot, lambda: main.peer == bob_jid, "the conversation with bob")
    await until(
        pilot,
        lambda: (
            main.session.contact(bob_jid).subscription == "both"
            and bob.contact(alice_jid).subscription == "both"
        ),
        "both subscriptions",
    )
    # Bob's key was pinned on first use: the header and the list say "unverified".
    header = main.query_one("#peer", Static)
    await until(pilot, lambda: "●" in text_of(header), "bob online in the header")
    assert text_of(header) == f"● {bob_jid}  ? unverified  Ctrl+T to verify"
    # The list is redrawn a moment after a burst of roster and presence events.
    await until(
        pilot,
        lambda: _entry(main, bob_jid) == f"● {bob_jid}\n  ? unverified",
        f"bob online and unverified in the contact list, not {_entry(main, bob_jid)!r}",
    )
    assert not main.query_one("#notice", Static).has_class("shown")
    assert bob.shares_presence_with(alice_jid)


def _entry(main: MainScreen, jid: str) -> str:
    """A contact's entry in the list, as shown."""
    prompt = main.contact_list.get_option(jid).prompt
    return prompt.plain if isinstance(prompt, Text) else str(prompt)


# ------------------------------------------------------------ 3. the setup screen


async def _fill_setup(
    pilot: Pilot[int], server: XmppServer, jid: str, passphrase: str, *, login: bool
) -> SetupScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, SetupScreen), "the setup screen")
    screen = app.screen
    assert isinstance(screen, SetupScreen)
    if login:
        await pilot.click("#mode-login")
        assert not screen.creating
    for field, value in (
        ("#jid", jid),
        ("#server", server.address),
        ("#ca", str(server.ca_pem_path)),
        ("#passphrase", passphrase),
    ):
        screen.query_one(field, Input).value = value
    if login:
        await pilot.click("#go")
    else:
        # Enter in the last field submits, as a user would (the log in above clicks).
        repeat = screen.query_one("#repeat", Input)
        repeat.value = passphrase
        repeat.focus()
        await pilot.press("enter")
    return screen


async def test_setup_screen_logs_in_to_an_account_made_from_a_password(
    prosody: XmppServer, tmp_path: Path
) -> None:
    """Dave's keys were made with his Prosody password (``create --existing``). Without
    that password the setup screen derives one from the passphrase, which Prosody
    refuses: it says why and leaves nothing on the device. With the password in the
    "Account password" field it logs in and opens the same key."""
    await _existing_account(prosody, "dave", tmp_path / "dave-laptop", BOB_PASSPHRASE)
    home = tmp_path / "dave-new-laptop"
    app = _chat(home, None)
    async with app.run_test(size=SIZE) as pilot:
        try:
            screen = await _fill_setup(
                pilot, prosody, prosody.jid("dave"), BOB_PASSPHRASE, login=True
            )
            status = screen.query_one("#status", Static)
            await until(pilot, lambda: status.has_class("error"), "the login error")
            assert text_of(status).startswith("the server refused the login: wrong passphrase")
            assert not screen.query_one("#go", Button).disabled
            assert app.screen is screen
            assert app.session is None
            assert list_accounts(home) == []

            screen.query_one("#password", Input).value = prosody.users["dave"]
            await pilot.pause(0.3)  # a button ignores a click while it shows the last one
            await pilot.click("#go")
            await main_screen(pilot)
            assert app.session is not None
            fingerprint = app.session.identity.fingerprint
            await _quit(pilot)
        finally:
            await app.close_session()
    laptop = Account(prosody.jid("dave"), tmp_path / "dave-laptop").device
    assert laptop is not None
    assert laptop.sealed_key is not None
    assert list_accounts(home) == [prosody.jid("dave")]
    assert fingerprint == open_secret_key(laptop.sealed_key, BOB_PASSPHRASE).fingerprint


async def test_setup_screen_creates_on_prosody_and_logs_in_on_a_second_device(
    prosody: XmppServer, tmp_path: Path
) -> None:
    """In-band registration (XEP-0077) on Prosody from the create mode; then the log in
    mode on an empty device gets the same key (the password follows the passphrase)."""
    jid = f"erin@{prosody.domain}"
    first = tmp_path / "erin-laptop"
    app = _chat(first, None)
    async with app.run_test(size=SIZE) as pilot:
        try:
            await _fill_setup(pilot, prosody, jid, ALICE_PASSPHRASE, login=False)
            await until(
                pilot, lambda: isinstance(app.screen, RecoveryCodeScreen), "the recovery code"
            )
            code = app.screen.query_one("#code", Static)
            assert len(text_of(code)) > 20
            assert app.screen.query_one("#continue", Button).disabled
            app.screen.query_one("#kept", Checkbox).value = True
            await pilot.pause()
            await pilot.click("#continue")
            await main_screen(pilot)
            assert app.session is not None
            fingerprint = app.session.identity.fingerprint
            await _quit(pilot)
        finally:
            await app.close_session()
    assert list_accounts(first) == [jid]

    second = tmp_path / "erin-phone"
    app = _chat(second, None)
    async with app.run_test(size=SIZE) as pilot:
        try:
            await _fill_setup(pilot, prosody, jid, ALICE_PASSPHRASE, login=True)
            main = await main_screen(pilot)
            assert main.session.jid == jid
            assert main.session.identity.fingerprint == fingerprint
            await _quit(pilot)
        finally:
            await app.close_session()
    assert list_accounts(second) == [jid]

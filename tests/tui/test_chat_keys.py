"""What the chat shows about keys, from the session's checks: verification, a changed key
of a verified contact (the server side swaps it), a contact without a key."""

from __future__ import annotations

from textual.widgets import Static

from ironwall.client import ox
from ironwall.e2e import Identity, TrustState, format_fingerprint
from ironwall.proto.jid import JID
from ironwall.tui.compose_box import ComposeBox
from ironwall.tui.dialogs import KeyChangedDialog, PlaintextDialog
from ironwall.tui.main_screen import MainScreen
from ironwall.tui.verify_screen import VerifyScreen
from support.chat_pilot import SIZE, chat_app, main_screen, shown, text_of, until
from support.client import connected
from support.client_world import PASSPHRASE, World
from support.users import PASSWORD, befriend


def _header(screen: MainScreen) -> str:
    return text_of(screen.query_one("#peer", Static))


def _notice(screen: MainScreen) -> str:
    return text_of(screen.query_one("#notice", Static))


async def test_verifying_a_contact_compares_both_fingerprints(chat_world: World) -> None:
    alice, bob = await chat_world.create("alice", "bob")
    await chat_world.befriend("alice", "bob")
    app = chat_app(alice)
    async with app.run_test(size=SIZE) as pilot:
        screen = await main_screen(pilot)
        assert "? unverified" in _header(screen)
        await pilot.press("ctrl+t")
        await until(pilot, lambda: isinstance(app.screen, VerifyScreen), "the verify screen")
        verify = app.screen
        own = text_of(verify.query_one("#own", Static))
        theirs = text_of(verify.query_one("#theirs", Static))
        first_group = format_fingerprint(screen.session.identity.fingerprint).split()[0]
        assert "Your key (alice@localhost)" in own
        assert first_group in own
        bob_key = screen.session.contact(bob.jid).fingerprints[0]
        assert "Key of bob@localhost" in theirs
        assert format_fingerprint(bob_key).split()[-1] in theirs
        await pilot.press("q")  # the QR code of one's own key
        assert verify.query_one("#qr").has_class("shown")
        await pilot.press("q")  # back to the fingerprints
        await pilot.click("#match")
        await until(pilot, lambda: "✔ verified" in _header(screen), "the verified badge")
        assert screen.session.contact(bob.jid).trust is TrustState.VERIFIED


async def test_a_swapped_key_of_a_verified_contact_blocks_sending(chat_world: World) -> None:
    alice, bob = await chat_world.create("alice", "bob")
    await chat_world.befriend("alice", "bob")
    app = chat_app(alice)
    async with app.run_test(size=SIZE) as pilot:
        screen = await main_screen(pilot)
        await screen.session.verify(bob.jid)
        # Whoever controls bob's key list (his server) announces a key of its own.
        substitute = Identity.generate(bob.jid)
        async with bob.open(PASSPHRASE) as server_side:
            await ox.publish_public_key(server_side.connection, substitute.public_key)
        offered = lambda: screen.session.contact(bob.jid).waiting_fingerprints  # noqa: E731
        await until(pilot, lambda: offered() == (substitute.fingerprint,), "the new key seen")
        await until(pilot, lambda: isinstance(app.screen, KeyChangedDialog), "the dialog")
        await screen.session.settled()
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, KeyChangedDialog)
        assert dialog.was_verified
        await pilot.click("#later")
        assert "KEY CHANGED" in _header(screen)
        assert "nothing is sent" in _notice(screen)
        # Writing to bob now sends nothing and brings the question back.
        screen.query_one(ComposeBox).insert("the door code is 5521")
        await pilot.press("enter")
        await until(
            pilot,
            lambda: isinstance(app.screen, KeyChangedDialog),
            lambda: (
                f"the dialog again ({app.focused}, {app.screen_stack}, {list(app._notifications)})"
            ),
        )
        assert screen.session.history(bob.jid) == []
        await pilot.click("#accept")
        await until(pilot, lambda: "? unverified" in _header(screen), "the accepted key")
        assert screen.session.contact(bob.jid).fingerprints == (substitute.fingerprint,)
        await pilot.press("enter")  # the text is still in the box
        await until(
            pilot,
            lambda: [m.body for m in shown(screen)] == ["the door code is 5521"],
            "the message, sent to the new key",
        )


async def test_a_contact_without_a_key_gets_plaintext_only_by_explicit_choice(
    chat_world: World,
) -> None:
    (alice,) = await chat_world.create("alice")
    server = chat_world.server
    await server.accounts.create(JID.parse("carol@localhost"), PASSWORD)
    await befriend(server, alice.jid, "carol@localhost")
    port = server.addresses[0][1]
    async with connected("carol@localhost", PASSWORD, port) as carol:
        app = chat_app(alice)
        async with app.run_test(size=SIZE) as pilot:
            screen = await main_screen(pilot)
            screen.open_conversation("carol@localhost")
            await until(pilot, lambda: "– no key" in _header(screen), "the no-key badge")
            assert "has no encryption key" in _notice(screen)
            screen.query_one(ComposeBox).insert("are you there?")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, PlaintextDialog), "the question")
            await pilot.click("#cancel")
            assert screen.session.history("carol@localhost") == []
            await pilot.press("enter")
            await until(
                pilot,
                lambda: isinstance(app.screen, PlaintextDialog),
                lambda: f"asked again ({app.focused}, {app.screen_stack})",
            )
            await pilot.click("#plaintext")
            await until(pilot, lambda: len(shown(screen)) == 1, "the plaintext message")
            assert "NOT ENCRYPTED" in str(screen.messages.get_option_at_index(1).prompt)
            assert "⚠ NOT ENCRYPTED" in _header(screen)
            stanza = await carol.next_message()
            assert stanza["body"] == "are you there?"

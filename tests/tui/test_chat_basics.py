"""The chat against a real Ironwall server: contacts, messages both ways, delivery and
read states, typing, and where it opens."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets.option_list import OptionDoesNotExist

from ironwall.client import ClientSession
from ironwall.client.events import ChatState, ChatStateChanged, Delivery, Direction, MessageStatus
from ironwall.tui.compose_box import ComposeBox
from ironwall.tui.dialogs import AddContactDialog, RequestDialog
from ironwall.tui.main_screen import MainScreen
from support.chat_pilot import SIZE, chat_app, main_screen, shown, status_bar, text_of, until
from support.client_world import PASSPHRASE, World
from support.sessions import next_event, next_message


async def _write(pilot: Pilot[object], screen: MainScreen, text: str) -> None:
    screen.query_one(ComposeBox).focus()
    screen.query_one(ComposeBox).insert(text)
    await pilot.press("enter")


def _has_option(screen: MainScreen, option_id: str) -> bool:
    try:
        screen.contact_list.get_option(option_id)
    except OptionDoesNotExist:
        return False
    return True


async def test_two_chats_become_contacts_and_talk_with_delivery_and_read_states(
    chat_world: World,
) -> None:
    alice, bob = await chat_world.create("alice", "bob")
    alice_app, bob_app = chat_app(alice), chat_app(bob)
    async with alice_app.run_test(size=SIZE) as a, bob_app.run_test(size=SIZE) as b:
        alice_screen = await main_screen(a)
        bob_screen = await main_screen(b)
        assert "No contacts yet" in text_of(alice_screen.query_one("#notice"))  # type: ignore[arg-type]

        await a.press("ctrl+n")
        await until(a, lambda: isinstance(alice_app.screen, AddContactDialog), "the dialog")
        await a.press(*"bob@localhost", "enter")
        await until(a, lambda: alice_screen.peer == bob.jid, "alice's conversation with bob")

        # Bob's list shows the request first; choosing it asks accept / deny.
        request = f"request:{alice.jid}"
        await until(b, lambda: _has_option(bob_screen, request), "the request in bob's list")
        assert "wants to be your contact" in str(bob_screen.contact_list.get_option(request).prompt)
        bob_screen.contact_list.focus()
        bob_screen.contact_list.highlighted = bob_screen.contact_list.get_option_index(request)
        await b.press("enter")
        await until(b, lambda: isinstance(bob_app.screen, RequestDialog), "the request dialog")
        await b.click("#accept")
        await until(b, lambda: bob_screen.peer == alice.jid, "bob's conversation with alice")
        await until(
            a,
            lambda: alice_screen.session.contact(bob.jid).subscription == "both",
            "a mutual subscription",
        )

        await _write(a, alice_screen, "hello bob")
        await until(
            b,
            lambda: any(m.body == "hello bob" for m in shown(bob_screen)),
            "alice's message in bob's chat",
        )
        received = next(m for m in shown(bob_screen) if m.body == "hello bob")
        assert received.direction is Direction.IN
        assert received.status is MessageStatus.UNVERIFIED
        # Bob's chat has the conversation open, so it is read there, and alice sees that.
        sent = lambda: next(m for m in shown(alice_screen) if m.body == "hello bob")  # noqa: E731
        await until(a, lambda: sent().delivery is Delivery.READ, "read, in alice's chat")
        line = alice_screen.messages.get_option(f"m{sent().id}").prompt
        assert "✓✓ read" in str(line)

        await _write(b, bob_screen, "hi alice\nsecond line")
        await until(
            a,
            lambda: any(m.body == "hi alice\nsecond line" for m in shown(alice_screen)),
            "bob's reply in alice's chat",
        )
        assert bob_screen.query_one(ComposeBox).text == ""  # sent, so the box is empty


async def test_typing_is_shown_and_unread_messages_are_counted(chat_world: World) -> None:
    alice, bob, carol = await chat_world.create("alice", "bob", "carol")
    await chat_world.befriend("alice", "bob")
    await chat_world.befriend("alice", "carol")
    async with (
        bob.open(PASSPHRASE, available=True) as bob_session,
        carol.open(PASSPHRASE, available=True) as carol_session,
    ):
        app = chat_app(alice)
        async with app.run_test(size=SIZE) as pilot:
            screen = await main_screen(pilot)
            screen.open_conversation(bob.jid)
            await bob_session.settled()
            bob_session.set_chat_state(alice.jid, ChatState.COMPOSING)
            await until(
                pilot,
                lambda: "bob@localhost is typing" in text_of(screen.query_one("#typing")),
                "bob typing",
            )  # type: ignore[arg-type]
            await carol_session.send(alice.jid, "one")
            await carol_session.send(alice.jid, "two")
            await until(
                pilot,
                lambda: screen.session.unread_counts().get(carol.jid) == 2,
                "two unread from carol",
            )
            entry = lambda: str(screen.contact_list.get_option(carol.jid).prompt)  # noqa: E731
            await until(pilot, lambda: "carol@localhost (2)" in entry(), "the unread count")
            await until(pilot, lambda: "2 unread" in status_bar(screen), "the unread total")
            # Alice typing reaches bob as a chat state.
            await _write_without_sending(screen, "draft")
            state = await _next_chat_state(bob_session)
            assert state is ChatState.COMPOSING
            # Opening carol's conversation reads it.
            screen.open_conversation(carol.jid)
            await until(
                pilot,
                lambda: not screen.session.unread_counts().get(carol.jid),
                "carol's messages read",
            )


async def _write_without_sending(screen: MainScreen, text: str) -> None:
    screen.query_one(ComposeBox).insert(text)


async def _next_chat_state(session: ClientSession) -> ChatState:
    return (await next_event(session, ChatStateChanged)).state


async def test_it_opens_where_the_user_left_off(chat_world: World) -> None:
    alice, _bob, carol = await chat_world.create("alice", "bob", "carol")
    await chat_world.befriend("alice", "bob")
    await chat_world.befriend("alice", "carol")
    app = chat_app(alice)
    async with app.run_test(size=SIZE) as pilot:
        screen = await main_screen(pilot)
        screen.open_conversation(carol.jid)
        await pilot.press("ctrl+q")
    again = chat_app(alice)
    async with again.run_test(size=SIZE) as pilot:
        screen = await main_screen(pilot)
        assert screen.peer == carol.jid
        assert isinstance(again.focused, ComposeBox)


async def test_what_the_chat_sends_is_in_the_state_the_cli_reads(
    chat_world: World,
) -> None:
    alice, bob = await chat_world.create("alice", "bob")
    await chat_world.befriend("alice", "bob")
    app = chat_app(alice)
    async with bob.open(PASSPHRASE, available=True) as bob_session:
        async with app.run_test(size=SIZE) as pilot:
            screen = await main_screen(pilot)
            await _write(pilot, screen, "from the chat")
            heard = await next_message(bob_session)
            assert heard.body == "from the chat"
        # What the chat sent is in the account's one local state, which the CLI reads too.
        async with alice.open(PASSPHRASE) as cli_side:
            assert [m.body for m in cli_side.history(bob.jid)] == ["from the chat"]

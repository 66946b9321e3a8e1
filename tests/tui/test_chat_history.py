"""The conversation view with a long history: it opens on the newest page at the
bottom (also after switching away and back), loads older pages at the top without
losing the user's place, shows a burst whole and in order, and puts a message written
earlier than what is shown (an archive copy) where it belongs."""

from __future__ import annotations

import datetime as dt
import time

from textual.pilot import Pilot

from ironwall.client import ClientSession
from ironwall.client.events import Direction, MessageReceived, MessageStatus
from ironwall.tui.main_screen import MainScreen
from ironwall.tui.message_list import FIRST_PAGE, OLDER_PAGE
from support.chat_pilot import SIZE, chat_app, main_screen, shown, until
from support.client_world import PASSPHRASE, World

HISTORY = FIRST_PAGE + 2 * OLDER_PAGE + 17
DAY = 86_400.0


def _seed(session: ClientSession, peer: str, count: int, start: float) -> list[int]:
    """``count`` messages with ``peer``, one a minute from ``start``, both directions."""
    ids = []
    for n in range(count):
        message = session.state.add_message(
            peer,
            Direction.IN if n % 3 else Direction.OUT,
            f"message {n}",
            start + 60.0 * n,
            MessageStatus.VERIFIED,
        )
        assert message is not None
        ids.append(message.id)
    return ids


def _bodies(screen: MainScreen) -> list[str]:
    return [m.body or "" for m in shown(screen)]


def _at_bottom(screen: MainScreen) -> bool:
    return screen.messages.scroll_y >= screen.messages.max_scroll_y - 1


def _option_ids(screen: MainScreen) -> list[str]:
    return [option.id or "" for option in screen.messages.options]


async def _opened(pilot: Pilot[object], screen: MainScreen, peer: str) -> None:
    screen.open_conversation(peer)
    await pilot.pause()
    await until(pilot, lambda: _at_bottom(screen), "the conversation scrolled to the bottom")


async def test_a_long_conversation_opens_on_its_newest_page_and_pages_back_to_the_start(
    chat_world: World,
) -> None:
    alice, _bob, _carol = await chat_world.create("alice", "bob", "carol")
    await chat_world.befriend("alice", "bob")
    await chat_world.befriend("alice", "carol")
    app = chat_app(alice)
    async with app.run_test(size=SIZE) as pilot:
        screen = await main_screen(pilot)
        session = screen.session
        start = time.time() - 5 * DAY
        _seed(session, "bob@localhost", HISTORY, start)
        _seed(session, "carol@localhost", 30, start)
        everything = [f"message {n}" for n in range(HISTORY)]

        await _opened(pilot, screen, "bob@localhost")
        assert _bodies(screen) == everything[-FIRST_PAGE:]
        assert screen.messages.more_before

        # Away and back: the newest page at the bottom again, not the list's top (where
        # replacing the options scrolls on the way) taken for a wish to see older ones.
        await _opened(pilot, screen, "carol@localhost")
        assert _bodies(screen) == [f"message {n}" for n in range(30)]
        assert not screen.messages.more_before
        await _opened(pilot, screen, "bob@localhost")
        await pilot.pause(0.2)
        assert _bodies(screen) == everything[-FIRST_PAGE:]
        assert _at_bottom(screen)

        # Scrolling to the top loads the page before, and the view stays on the message
        # that was first; until the start of the conversation, each message once.
        loaded = FIRST_PAGE
        while screen.messages.more_before:
            first = shown(screen)[0]
            screen.messages.scroll_home(animate=False, immediate=True)
            await until(pilot, lambda n=loaded: len(shown(screen)) > n, "the older page")
            loaded = min(HISTORY, loaded + OLDER_PAGE)
            assert _bodies(screen) == everything[-loaded:]
            assert screen.messages.highlighted == screen.messages.get_option_index(f"m{first.id}")
            assert screen.messages.scroll_y > 0
        assert loaded == HISTORY
        assert _bodies(screen) == everything
        # One separator per day, in order, none twice.
        days = [i for i in _option_ids(screen) if i.startswith("day-")]
        assert days == sorted(set(days))
        assert len(days) >= 1


async def test_a_burst_is_shown_whole_and_in_order_at_the_bottom(chat_world: World) -> None:
    alice, bob = await chat_world.create("alice", "bob")
    await chat_world.befriend("alice", "bob")
    app = chat_app(alice)
    async with app.run_test(size=SIZE) as pilot:
        screen = await main_screen(pilot)
        _seed(screen.session, bob.jid, 80, time.time() - DAY)
        await _opened(pilot, screen, bob.jid)
        before = _bodies(screen)
        async with bob.open(PASSPHRASE, available=True) as bob_session:
            burst = [f"burst {n}" for n in range(40)]
            for body in burst:
                await bob_session.send(alice.jid, body)
            await until(
                pilot,
                lambda: len(shown(screen)) == len(before) + len(burst),
                lambda: f"the burst ({len(shown(screen)) - len(before)} of 40 shown)",
            )
        assert _bodies(screen) == before + burst
        ids = _option_ids(screen)
        assert len(ids) == len(set(ids))
        await until(pilot, lambda: _at_bottom(screen), "the view at the newest message")


async def test_a_message_written_before_what_is_shown_goes_where_it_belongs(
    chat_world: World,
) -> None:
    """An archive copy read at login can be older than what the conversation shows."""
    alice, bob = await chat_world.create("alice", "bob")
    await chat_world.befriend("alice", "bob")
    app = chat_app(alice)
    async with app.run_test(size=SIZE) as pilot:
        screen = await main_screen(pilot)
        session = screen.session
        # At noon, so that each batch is on its own day whenever the test runs.
        noon = dt.datetime.combine(dt.date.today(), dt.time(12)).timestamp()
        _seed(session, bob.jid, 5, noon - 3 * DAY)
        _seed(session, bob.jid, 5, noon - DAY)
        await _opened(pilot, screen, bob.jid)
        days_before = [i for i in _option_ids(screen) if i.startswith("day-")]
        assert len(days_before) == 2

        late = session.state.add_message(
            bob.jid, Direction.IN, "from the archive", noon - 2 * DAY, MessageStatus.VERIFIED
        )
        assert late is not None
        session.emit(MessageReceived(late))
        await until(pilot, lambda: "from the archive" in _bodies(screen), "the late message")
        assert _bodies(screen) == [f"message {n}" for n in range(5)] + ["from the archive"] + [
            f"message {n}" for n in range(5)
        ]
        ids = _option_ids(screen)
        assert len(ids) == len(set(ids))
        days = [i for i in ids if i.startswith("day-")]
        assert days == sorted(days)
        assert len(days) == 3
        # It sits under its own day's separator.
        assert ids.index(f"m{late.id}") == ids.index(days[1]) + 1
        # And a live message after it goes to the bottom as usual.
        async with bob.open(PASSPHRASE, available=True) as bob_session:
            await bob_session.send(alice.jid, "live again")
            await until(pilot, lambda: _bodies(screen)[-1:] == ["live again"], "the live one")


async def test_switching_while_new_messages_wait_to_be_added_shows_the_other_conversation(
    chat_world: World,
) -> None:
    """Messages still waiting for the next batch belong to the conversation they came
    in: switching away drops them from the view (they are in the history)."""
    alice, bob, carol = await chat_world.create("alice", "bob", "carol")
    await chat_world.befriend("alice", "bob")
    await chat_world.befriend("alice", "carol")
    app = chat_app(alice)
    async with app.run_test(size=SIZE) as pilot:
        screen = await main_screen(pilot)
        session = screen.session
        _seed(session, carol.jid, 3, time.time() - DAY)
        await _opened(pilot, screen, bob.jid)
        for body in ("first", "second", "third"):
            message = session.state.add_message(
                bob.jid, Direction.IN, body, time.time(), MessageStatus.VERIFIED
            )
            assert message is not None
            screen.messages.add(message)
        assert _bodies(screen)[-1:] == ["first"]  # the others wait for the next batch
        await _opened(pilot, screen, carol.jid)
        await pilot.pause(0.3)
        assert _bodies(screen) == ["message 0", "message 1", "message 2"]
        await _opened(pilot, screen, bob.jid)
        assert _bodies(screen)[-3:] == ["first", "second", "third"]

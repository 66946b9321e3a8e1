"""Driving the chat app in tests: start it for an account, wait for what it shows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from ironwall.client import Account
from ironwall.client.events import Message
from ironwall.tui.app import ChatApp
from ironwall.tui.main_screen import MainScreen
from support.client_world import PASSPHRASE

SIZE = (100, 30)


def chat_app(account: Account, *, passphrase: str | None = PASSPHRASE) -> ChatApp:
    """The chat for ``account``, unlocking with ``passphrase`` (None: the prompt waits)."""
    return ChatApp(
        account.directory.parent,
        account,
        passphrase=passphrase,
        fast_kdf=True,
        desktop_notifications=False,
    )


async def until(
    pilot: Pilot[object],
    condition: Callable[[], object],
    what: str | Callable[[], str],
    timeout: float = 20.0,
) -> None:
    """Let the app run until ``condition()`` is true; fail saying ``what`` did not happen
    (``what`` may be a function, to say what the app shows at that moment)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out waiting for: {said}")
        await pilot.pause(0.05)


async def main_screen(pilot: Pilot[object]) -> MainScreen:
    """The main screen, once the app has unlocked and is online."""
    app = pilot.app
    assert isinstance(app, ChatApp)
    await until(
        pilot,
        lambda: (
            app.main is not None and app.screen is app.main and bool(app.main.query("#status-bar"))
        ),
        "the main screen",
    )
    assert app.main is not None
    await until(pilot, lambda: "online" in status_bar(app.main), "online in the status bar")
    return app.main


def status_bar(screen: MainScreen) -> str:
    """What the status bar says."""
    return text_of(screen.query_one("#status-bar", Static))


def text_of(widget: Static) -> str:
    """The plain text a Static shows (the chat gives them Rich `Text`, or plain strings)."""
    content = widget.content
    return content.plain if isinstance(content, Text) else str(content)


def shown(screen: MainScreen) -> list[Message]:
    """The messages of the open conversation, as shown."""
    return screen.messages.messages

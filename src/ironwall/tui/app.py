"""``ironwall chat``: the terminal chat, a thin layer over the client event API.

The app owns one `ClientSession` (opened by the unlock screen, or after the first-run
setup) for as long as it runs, and feeds its events to the main screen. The session does
every check; the screens only show the results and call the session's commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from pathlib import Path

from textual import events
from textual.app import App

from ironwall.client import Account, ClientSession, EventStream
from ironwall.client.events import ConnectionChanged, ConnectionState, Event, Message
from ironwall.client.text import visible
from ironwall.tui.main_screen import MainScreen
from ironwall.tui.quiet_collector import QuietCollector
from ironwall.tui.setup_screen import SetupScreen
from ironwall.tui.unlock_screen import UnlockScreen

__all__ = ["ChatApp"]

#: Longest run of event handling before the screen gets to draw (the burst case).
_SLICE = 0.005
#: How long closing the session may take when the user quits.
_CLOSE_TIMEOUT = 5.0


class ChatApp(App[int]):
    """The chat for one account on this device (or the setup of the first one)."""

    TITLE = "Ironwall"
    ENABLE_COMMAND_PALETTE = False

    def __init__(
        self,
        home: Path,
        account: Account | None = None,
        *,
        passphrase: str | None = None,
        fast_kdf: bool = False,
        desktop_notifications: bool = True,
        quiet_gc: bool = False,
    ) -> None:
        """``quiet_gc``: run full garbage collections only when the chat is quiet (for the
        process that is the chat: it changes the collector of the whole process)."""
        super().__init__()
        self.home = home
        self.account = account
        self.fast_kdf = fast_kdf
        self.session: ClientSession | None = None
        self.main: MainScreen | None = None
        #: Whether the terminal has the focus (terminals that report it; else always).
        self.has_terminal_focus = True
        self._passphrase = passphrase
        self._notify_send = shutil.which("notify-send") if desktop_notifications else None
        self._stack = contextlib.AsyncExitStack()
        self._unread_alerts = 0
        self._collector = QuietCollector() if quiet_gc else None

    def on_mount(self) -> None:
        """The unlock prompt, or the first-run setup when this device has no account."""
        if self.account is None:
            self.push_screen(SetupScreen(self.home, fast_kdf=self.fast_kdf), self._set_up)
        else:
            self._ask_passphrase(self.account)

    def _ask_passphrase(self, account: Account) -> None:
        self.account = account
        screen = UnlockScreen(account.jid, self.unlock, initial=self._passphrase)
        self._passphrase = None
        self.push_screen(screen)

    def _set_up(self, result: tuple[Account, str] | None) -> None:
        if result is None:
            self.exit(1)
            return
        account, passphrase = result
        self._passphrase = passphrase
        self._ask_passphrase(account)

    async def unlock(self, passphrase: str) -> None:
        """Open the session (raises the client's error if the passphrase or login fails)."""
        assert self.account is not None
        session = await self._stack.enter_async_context(
            self.account.open(passphrase, available=True, offline_ok=True)
        )
        self.session = session
        stream = session.events(replay=True)
        self.main = MainScreen(session)
        # After the unlock screen's worker has returned: switching screens cancels it.
        self.call_later(self._show_main)
        self.run_worker(self._pump(stream), name="events", group="events")

    def _show_main(self) -> None:
        assert self.main is not None
        self.switch_screen(self.main)
        if self._collector is not None:
            # Once the main screen is up: what exists then lives as long as the app.
            self.call_after_refresh(self._collector.start)

    async def _pump(self, stream: EventStream) -> None:
        """Hand every session event to the main screen, yielding to the screen in bursts."""
        started = time.perf_counter()
        async for event in stream:
            self._dispatch(event)
            if time.perf_counter() - started > _SLICE:
                await asyncio.sleep(0)
                started = time.perf_counter()

    def _dispatch(self, event: Event) -> None:
        if self._collector is not None:
            self._collector.busy()
        if self.main is not None:
            self.main.handle(event)
        if (
            isinstance(event, ConnectionChanged)
            and event.state is ConnectionState.OFFLINE
            and event.retry_in is None
        ):
            self.notify(
                visible(event.reason) or "the connection was lost",
                title="Disconnected, not trying again",
                severity="error",
                timeout=30,
                markup=False,
            )

    # --------------------------------------------------------- alerts

    def new_message(self, message: Message, *, shown: bool) -> None:
        """A message arrived: ring and retitle unless the user is looking at it."""
        if shown and self.has_terminal_focus and self.screen is self.main:
            return
        self._unread_alerts += 1
        self.bell()
        self._set_terminal_title(f"Ironwall ({self._unread_alerts} new)")
        if self._notify_send is not None and not self.is_headless:
            # The sender's address only: a notification daemon may log what it shows.
            self.run_worker(
                self._desktop_notification(f"New message from {visible(message.peer)}"),
                group="notify",
            )

    async def _desktop_notification(self, text: str) -> None:
        assert self._notify_send is not None
        with contextlib.suppress(OSError):
            process = await asyncio.create_subprocess_exec(
                self._notify_send, "--app-name=Ironwall", "Ironwall", text
            )
            await process.wait()

    def _set_terminal_title(self, title: str) -> None:
        driver = self._driver
        if driver is not None and not self.is_headless:
            driver.write(f"\x1b]2;{title}\x07")

    async def on_event(self, event: events.Event) -> None:
        """Input is activity: the collector waits for a quiet moment."""
        if self._collector is not None and isinstance(event, events.InputEvent):
            self._collector.busy()
        await super().on_event(event)

    def on_app_focus(self, _event: events.AppFocus) -> None:
        """Back in the terminal: the alerts are seen."""
        self.has_terminal_focus = True
        self._unread_alerts = 0
        self._set_terminal_title("Ironwall")
        if self.main is not None and self.main.is_mounted:
            self.main.on_screen_resume()

    def on_app_blur(self, _event: events.AppBlur) -> None:
        """The user looks elsewhere: new messages ring."""
        self.has_terminal_focus = False

    # --------------------------------------------------------- quitting

    async def action_quit(self) -> None:
        """Close the session (sending what it can), then leave."""
        await self.close_session()
        self.exit(0)

    async def on_unmount(self) -> None:
        """However the app ends (quit, Ctrl+C, an error): close the session cleanly."""
        await self.close_session()
        if self._collector is not None:
            await self._collector.stop()

    async def close_session(self) -> None:
        """Close the session, if it is open."""
        self.session = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stack.aclose(), _CLOSE_TIMEOUT)

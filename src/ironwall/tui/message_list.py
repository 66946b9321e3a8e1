"""The conversation: messages with day separators, delivery states and marks.

An `OptionList` renders only the lines on screen and measures each option once: a
conversation opens with its newest `FIRST_PAGE` messages, older pages (`OLDER_PAGE`)
load when the user scrolls to the top, and the options already measured are reused.
New messages are added at most every `_FLUSH_EVERY` seconds: every addition grows the
list, and that costs the whole screen a new layout, so a burst is shown in a few large
steps instead of a thousand small ones. Selecting a message (Enter, or a click) shows
its checks.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message as UIMessage
from textual.timer import Timer
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ironwall.client.events import Message
from ironwall.tui.words import day_label, message_text

__all__ = ["FIRST_PAGE", "OLDER_PAGE", "MessageList"]

#: Messages a conversation opens with: a few screens' worth, quick to measure.
FIRST_PAGE = 50
#: Messages loaded each time the user scrolls to the top.
OLDER_PAGE = 100
#: Least time between two additions at the bottom (s).
_FLUSH_EVERY = 0.1


def _option_id(message_id: int) -> str:
    return f"m{message_id}"


def _order(message: Message) -> tuple[float, int]:
    """Where a message goes: by the time it was written, then by arrival."""
    return (message.sent_at, message.id)


def _day(message: Message) -> dt.date:
    return dt.datetime.fromtimestamp(message.sent_at).date()


def _separator(message: Message) -> Option:
    label = Text(f"── {day_label(message.sent_at)} ──", style="dim", justify="center")
    return Option(label, id=f"day-{_day(message).isoformat()}", disabled=True)


class MessageList(OptionList):
    """The messages of one conversation, oldest at the top."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Message details", show=False)
    ]

    class NeedOlder(UIMessage):
        """The user scrolled to the top and there may be older messages."""

    class Inspect(UIMessage):
        """The user asked for a message's details (its checks)."""

        def __init__(self, message: Message) -> None:
            super().__init__()
            self.message = message

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._messages: dict[int, Message] = {}
        #: The options of this conversation by id: kept, so that they are measured once.
        self._made: dict[str, Option] = {}
        #: New messages not yet in the list (the next flush adds them), in arrival order.
        self._pending: list[int] = []
        self._flush_timer: Timer | None = None
        self._flushed_at = 0.0
        self._last_day: dt.date | None = None
        self.more_before = False
        #: True while the options are replaced: `set_options` scrolls to the top on the way,
        #: which is not the user asking for older messages.
        self._replacing = False

    @property
    def messages(self) -> list[Message]:
        """The messages shown, oldest first."""
        pending = set(self._pending)
        shown = [m for m in self._messages.values() if m.id not in pending]
        return sorted(shown, key=_order)

    def show(self, messages: list[Message], *, more_before: bool) -> None:
        """Show a conversation's newest page (replacing what was shown)."""
        self._cancel_flush()
        self._pending = []
        self._messages = {m.id: m for m in messages}
        self._made = {}
        self.more_before = more_before
        self._replace(self._options_for(messages))
        self.scroll_end(animate=False, immediate=True)

    def prepend(self, older: list[Message], *, more_before: bool) -> None:
        """Add an older page above what is shown, keeping the view where it was."""
        self._flush()
        current = self.messages
        self.more_before = more_before
        if not older:
            return
        for message in older:
            self._messages[message.id] = message
        self._replace(self._options_for([*older, *current]))
        if current:
            self.highlighted = self.get_option_index(_option_id(current[0].id))
            self.scroll_to_highlight(top=True)

    def _replace(self, options: list[Option]) -> None:
        self._replacing = True
        try:
            self.set_options(options)
        finally:
            self._replacing = False

    def _options_for(self, messages: list[Message]) -> list[Option]:
        options: list[Option] = []
        self._last_day = None
        for message in messages:
            options.extend(self._new_options(message))
        return options

    def _new_options(self, message: Message) -> list[Option]:
        options = []
        day = _day(message)
        if day != self._last_day:
            options.append(self._option(f"day-{day.isoformat()}", lambda: _separator(message)))
            self._last_day = day
        options.append(
            self._option(
                _option_id(message.id),
                lambda: Option(message_text(message), id=_option_id(message.id)),
            )
        )
        return options

    def _option(self, option_id: str, make: Callable[[], Option]) -> Option:
        option = self._made.get(option_id)
        if option is None:
            option = self._made[option_id] = make()
        return option

    def add(self, message: Message) -> None:
        """Show a new message at the bottom (or update it, if it is shown already)."""
        if message.id in self._messages:
            self.update(message)
            return
        self._messages[message.id] = message
        self._pending.append(message.id)
        wait = self._flushed_at + _FLUSH_EVERY - time.monotonic()
        if wait <= 0:
            self._flush()
        elif self._flush_timer is None:
            self._flush_timer = self.set_timer(wait, self._flush)

    def _flush(self) -> None:
        self._cancel_flush()
        pending, self._pending = self._pending, []
        if not pending:
            return
        self._flushed_at = time.monotonic()
        at_bottom = self.scroll_y >= self.max_scroll_y - 1
        waiting = set(pending)
        new = sorted((self._messages[i] for i in pending), key=_order)
        shown = [m for m in self._messages.values() if m.id not in waiting]
        if shown and _order(new[0]) < max(map(_order, shown)):
            # Written before what is shown (an archive copy, a slow server): in its place.
            top = self.scroll_y
            self._replace(self._options_for(sorted(self._messages.values(), key=_order)))
            if not at_bottom:
                self.scroll_to(y=top, animate=False, immediate=True)
        else:
            options: list[Option] = []
            for message in new:
                options.extend(self._new_options(message))
            self.add_options(options)
        if at_bottom:
            self.scroll_end(animate=False, immediate=True)

    def _cancel_flush(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None

    def update(self, message: Message) -> None:
        """Show a message's new delivery or read state."""
        if message.id not in self._messages:
            return
        self._messages[message.id] = message
        if message.id in self._pending:
            return  # the flush shows it as it is by then
        text = message_text(message)
        option_id = _option_id(message.id)
        # Replacing a prompt re-measures every option: skip it when nothing shown changed
        # (an incoming message being read looks the same).
        if self.get_option(option_id).prompt != text:
            self.replace_option_prompt(option_id, text)

    def has(self, message_id: int) -> bool:
        """Whether the message is shown."""
        return message_id in self._messages

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Ask for older messages when the user reaches the top."""
        super().watch_scroll_y(old_value, new_value)
        if new_value <= 0 < old_value and self.more_before and not self._replacing:
            self.post_message(self.NeedOlder())

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Show the selected message's details."""
        event.stop()
        option_id = event.option.id or ""
        if option_id.startswith("m"):
            message = self._messages.get(int(option_id[1:]))
            if message is not None:
                self.post_message(self.Inspect(message))

"""The multi-line compose box: Enter sends, Ctrl+J (or Alt+Enter) starts a new line."""

from __future__ import annotations

from textual import events
from textual.message import Message as UIMessage
from textual.widgets import TextArea

__all__ = ["ComposeBox"]

_NEW_LINE_KEYS = frozenset({"ctrl+j", "alt+enter", "shift+enter"})


class ComposeBox(TextArea):
    """Where the user writes; `Submitted` carries the text when Enter is pressed."""

    class Submitted(UIMessage):
        """The user pressed Enter to send ``text``."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
        self.placeholder = "Message — Enter sends, Ctrl+J: new line"

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.prevent_default()
            event.stop()
            self.post_message(self.Submitted(self.text))
            return
        if event.key in _NEW_LINE_KEYS:
            event.prevent_default()
            event.stop()
            self.insert("\n")
            return
        await super()._on_key(event)

"""The event bus that server modules talk through (Prosody's ``module:hook``).

Events are named by what they carry, e.g. ``iq-get/host/urn:xmpp:ping`` or
``message/bare``. Handlers run in priority order (highest first); the first one that
returns True has handled the event and stops the others.
"""

from __future__ import annotations

import bisect
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Handler", "Hooks"]

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[bool | None]]


class Hooks:
    """Named events with prioritised async handlers."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[tuple[int, int, Handler]]] = {}
        self._order = itertools.count()

    def on(self, name: str, handler: Handler, priority: int = 0) -> None:
        """Run ``handler`` for event ``name``; higher ``priority`` runs earlier."""
        entries = self._handlers.setdefault(name, [])
        bisect.insort(entries, (-priority, next(self._order), handler), key=lambda e: (e[0], e[1]))

    def has(self, name: str) -> bool:
        """True if some handler listens for ``name``."""
        return bool(self._handlers.get(name))

    async def fire(self, name: str, event: Any) -> bool:
        """Run the handlers of ``name`` until one returns True; return whether one did."""
        for _priority, _order, handler in self._handlers.get(name, ()):
            if await handler(event):
                return True
        return False

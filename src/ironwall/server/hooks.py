"""The event bus that server modules talk through (Prosody's ``module:hook``).

Events are `Hook` values (``server/events.py``): a name, such as
``iq-get/host/urn:xmpp:ping`` or ``message/bare``, typed with what the event carries.
Handlers run in priority order (highest first); the first one that returns True has
handled the event and stops the others.
"""

from __future__ import annotations

import bisect
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ironwall.server.events import Hook

__all__ = ["Handler", "Hooks"]

log = logging.getLogger(__name__)

PayloadT = TypeVar("PayloadT")

#: A handler of events carrying ``PayloadT``; True means handled (the others are skipped).
Handler = Callable[[PayloadT], Awaitable[bool | None]]


class Hooks:
    """Named events with prioritised async handlers."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[tuple[int, int, Handler[Any]]]] = {}
        self._order = itertools.count()

    def on(self, hook: Hook[PayloadT], handler: Handler[PayloadT], priority: int = 0) -> None:
        """Run ``handler`` for ``hook``; higher ``priority`` runs earlier."""
        entries = self._handlers.setdefault(hook.name, [])
        bisect.insort(entries, (-priority, next(self._order), handler), key=lambda e: (e[0], e[1]))

    def has(self, hook: Hook[Any]) -> bool:
        """True if some handler listens for ``hook``."""
        return bool(self._handlers.get(hook.name))

    async def fire(self, hook: Hook[PayloadT], payload: PayloadT) -> bool:
        """Run the handlers of ``hook`` until one returns True; return whether one did."""
        for _priority, _order, handler in self._handlers.get(hook.name, ()):
            if await handler(payload):
                return True
        return False

"""Waiting on a client session's events in tests."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

from ironwall.client import ClientSession, EventStream
from ironwall.client.events import Event, Message, MessageReceived

_streams: weakref.WeakKeyDictionary[ClientSession, EventStream] = weakref.WeakKeyDictionary()
E = TypeVar("E")


def stream(session: ClientSession) -> EventStream:
    """The test's one subscription to ``session`` (made on first use, with the backlog)."""
    if session not in _streams:
        _streams[session] = session.events()
    return _streams[session]


async def next_event(
    session: ClientSession,
    kind: type[E],
    *,
    where: Callable[[E], bool] = lambda _e: True,
    timeout: float = 10.0,
) -> E:
    """The next event of ``kind`` (that ``where`` accepts); the others are skipped."""
    events = stream(session)

    async def wait() -> E:
        while True:
            event: Event | None = await events.next()
            if event is None:
                raise AssertionError("the session closed")
            if isinstance(event, kind) and where(event):
                return event

    return await asyncio.wait_for(wait(), timeout)


async def next_message(session: ClientSession, timeout: float = 10.0) -> Message:
    """The next message the session received (opened, or rejected)."""
    return (await next_event(session, MessageReceived, timeout=timeout)).message

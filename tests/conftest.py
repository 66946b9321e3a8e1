"""Fixtures shared by every test directory (helpers live in ``support``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import uvloop

from ironwall.server.app import Server
from support.server import running_server


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """A real Ironwall server on an ephemeral loopback port, TLS with the test CA."""
    async with running_server(tmp_path / "server") as running:
        yield running


# The server runs on uvloop in production (``ironwall server``), so every test does; the
# tests of the stream core and its limits also run on the standard event loop, which a
# server embedded in another asyncio program gets.
_BOTH_LOOPS = {"test_login.py", "test_limits.py", "test_hostile_input.py", "test_messages.py"}


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """uvloop for every test; the standard loop too for the stream core's tests."""
    if item.path.name in _BOTH_LOOPS:
        return {"uvloop": uvloop.new_event_loop, "asyncio": asyncio.new_event_loop}
    return {"uvloop": uvloop.new_event_loop}

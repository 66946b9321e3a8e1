"""Fixtures of the terminal chat's tests: a real server, accounts, and the chat app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.client_world import World, world_at


@pytest.fixture
async def chat_world(tmp_path: Path) -> AsyncIterator[World]:
    """A running Ironwall server; accounts are made by the test (``World.create``)."""
    async for world in world_at(tmp_path):
        yield world

"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ironwall.proto.jid import JID
from ironwall.server.app import Server

from support.server import running_server

PASSWORD = "correct horse battery"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """A real Ironwall server on an ephemeral loopback port, TLS with the test CA."""
    async with running_server(tmp_path / "server") as running:
        yield running


async def add_users(server: Server, *names: str, password: str = PASSWORD) -> list[str]:
    """Create accounts ``name@localhost`` and return their JIDs."""
    jids = []
    for name in names:
        jid = JID.parse(f"{name}@localhost")
        await server.accounts.create(jid, password)
        jids.append(str(jid))
    return jids

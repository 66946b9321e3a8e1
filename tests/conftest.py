"""Fixtures shared by every test directory (helpers live in ``support``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ironwall.server.app import Server
from support.server import running_server


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """A real Ironwall server on an ephemeral loopback port, TLS with the test CA."""
    async with running_server(tmp_path / "server") as running:
        yield running

"""Accounts for tests."""

from __future__ import annotations

from ironwall.proto.jid import JID
from ironwall.server.app import Server

PASSWORD = "correct horse battery"


async def add_users(server: Server, *names: str, password: str = PASSWORD) -> list[str]:
    """Create accounts ``name@localhost`` and return their JIDs."""
    jids = []
    for name in names:
        jid = JID.parse(f"{name}@localhost")
        await server.accounts.create(jid, password)
        jids.append(str(jid))
    return jids

"""Accounts for tests."""

from __future__ import annotations

from ironwall.proto.jid import JID
from ironwall.server.app import Server
from ironwall.server.modules.roster import Roster
from ironwall.server.roster_model import RosterItem

PASSWORD = "correct horse battery"


async def add_users(server: Server, *names: str, password: str = PASSWORD) -> list[str]:
    """Create accounts ``name@localhost`` and return their JIDs."""
    jids = []
    for name in names:
        jid = JID.parse(f"{name}@localhost")
        await server.accounts.create(jid, password)
        jids.append(str(jid))
    return jids


async def befriend(server: Server, *jids: str) -> None:
    """Make every two of ``jids`` mutual contacts (roster ``both``), as chat partners are.

    Messages between accounts that are not in each other's roster are a stranger's, which
    the server rate-limits (``strangers.py``).
    """
    roster = server.module("roster")
    assert isinstance(roster, Roster)
    for owner in jids:
        for contact in jids:
            if contact != owner:
                await roster.save(JID.parse(owner), RosterItem(JID.parse(contact), "both"))

"""Loading the configured modules: an unknown name and a module whose needs no other
loaded module meets both stop the start with a message that says what to change, and
leave nothing running; services are found by what a module offers, not by its name."""

from __future__ import annotations

from pathlib import Path

import pytest

from ironwall.server.app import Server, ServerError
from ironwall.server.config import DEFAULT_MODULES
from ironwall.server.modules.roster import Roster
from ironwall.server.services import ROSTER
from support.server import make_config, running_server


async def _refused(tmp_path: Path, modules: tuple[str, ...]) -> str:
    server = Server(make_config(tmp_path, modules=modules))
    with pytest.raises(ServerError) as refused:
        await server.start()
    assert server.addresses == []
    return str(refused.value)


async def test_an_unknown_module_is_named(tmp_path: Path) -> None:
    message = await _refused(tmp_path, ("disco", "rooster"))
    assert message == "unknown module 'rooster' in the configuration"


async def test_a_module_that_needs_the_roster_does_not_start_without_one(tmp_path: Path) -> None:
    message = await _refused(tmp_path, ("disco", "presence"))
    assert message == (
        "module 'presence' needs a module offering the roster service "
        "(add 'roster' to 'modules' in the configuration)"
    )


async def test_modules_find_the_roster_by_the_service_it_offers(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        roster = server.service(ROSTER)
        assert isinstance(roster, Roster)
        assert roster is server.modules["roster"]
    without = tuple(m for m in DEFAULT_MODULES if m not in ("roster", "presence"))
    async with running_server(tmp_path / "without", modules=without) as server:
        assert server.service(ROSTER) is None

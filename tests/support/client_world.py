"""A real server and Ironwall accounts on it, for the client-side attack tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from ironwall.client import Account
from ironwall.client.xmpp import ServerAddress
from ironwall.server.app import Server
from support.server import running_server, server_port
from support.tls import test_pki

PASSPHRASE = "orbit lantern quietly seventeen marble"


@dataclass
class World:
    server: Server
    tmp: Path
    accounts: dict[str, Account] = field(default_factory=dict)

    @property
    def address(self) -> ServerAddress:
        return ServerAddress("127.0.0.1", server_port(self.server), test_pki().ca_pem)

    def device(self, name: str, device: str = "laptop") -> Account:
        account = Account(
            f"{name}@localhost", self.tmp / f"{name}-{device}", insecure_fast_kdf_for_tests=True
        )
        account.remember_address(self.address)
        return account

    async def create(self, *names: str) -> list[Account]:
        made = []
        for name in names:
            account = self.device(name)
            await account.create(PASSPHRASE)
            self.accounts[name] = account
            made.append(account)
        return made

    async def befriend(self, first: str, second: str) -> None:
        a, b = self.accounts[first], self.accounts[second]
        async with a.open(PASSPHRASE) as session:
            await session.add_contact(b.jid)
            await session.settled()
        async with b.open(PASSPHRASE) as session:
            await session.accept_contact(a.jid)
            await session.settled()


async def world_at(tmp: Path) -> AsyncIterator[World]:
    """The world for a fixture: a running server in ``tmp``."""
    async with running_server(tmp / "server") as server:
        yield World(server, tmp)

"""What a module sees of the server: `ModuleHost`.

Modules are typed against this protocol, not against `ironwall.server.app.Server`, so the
type checker holds each module to it: the event bus, routing, storage, accounts, its
configuration, and the services other modules offer (`ironwall.server.services`).
Anything more a module needs is added here, on purpose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from ironwall.proto.jid import JID
    from ironwall.server.accounts import Accounts
    from ironwall.server.config import Config
    from ironwall.server.hooks import Hooks
    from ironwall.server.login_limits import FailedLogins
    from ironwall.server.router import Router
    from ironwall.server.services import ServiceKey
    from ironwall.server.session import Session
    from ironwall.storage import StorageDriver

__all__ = ["ModuleHost"]

ServiceT = TypeVar("ServiceT")


class ModuleHost(Protocol):
    """The server as its modules use it."""

    config: Config
    #: The domains this server serves.
    domains: frozenset[str]
    hooks: Hooks
    router: Router
    storage: StorageDriver
    accounts: Accounts
    failed_logins: FailedLogins

    @property
    def disco_features(self) -> list[str]:
        """Every feature the loaded modules declare for the server."""
        ...

    @property
    def account_features(self) -> list[str]:
        """Every feature the loaded modules declare for accounts."""
        ...

    def service(self, key: ServiceKey[ServiceT]) -> ServiceT | None:
        """The loaded module that offers the service ``key`` names (see
        `ironwall.server.services`), or None if no loaded module does."""
        ...

    async def end_sessions(
        self, account: JID, condition: str, text: str, *, keep: Session | None = None
    ) -> int:
        """Close every stream and parked session of ``account`` but ``keep``'s."""
        ...

    async def delete_account(self, account: JID) -> None:
        """Delete ``account`` and everything stored for it."""
        ...

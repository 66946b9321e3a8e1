"""Services modules offer each other, as typed protocols.

A module that needs another's data asks the server for the service by its key
(``host.service(ROSTER)``), never for the other module by name: the roster could
be served by another implementation, and a server without one answers ``None``, which
the asking module handles (no roster: everyone is a stranger to no one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, runtime_checkable

from ironwall.proto.jid import JID
from ironwall.server.roster_model import RosterItem

__all__ = ["ROSTER", "RosterService", "ServiceKey"]

ServiceT = TypeVar("ServiceT")


@dataclass(frozen=True)
class ServiceKey(Generic[ServiceT]):
    """Names a service and the protocol its provider implements (a module that is an
    instance of ``protocol`` offers it)."""

    name: str
    protocol: type


@runtime_checkable
class RosterService(Protocol):
    """Accounts' rosters and their pending subscription requests (RFC 6121)."""

    async def item(self, owner: JID, contact: JID) -> RosterItem | None:
        """The owner's item for ``contact``, if any."""
        ...

    async def items(self, owner: JID) -> list[RosterItem]:
        """The owner's whole roster."""
        ...

    async def is_stranger(self, owner: JID, sender: JID) -> bool:
        """True if ``sender`` is not the owner, not a server, and in no state in the
        owner's roster."""
        ...

    async def save(self, owner: JID, item: RosterItem) -> None:
        """Store ``item`` and push it to the owner's interested resources."""
        ...

    async def pending_requests(self, owner: JID) -> dict[str, str]:
        """Inbound subscription requests awaiting an answer: contact -> stored stanza."""
        ...

    async def set_pending_request(self, owner: JID, contact: JID, stanza: str | None) -> None:
        """Remember (or with None forget) an inbound subscription request."""
        ...


#: The rosters (the ``roster`` module offers it).
ROSTER: ServiceKey[RosterService] = ServiceKey("roster", RosterService)

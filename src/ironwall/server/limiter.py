"""Per-address limits: concurrent connections (failed logins are in ``login_limits.py``)."""

from __future__ import annotations

import collections

__all__ = ["AddressLimiter"]


class AddressLimiter:
    """Counts connections per remote address."""

    def __init__(self, *, max_connections: int) -> None:
        self._max_connections = max_connections
        self._connections: collections.Counter[str] = collections.Counter()

    def connection_opened(self, address: str) -> bool:
        """Count a new connection; False if the address already has too many."""
        if self._connections[address] >= self._max_connections:
            return False
        self._connections[address] += 1
        return True

    def connection_closed(self, address: str) -> None:
        """Forget one connection of ``address``."""
        self._connections[address] -= 1
        if self._connections[address] <= 0:
            del self._connections[address]

"""Per-address limits: concurrent connections and failed logins in a time window."""

from __future__ import annotations

import collections
import time

__all__ = ["AddressLimiter"]


class AddressLimiter:
    """Counts connections and recent failed logins per remote address."""

    def __init__(self, *, max_connections: int, max_failures: int, window: float) -> None:
        self._max_connections = max_connections
        self._max_failures = max_failures
        self._window = window
        self._connections: collections.Counter[str] = collections.Counter()
        self._failures: dict[str, collections.deque[float]] = {}

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

    def login_failed(self, address: str) -> None:
        """Record a failed authentication attempt."""
        self._failures.setdefault(address, collections.deque()).append(time.monotonic())

    def may_try_login(self, address: str) -> bool:
        """False while the address has used up its failed attempts in the window."""
        failures = self._failures.get(address)
        if not failures:
            return True
        horizon = time.monotonic() - self._window
        while failures and failures[0] < horizon:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return True
        return len(failures) < self._max_failures

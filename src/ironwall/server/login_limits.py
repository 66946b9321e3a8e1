"""Failed-login limits that a careless user cannot turn into a lockout of others.

Three counters of failed logins over a sliding window (``failed_login_window``):

* per remote address and account: a user who mistypes a password locks out only
  themself, only from that address (``max_failed_logins_per_account_address``);
* per address over all accounts, set higher: one address trying many accounts, password
  spraying (``max_failed_logins_per_address``);
* per account over all addresses: many addresses guessing one password, distributed
  guessing (``max_failed_logins_per_account``).

Accounts are counted by the name the client tried whether or not it exists, and the
refusal reads the same either way, so a limit never tells whether an account exists.
Counting one failure per connection and account (a client tries several mechanisms with
one wrong password) is the caller's part; see ``ClientConnection``.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable, Hashable

__all__ = ["FailedLogins"]

# Expired entries are swept after this many recorded failures, so that names tried once
# and never again do not pile up.
_SWEEP_EVERY = 1024


class _Window:
    """Failure times per key within the last ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self._window = window
        self._times: dict[Hashable, collections.deque[float]] = {}

    def add(self, key: Hashable, now: float) -> None:
        self._times.setdefault(key, collections.deque()).append(now)

    def retry_after(self, key: Hashable, now: float) -> float | None:
        """Seconds until ``key`` is below its limit again, or None if it is below it now."""
        times = self._times.get(key)
        if times is None:
            return None
        self._expire(key, times, now)
        if len(times) < self.limit:
            return None
        # The failure that has to age out for the count to drop below the limit.
        return times[len(times) - self.limit] + self._window - now

    def clear(self, matches: Callable[[Hashable], bool]) -> int:
        """Forget every key ``matches`` accepts; return how many failures were forgotten."""
        keys = [key for key in self._times if matches(key)]
        return sum(len(self._times.pop(key)) for key in keys)

    def sweep(self, now: float) -> None:
        for key, times in list(self._times.items()):
            self._expire(key, times, now)

    def _expire(self, key: Hashable, times: collections.deque[float], now: float) -> None:
        horizon = now - self._window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._times[key]


class FailedLogins:
    """Counts failed logins and says when a login may not even be tried."""

    def __init__(
        self,
        *,
        per_account_address: int,
        per_address: int,
        per_account: int,
        window: float,
    ) -> None:
        self._pair = _Window(per_account_address, window)
        self._address = _Window(per_address, window)
        self._account = _Window(per_account, window)
        self._recorded = 0

    def failed(self, address: str, account: str | None) -> None:
        """Record one failed login from ``address`` (to ``account``, if it named one)."""
        now = time.monotonic()
        self._address.add(address, now)
        if account is not None:
            self._pair.add((address, account), now)
            self._account.add(account, now)
        self._recorded += 1
        if self._recorded % _SWEEP_EVERY == 0:
            for window in (self._pair, self._address, self._account):
                window.sweep(now)

    def refusal(self, address: str, account: str | None) -> str | None:
        """Why a login from ``address`` to ``account`` is refused now, or None if it is not.

        The text says when to try again.
        """
        now = time.monotonic()
        rules: list[tuple[_Window, Hashable, str]] = [
            (self._address, address, "too many failed logins from your address")
        ]
        if account is not None:
            pair_text = "too many failed logins to this account from your address"
            rules.insert(0, (self._pair, (address, account), pair_text))
            rules.append((self._account, account, "too many failed logins to this account"))
        for window, key, text in rules:
            wait = window.retry_after(key, now)
            if wait is not None:
                return f"{text}; try again in {_duration(wait)}"
        return None

    def clear_address(self, address: str) -> int:
        """Forget the failures from ``address`` (to any account); return how many."""
        self._pair.clear(lambda key: isinstance(key, tuple) and key[0] == address)
        return self._address.clear(lambda key: key == address)

    def clear_account(self, account: str) -> int:
        """Forget the failures to ``account`` (from any address); return how many."""
        self._pair.clear(lambda key: isinstance(key, tuple) and key[1] == account)
        return self._account.clear(lambda key: key == account)


def _duration(seconds: float) -> str:
    if seconds < 90:
        whole = max(1, math.ceil(seconds))
        return f"{whole} second{'s' if whole != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"

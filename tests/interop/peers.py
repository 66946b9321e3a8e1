"""Registry of XMPP server kinds for the interop suite, and the skip-or-fail rule for peers.

To run every server-parametrised interop test against another server, add one
entry (and, if it needs installed software, a check)::

    SERVER_FACTORIES["ironwall"] = start_ironwall   # (workdir, users) -> ServerHandle
    MISSING_CHECKS["ironwall"] = lambda: None       # or a message saying what to install
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from . import ejabberd, gosendxmpp, prosody
from .xmpp_server import ServerHandle

__all__ = [
    "MISSING_CHECKS",
    "SERVER_FACTORIES",
    "ServerFactory",
    "debian_version",
    "in_ci",
    "require_peer",
]

ServerFactory = Callable[[Path, Mapping[str, str]], ServerHandle]

SERVER_FACTORIES: dict[str, ServerFactory] = {
    "prosody": prosody.start_prosody,
    "ejabberd": ejabberd.start_ejabberd,
}

MISSING_CHECKS: dict[str, Callable[[], str | None]] = {
    "prosody": prosody.missing,
    "ejabberd": ejabberd.missing,
    "go-sendxmpp": gosendxmpp.missing,
}


def in_ci() -> bool:
    """True when running in CI (``CI=true``), where every peer must be installed."""
    return os.environ.get("CI", "").lower() == "true"


def require_peer(kind: str) -> None:
    """Skip the test if peer ``kind`` is not installed; fail instead when in CI."""
    check = MISSING_CHECKS.get(kind)
    reason = check() if check is not None else None
    if reason is None:
        return
    if in_ci():
        pytest.fail(
            f"{kind}: {reason} (CI=true, so interop peers must be installed)", pytrace=False
        )
    pytest.skip(f"{kind}: {reason}")


def debian_version(package: str) -> str | None:
    """Return the installed Debian version of ``package``, or None."""
    try:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", package],
            capture_output=True,
            text=True,
            timeout=10.0,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None

"""The server's data directory, private to the user the server runs as.

It holds the database, the log, the TLS key and the control socket. The directory is
made 0700 and what the server creates in it is created owner-only (umask 0o077 around
the creation), so there is no moment in which another user can open it. A directory
left readable by an older version or by hand is tightened when the server starts.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

__all__ = ["make_private", "private_umask", "tighten"]

_OTHERS = 0o077


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """What is created inside the block is accessible to its owner only.

    The umask is the process's: a thread creating a file meanwhile gets it private too,
    which is never wrong for this server.
    """
    previous = os.umask(_OTHERS)
    try:
        yield
    finally:
        os.umask(previous)


def make_private(directory: Path) -> None:
    """Create ``directory`` (and missing parents) accessible to its owner only."""
    with private_umask():
        directory.mkdir(parents=True, exist_ok=True)


def tighten(directory: Path) -> list[str]:
    """Take group and other access away from ``directory`` and the files in it.

    Returns one line per change (for the log); a path that cannot be changed is reported
    the same way, so that the operator learns about it.
    """
    changes: list[str] = []
    entries = [directory, *(e for e in directory.iterdir() if not e.is_symlink())]
    for entry in entries:
        mode = stat.S_IMODE(entry.stat().st_mode)
        if not mode & _OTHERS:
            continue
        try:
            entry.chmod(mode & ~_OTHERS)
        except OSError as exc:
            changes.append(f"{entry} is accessible to other users (mode {mode:o}): {exc.strerror}")
            continue
        changes.append(f"{entry} was accessible to other users (mode {mode:o}); made it private")
    return changes

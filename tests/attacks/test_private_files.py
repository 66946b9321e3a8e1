"""The server's data directory and what it holds are private to the server's user.

The database, the log, the TLS key and the control socket name accounts, addresses and
secrets; no other local user may read them. Checked on the mode bits (the tests may run
as root, who reads anything anyway), on a server process started with the usual umask.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from support.cli import ironwall
from support.client import connected
from support.server import ServerProcess

PASSWORD = "correct horse battery"
EXPECTED = {"ironwall.db", "ironwall.log", "tls-cert.pem", "tls-key.pem", "control.sock"}


def _modes(directory: Path) -> dict[str, int]:
    return {e.name: stat.S_IMODE(e.lstat().st_mode) for e in directory.iterdir()}


async def test_a_new_data_directory_and_its_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    previous = os.umask(0o022)
    try:
        server = ServerProcess(data)
        port = server.start()
    finally:
        os.umask(previous)
    try:
        added = ironwall(
            "admin", "--data-dir", str(data), "adduser", "alice@localhost", stdin=PASSWORD
        )
        assert added.returncode == 0, added.stderr
        # A login writes to the log and the database (and its WAL files).
        async with connected("alice@localhost", PASSWORD, port, ca_pem=data / "tls-cert.pem"):
            pass
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        modes = _modes(data)
        assert modes.keys() >= EXPECTED, modes
        for name, mode in modes.items():
            assert mode & 0o077 == 0, f"{name} is mode {mode:o}"
    finally:
        assert server.stop() == 0


def test_a_readable_data_directory_is_made_private_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    log = data / "ironwall.log"
    log.write_text("an old log naming accounts\n", encoding="utf-8")
    log.chmod(0o644)
    server = ServerProcess(data)
    server.start()
    try:
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        output = "".join(server.output)
        assert f"{data} was accessible to other users (mode 755); made it private" in output
        assert f"{log} was accessible to other users (mode 644); made it private" in output
    finally:
        assert server.stop() == 0

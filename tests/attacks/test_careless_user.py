"""A user who mistypes the passphrase locks out nobody else, and not even themself for long.

Found on main: each wrong passphrase counted as three failed logins (the client tried
every SASL mechanism the server offered); after three mistakes every user from that
address got "too many failed logins from your address" for five minutes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import CLIUser
from support.server import ServerProcess, free_port, write_config
from support.tls import test_pki

ALICE = "orbit lantern quietly seventeen marble"
BOB = "velvet harbor copper ninety thistle"

pytestmark = pytest.mark.slow


def test_four_wrong_passphrases_lock_out_no_one(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", config=write_config(tmp_path))
    port = server.start(port=free_port())
    common = ["--server", f"127.0.0.1:{port}", "--ca", str(test_pki().ca_pem)]
    try:
        alice = CLIUser("alice@localhost", tmp_path / "alice", ALICE)
        bob = CLIUser("bob@localhost", tmp_path / "bob", BOB)
        for user in (alice, bob):
            assert user.run("account", "create", user.jid, *common).returncode == 0
        clumsy = CLIUser("alice@localhost", tmp_path / "alice", BOB)
        for _ in range(4):
            result = clumsy.run("contacts")
            assert result.returncode == 1
            assert "wrong passphrase" in result.stderr
            assert "too many" not in result.stderr
        # Bob, from the same address, and Alice with her right passphrase, both get in.
        assert bob.run("contacts").returncode == 0
        assert alice.run("contacts").returncode == 0
    finally:
        server.kill()
    log = (tmp_path / "data" / "ironwall.log").read_text(encoding="utf-8")
    assert log.count("failed login") == 4, log

"""The secure-messaging flow end to end, driven through the ``ironwall`` command line.

Alice and Bob are created on a freshly started server; they add each other; Bob goes
offline; Alice sends; the server restarts; Bob logs in from an empty device with only
his passphrase and reads the message, verified. Then the server's files are searched:
no plaintext, and no secret key except the sealed blob.
"""

from __future__ import annotations

import base64
import binascii
import re
import sqlite3
from pathlib import Path

import pytest

from ironwall.client.device import DeviceFile
from ironwall.e2e import open_secret_key
from ironwall.e2e.keys import identity_to_secret_bytes
from support.cli import CLIUser
from support.server import ServerProcess, free_port, write_config
from support.tls import test_pki

SECRET = "The eagle lands at midnight; bring the blue folder."
ALICE_PASSPHRASE = "orbit lantern quietly seventeen marble"
BOB_PASSPHRASE = "velvet harbor copper ninety thistle"

pytestmark = pytest.mark.slow


def _ok(result: object) -> str:
    assert getattr(result, "returncode", None) == 0, f"{result}"
    return str(getattr(result, "stdout", ""))


def _secret_windows(secret: bytes, public: bytes, size: int = 16) -> set[bytes]:
    """Every ``size``-byte piece of the secret key that is not also in the public key."""
    return {secret[i : i + size] for i in range(len(secret) - size + 1)} - {
        public[i : i + size] for i in range(len(public) - size + 1)
    }


def _decoded_base64(blob: bytes) -> list[bytes]:
    found = []
    for match in re.finditer(rb"[A-Za-z0-9+/]{40,}={0,2}", blob):
        text = match.group(0)
        for trim in range(4):
            try:
                found.append(
                    base64.b64decode(text[: len(text) - trim] if trim else text, validate=False)
                )
                break
            except (binascii.Error, ValueError):
                continue
    return found


def test_alice_to_offline_bob_through_a_restart_read_on_a_new_device(tmp_path: Path) -> None:
    data = tmp_path / "server-data"
    port = free_port()
    server = ServerProcess(data, config=write_config(tmp_path))
    server.start(port=port)
    common = ["--server", f"127.0.0.1:{port}", "--ca", str(test_pki().ca_pem)]
    alice = CLIUser("alice@localhost", tmp_path / "alice-laptop", ALICE_PASSPHRASE)
    bob = CLIUser("bob@localhost", tmp_path / "bob-phone", BOB_PASSPHRASE)
    try:
        created = _ok(alice.run("account", "create", "alice@localhost", *common))
        assert "Recovery code" in created
        _ok(bob.run("account", "create", "bob@localhost", *common))
        assert "unverified" in _ok(alice.run("contacts", "add", "bob@localhost"))
        assert "unverified" in _ok(bob.run("contacts", "accept", "alice@localhost"))
        # Bob has no client running now: the message waits on the server.
        assert "Sent" in _ok(alice.run("send", "bob@localhost", SECRET))
        assert server.stop() == 0
        server.start(port=port)
        new_device = CLIUser("bob@localhost", tmp_path / "bob-new-laptop", BOB_PASSPHRASE)
        _ok(new_device.run("account", "login", "bob@localhost", *common))
        heard = _ok(new_device.run("listen", "--count", "1", "--timeout", "30"))
        assert "alice@localhost [unverified] " + SECRET in heard
        history = _ok(new_device.run("history", "alice@localhost"))
        assert SECRET in history
    finally:
        server.stop()

    server_files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "ironwall.db" for p in server_files)
    assert any(p.name == "ironwall.log" for p in server_files)
    # Raw bytes miss values that SQLite splits across overflow pages: add a logical dump.
    with sqlite3.connect(data / "ironwall.db") as database:
        dump = "\n".join(database.iterdump()).encode()
    contents = b"".join(p.read_bytes() for p in server_files) + dump
    decoded = _decoded_base64(contents)
    for form in (SECRET.encode(), SECRET.encode("utf-16-le")):
        assert form not in contents
        assert not any(form in blob for blob in decoded)

    # The only secret-key material on the server is the sealed blob: no piece of either
    # secret key (that is not also public) appears raw or base64-decoded in any file.
    for user in (alice, new_device):
        device = DeviceFile.load(user.home / user.jid, user.jid)
        assert device is not None
        assert device.sealed_key is not None
        sealed = device.sealed_key
        assert base64.b64encode(sealed) in contents
        identity = open_secret_key(sealed, user.passphrase)
        windows = _secret_windows(
            identity_to_secret_bytes(identity), identity.public_key.to_bytes()
        )
        assert windows
        for blob in (contents, *decoded):
            assert not any(window in blob for window in windows)


def test_contacts_listing_requests_and_verification(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(tmp_path / "data", config=write_config(tmp_path))
    server.start(port=port)
    common = ["--server", f"127.0.0.1:{port}", "--ca", str(test_pki().ca_pem)]
    alice = CLIUser("alice@localhost", tmp_path / "alice", ALICE_PASSPHRASE)
    bob = CLIUser("bob@localhost", tmp_path / "bob", BOB_PASSPHRASE)
    try:
        _ok(alice.run("account", "create", "alice@localhost", *common))
        _ok(bob.run("account", "create", "bob@localhost", *common))
        assert "No contacts yet" in _ok(bob.run("contacts"))
        _ok(alice.run("contacts", "add", "bob@localhost"))
        listed = _ok(bob.run("contacts"))
        assert "alice@localhost wants to be your contact" in listed
        _ok(bob.run("contacts", "accept", "alice@localhost"))
        assert "bob@localhost" in _ok(alice.run("contacts"))
        verified = _ok(alice.run("verify", "bob@localhost", "--yes"))
        bob_fingerprint = _ok(bob.run("verify", "alice@localhost", "--yes")).split(
            "Your key (bob@localhost):\n  "
        )[1][:50]
        assert bob_fingerprint in verified
        assert "bob@localhost is verified (on all your devices)." in verified
        assert "█" in verified or "▀" in verified
        listing = _ok(alice.run("contacts"))
        assert "key: verified" in listing
        _ok(alice.run("send", "bob@localhost", "verified hello"))
        heard = _ok(bob.run("listen", "--count", "1", "--timeout", "30"))
        assert "alice@localhost [verified] verified hello" in heard
    finally:
        server.stop()

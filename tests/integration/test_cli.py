"""The command-line contract: `ironwall server` and `ironwall admin`, as subprocesses."""

from __future__ import annotations

import base64
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ironwall.cli.main import build_parser
from support.client import connected
from support.server import ServerProcess
from support.tls import test_pki

PASSWORD = "s3cret-Passphrase-for-cli"


def ironwall(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ironwall.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_config(directory: Path) -> Path:
    pki = test_pki()
    config = directory / "ironwall.toml"
    config.write_text(
        f'domains = ["localhost"]\ncertificate = "{pki.cert_pem}"\nprivate_key = "{pki.key_pem}"\n'
        "[limits]\nmax_offline_messages = 50\n",
        encoding="utf-8",
    )
    return config


def test_every_command_has_complete_help() -> None:
    parser = build_parser()
    top = parser.format_help()
    for command in ("server", "admin"):
        assert command in top
    result = ironwall("server", "--help")
    assert result.returncode == 0
    for flag in ("--data-dir", "--domain", "--host", "--port", "--config"):
        assert flag in result.stdout
    admin = ironwall("admin", "--help")
    for action in ("adduser", "passwd", "deluser", "users", "unblock"):
        assert action in admin.stdout
        sub = ironwall("admin", action, "--help")
        assert sub.returncode == 0
        assert sub.stdout.startswith("usage: ironwall admin")


async def test_server_runs_admin_works_while_it_runs_and_sigterm_stops_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = write_config(tmp_path)
    server = ServerProcess(data, config=config)
    port = server.start()
    try:
        added = ironwall(
            "admin",
            "--data-dir",
            str(data),
            "--config",
            str(config),
            "adduser",
            "alice@localhost",
            stdin=PASSWORD + "\n",
        )
        assert added.returncode == 0, added.stderr
        listed = ironwall("admin", "--data-dir", str(data), "--config", str(config), "users")
        assert listed.stdout.split() == ["alice@localhost"]
        async with connected("alice@localhost", PASSWORD, port) as alice:
            assert alice.boundjid.bare == "alice@localhost"
        changed = ironwall(
            "admin",
            "--data-dir",
            str(data),
            "passwd",
            "alice@localhost",
            stdin="another password\n",
        )
        assert changed.returncode == 0, changed.stderr
        async with connected("alice@localhost", "another password", port) as alice:
            assert alice.boundjid.bare == "alice@localhost"
    finally:
        code = server.stop()
    assert code == 0
    log = (data / "ironwall.log").read_text(encoding="utf-8")
    assert f"listening on 127.0.0.1:{port}" in log
    assert "stopped" in log
    assert PASSWORD not in log
    assert "another password" not in log


def test_admin_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert (
        ironwall(
            "admin", "--data-dir", data, "adduser", "bob@localhost", stdin=PASSWORD + "\n"
        ).returncode
        == 0
    )
    cases = [
        (("adduser", "bob@localhost"), "already exists"),
        (("adduser", "not a jid@@"), "not a valid address"),
        (("adduser", "carol@elsewhere.example"), "not a domain of this server"),
        (("passwd", "nobody@localhost"), "does not exist"),
        (("deluser", "nobody@localhost"), "does not exist"),
        (("adduser", "short@localhost"), "at least 8 characters"),
    ]
    for args, expected in cases:
        stdin = "short\n" if args[1].startswith("short") else PASSWORD + "\n"
        result = ironwall("admin", "--data-dir", data, *args, stdin=stdin)
        assert result.returncode == 1, args
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert PASSWORD not in result.stderr
    deleted = ironwall("admin", "--data-dir", data, "deluser", "bob@localhost")
    assert deleted.returncode == 0
    assert ironwall("admin", "--data-dir", data, "users").stdout == ""


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("domains = [\n", encoding="utf-8")
    result = ironwall("server", "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1
    assert "not valid TOML" in result.stderr
    config.write_text("colour = 'blue'\n", encoding="utf-8")
    result = ironwall("server", "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1
    assert "unknown setting 'colour'" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    first = ServerProcess(tmp_path / "one")
    port = first.start()
    try:
        result = ironwall("server", "--data-dir", str(tmp_path / "two"), "--port", str(port))
        assert result.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        assert first.stop() == 0


@pytest.mark.parametrize("password", ["Tr0ub4dor&3-horse", "pässwörd-ünïcode-ok"])
def test_database_holds_no_recoverable_password(tmp_path: Path, password: str) -> None:
    data = str(tmp_path / "data")
    result = ironwall(
        "admin", "--data-dir", data, "adduser", "dave@localhost", stdin=password + "\n"
    )
    assert result.returncode == 0, result.stderr
    database = Path(data) / "ironwall.db"
    blobs = [database.read_bytes()]
    for suffix in ("-wal", "-shm"):
        extra = Path(str(database) + suffix)
        if extra.exists():
            blobs.append(extra.read_bytes())
    raw = password.encode()
    encodings = [
        raw,
        password.encode("utf-16-le"),
        base64.b64encode(raw),
        raw.hex().encode(),
        base64.b16encode(raw),
    ]
    for blob in blobs:
        for encoded in encodings:
            assert encoded not in blob
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT * FROM sqlite_master WHERE type='table'").fetchall()
        dumped = "\n".join(connection.iterdump())
    assert rows
    assert password not in dumped
    assert "stored_key" in dumped
    assert "server_key" in dumped

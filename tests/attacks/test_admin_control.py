"""``ironwall admin`` acts on the running server through its control socket: a new
password or a deletion ends the account's sessions at once, and a failed-login limit can
be cleared. The real server process and the real command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

from ironwall.server.app import Server
from support.cli import ironwall
from support.raw import RawClient, StreamError
from support.server import ServerProcess
from support.tls import test_pki

PASSWORD = "correct horse battery"
NEW = "another long password"


def write_limited_config(directory: Path) -> Path:
    pki = test_pki()
    path = directory / "ironwall.toml"
    path.write_text(
        f'certificate = "{pki.cert_pem}"\nprivate_key = "{pki.key_pem}"\n'
        "[limits]\nmax_failed_logins_per_account_address = 2\nmax_failed_logins_per_address = 3\n",
        encoding="utf-8",
    )
    return path


@contextlib.contextmanager
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "data", config=write_limited_config(tmp_path))
    server.start()
    try:
        yield server
    finally:
        assert server.stop() == 0


async def admin(
    server: ServerProcess, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``ironwall admin ARGS`` for the server's data directory, off the event loop."""
    command = ["admin", "--data-dir", str(server.data_dir)]
    if server.config is not None:
        command += ["--config", str(server.config)]
    return await asyncio.to_thread(ironwall, *command, *args, stdin=stdin)


async def login(port: int, username: str, password: str) -> tuple[str, StreamError | None]:
    client = await RawClient.connect(port)
    await client.starttls()
    await client.open_stream()
    outcome = await client.authenticate(username, password)
    error = client.stream_error
    await client.close()
    return outcome, error


async def test_admin_passwd_ends_the_accounts_sessions(tmp_path: Path) -> None:
    with server_process(tmp_path) as server:
        assert (await admin(server, "adduser", "alice@localhost", stdin=PASSWORD)).returncode == 0
        session = await RawClient.logged_in(server.port, "alice", PASSWORD)
        changed = await admin(server, "passwd", "alice@localhost", stdin=NEW + "\n")
        assert changed.returncode == 0, changed.stderr
        assert changed.stdout.strip() == "password of alice@localhost changed; 1 session ended"
        await session.wait_closed(timeout=1.0)
        assert session.stream_error == StreamError("reset", "the account's password was changed")
        assert (await login(server.port, "alice", NEW))[0] == "success"
        assert (await login(server.port, "alice", PASSWORD))[0] == "not-authorized"
    log = (server.data_dir / "ironwall.log").read_text(encoding="utf-8")
    assert NEW not in log
    assert PASSWORD not in log


async def test_admin_deluser_ends_the_accounts_sessions(tmp_path: Path) -> None:
    with server_process(tmp_path) as server:
        assert (await admin(server, "adduser", "bob@localhost", stdin=PASSWORD)).returncode == 0
        session = await RawClient.logged_in(server.port, "bob", PASSWORD)
        deleted = await admin(server, "deluser", "bob@localhost")
        assert deleted.returncode == 0, deleted.stderr
        assert deleted.stdout.strip() == "deleted bob@localhost; 1 session ended"
        await session.wait_closed(timeout=1.0)
        assert session.stream_error == StreamError(
            "not-authorized", "this account has been removed"
        )
        assert (await admin(server, "users")).stdout == ""


async def test_admin_unblock_clears_a_limit_on_the_running_server(tmp_path: Path) -> None:
    with server_process(tmp_path) as server:
        for name in ("alice", "bob"):
            added = await admin(server, "adduser", f"{name}@localhost", stdin=PASSWORD)
            assert added.returncode == 0
        for _ in range(2):
            assert (await login(server.port, "alice", "a mistyped password"))[0] == "not-authorized"
        outcome, error = await login(server.port, "alice", PASSWORD)
        assert outcome == "closed"
        assert error is not None
        assert error.condition == "policy-violation"

        cleared = await admin(server, "unblock", "alice@localhost")
        assert cleared.returncode == 0, cleared.stderr
        assert cleared.stdout.strip() == "cleared 2 failed logins of alice@localhost"
        assert (await login(server.port, "alice", PASSWORD))[0] == "success"

        # The address keeps its own count (the two above), past which it is limited for
        # every account (password spraying); that is cleared by the address.
        assert (await login(server.port, "nobody", "Winter2024!"))[0] == "not-authorized"
        outcome, error = await login(server.port, "bob", PASSWORD)
        assert outcome == "closed"
        assert error is not None
        assert error.text is not None
        assert error.text.startswith("too many failed logins from your address")
        cleared = await admin(server, "unblock", "127.0.0.1")
        assert cleared.returncode == 0, cleared.stderr
        assert cleared.stdout.strip() == "cleared 3 failed logins of 127.0.0.1"
        assert (await login(server.port, "bob", PASSWORD))[0] == "success"

        nothing = await admin(server, "unblock", "192.0.2.1")
        assert nothing.stdout.strip() == "192.0.2.1 had no recent failed logins; nothing to clear"
        bad = await admin(server, "unblock", "not-an-address")
        assert bad.returncode == 1
        assert "neither an IP address nor an account" in bad.stderr


async def test_admin_users_shows_revoked_accounts(tmp_path: Path) -> None:
    with server_process(tmp_path) as server:
        for name in ("alice", "mallory"):
            added = await admin(server, "adduser", f"{name}@localhost", stdin=PASSWORD)
            assert added.returncode == 0
        client = await RawClient.logged_in(server.port, "mallory", PASSWORD)
        await client.send(
            b"<iq type='set' id='r'><revoke xmlns='urn:ironwall:account:0'>"
            b"<token>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=</token></revoke></iq>"
        )
        await client.wait_closed()
        listed = (await admin(server, "users")).stdout.splitlines()
        assert listed[0] == "alice@localhost"
        assert listed[1].startswith("mallory@localhost (revoked by its owner on ")
        refused = await admin(server, "passwd", "mallory@localhost", stdin=NEW)
        assert refused.returncode == 1
        assert "revoked by its owner" in refused.stderr
        # Deleting it stays the administrator's decision.
        assert (await admin(server, "deluser", "mallory@localhost")).returncode == 0
        assert (await admin(server, "users")).stdout.split() == ["alice@localhost"]


async def test_the_control_socket_is_private_and_bad_requests_get_an_answer(
    tmp_path: Path,
) -> None:
    with server_process(tmp_path) as server:
        path = server.data_dir / "control.sock"
        mode = path.stat().st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o600
        for request, expected in (
            (b"this is not json\n", "a request is one JSON object on one line"),
            (b'["a list"]\n', "a request is one JSON object on one line"),
            (b'{"command": "shutdown"}\n', "unknown command; this server knows: "),
            (b'{"command": "passwd", "jid": "alice@localhost"}\n', "no new password"),
            (b'{"command": "unblock", "address": "999.1.1.1"}\n', "is not an IP address"),
        ):
            reply = await asyncio.to_thread(_control_exchange, path, request)
            assert reply["ok"] is False
            assert expected in reply["error"]
        too_long = b'{"command": "' + b"x" * 70000 + b'"}\n'
        reply = await asyncio.to_thread(_control_exchange, path, too_long)
        assert reply == {"ok": False, "error": "a request is at most 65536 bytes"}
        # And the server still serves.
        assert (await admin(server, "unblock", "127.0.0.1")).returncode == 0


def _control_exchange(path: Path, request: bytes) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(request)
        answer = sock.makefile("rb").readline()
    parsed = json.loads(answer)
    assert isinstance(parsed, dict)
    return parsed


def test_without_a_running_server_admin_says_so_or_works_on_the_database(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    base = ("admin", "--data-dir", str(data))
    assert ironwall(*base, "adduser", "alice@localhost", stdin=PASSWORD).returncode == 0
    absent = ironwall(*base, "unblock", "alice@localhost")
    assert absent.returncode == 1
    assert "no server is running" in absent.stderr
    assert "Traceback" not in absent.stderr

    # A socket left behind by a server that was killed: nobody listens on it.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(str(data / "control.sock"))
    stale_unblock = ironwall(*base, "unblock", "127.0.0.1")
    assert stale_unblock.returncode == 1
    assert "is stale" in stale_unblock.stderr
    changed = ironwall(*base, "passwd", "alice@localhost", stdin=NEW)
    assert changed.returncode == 0, changed.stderr
    assert "is stale" in changed.stderr
    assert changed.stdout.strip() == "password of alice@localhost changed"


def test_a_server_removes_a_stale_socket_and_refuses_a_live_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(str(data / "control.sock"))
    first = ServerProcess(data)
    first.start()
    try:
        assert "removed the stale control socket" in "".join(first.output)
        second = ironwall("server", "--data-dir", str(data), "--port", "0")
        assert second.returncode == 1
        assert "another Ironwall server is running with the data directory" in second.stderr
    finally:
        assert first.stop() == 0
    assert not (data / "control.sock").exists()


async def test_a_quiet_control_connection_is_closed_with_a_reason(server: Server) -> None:
    server.control.idle_timeout = 0.2
    reader, writer = await asyncio.open_unix_connection(str(server.control.path))
    try:
        line = await asyncio.wait_for(reader.readline(), 5)
        assert json.loads(line) == {
            "ok": False,
            "error": "no request for 0.2 s; closing the connection",
        }
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        writer.close()


def test_a_data_directory_too_long_for_the_socket_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / ("d" * 60) / ("e" * 60)
    result = ironwall("server", "--data-dir", str(data), "--port", "0")
    assert result.returncode == 1
    assert "is longer than the 107 bytes a Unix socket path may have" in result.stderr
    assert "Traceback" not in result.stderr

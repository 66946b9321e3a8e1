"""Every client error a new user can run into: one clear line, a non-zero exit, nothing lost."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from support.cli import CLIUser, ironwall
from support.server import ServerProcess, free_port, write_config
from support.tls import test_pki

pytestmark = pytest.mark.slow

ALICE = "orbit lantern quietly seventeen marble"
BOB = "velvet harbor copper ninety thistle"


def _one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ironwall: error: ")
    assert expected in lines[0], lines[0]
    for secret in (ALICE, BOB):
        assert secret not in result.stderr + result.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A running server with alice (with keys) and carol (a plain account, no keys)."""
    tmp = tmp_path_factory.mktemp("client-errors")
    server = ServerProcess(tmp / "data", config=write_config(tmp))
    port = server.start(port=free_port())
    added = ironwall(
        "admin",
        "--data-dir",
        str(tmp / "data"),
        "adduser",
        "carol@localhost",
        stdin="carol's password\n",
    )
    assert added.returncode == 0
    alice = CLIUser("alice@localhost", tmp / "alice", ALICE)
    created = alice.run("account", "create", "alice@localhost", *_common(port))
    assert created.returncode == 0, created.stderr
    try:
        yield port, tmp
    finally:
        server.stop()


def _common(port: int) -> list[str]:
    return ["--server", f"127.0.0.1:{port}", "--ca", str(test_pki().ca_pem)]


def test_account_already_exists(world: tuple[int, Path]) -> None:
    port, tmp = world
    again = CLIUser("alice@localhost", tmp / "alice-second-device", BOB)
    _one_line_error(
        again.run("account", "create", "alice@localhost", *_common(port)), "already exists"
    )
    assert not (tmp / "alice-second-device" / "alice@localhost").exists()


def test_wrong_passphrase_changes_nothing(world: tuple[int, Path]) -> None:
    _port, tmp = world
    impostor = CLIUser("alice@localhost", tmp / "alice", BOB)
    impostor_file = tmp / "wrong.passphrase"
    impostor_file.write_text(BOB + "\n", encoding="utf-8")
    result = ironwall(
        "send",
        "carol@localhost",
        "hi",
        "--home",
        str(tmp / "alice"),
        "--passphrase-file",
        str(impostor_file),
    )
    _one_line_error(result, "wrong passphrase")
    assert impostor.home.exists()
    # Without the right passphrase the history stays closed (it is encrypted at rest).
    history = ironwall(
        "history",
        "carol@localhost",
        "--home",
        str(tmp / "alice"),
        "--passphrase-file",
        str(impostor_file),
    )
    _one_line_error(history, "wrong passphrase")
    assert (
        "No messages"
        in CLIUser("alice@localhost", tmp / "alice", ALICE).run("history", "carol@localhost").stdout
    )


def test_unreachable_server(tmp_path: Path) -> None:
    user = CLIUser("dave@localhost", tmp_path / "dave", BOB)
    result = user.run("account", "create", "dave@localhost", "--server", f"127.0.0.1:{free_port()}")
    _one_line_error(result, "cannot reach the server")
    assert not (tmp_path / "dave" / "dave@localhost").exists()


def test_untrusted_certificate(world: tuple[int, Path], tmp_path: Path) -> None:
    port, _tmp = world
    stranger = tmp_path / "stranger-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    user = CLIUser("erin@localhost", tmp_path / "erin", BOB)
    result = user.run(
        "account",
        "create",
        "erin@localhost",
        "--server",
        f"127.0.0.1:{port}",
        "--ca",
        str(stranger),
    )
    _one_line_error(result, "certificate is not trusted")


def test_unknown_contact(world: tuple[int, Path]) -> None:
    _port, tmp = world
    alice = CLIUser("alice@localhost", tmp / "alice", ALICE)
    _one_line_error(
        alice.run("send", "nobody@localhost", "hello?"), "nobody@localhost does not exist"
    )


def test_contact_without_key_gets_nothing_until_plaintext_is_allowed(
    world: tuple[int, Path],
) -> None:
    _port, tmp = world
    alice = CLIUser("alice@localhost", tmp / "alice", ALICE)
    _one_line_error(alice.run("send", "carol@localhost", "in the clear?"), "has no encryption key")
    assert "No messages" in alice.run("history", "carol@localhost").stdout
    assert alice.run("contacts", "allow-plaintext", "carol@localhost").returncode == 0
    sent = alice.run("send", "carol@localhost", "in the clear, as you chose")
    assert sent.returncode == 0, sent.stderr
    assert (
        "[NOT ENCRYPTED] in the clear, as you chose"
        in alice.run("history", "carol@localhost").stdout
    )


def test_weak_passphrase_is_refused_with_a_reason(world: tuple[int, Path], tmp_path: Path) -> None:
    port, _tmp = world
    user = CLIUser("frank@localhost", tmp_path / "frank", "password1")
    _one_line_error(user.run("account", "create", "frank@localhost", *_common(port)), "too weak")


def test_no_account_on_this_device(tmp_path: Path) -> None:
    result = ironwall("send", "bob@localhost", "hi", "--home", str(tmp_path / "empty"))
    _one_line_error(result, "no account on this device")


def test_no_passphrase_without_a_terminal(world: tuple[int, Path]) -> None:
    _port, tmp = world
    result = ironwall("send", "carol@localhost", "hi", "--home", str(tmp / "alice"))
    _one_line_error(result, "no passphrase")

"""The client as a newcomer meets it, through the ``ironwall`` command line.

Each test is one thing a new user ran into (issue 13), driven against a real server
process with the real key derivation, asserting on what the user sees. The last test is
the whole walk-through: two users, two devices each, a server restart, recovery and
revocation.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.cli import CLIUser, ironwall
from support.server import ServerProcess, free_port, write_config
from support.tls import test_pki

pytestmark = pytest.mark.slow

ALICE = "orbit lantern quietly seventeen marble"
BOB = "velvet harbor copper ninety thistle"
NEW = "granite meadow whistle fourteen lagoon"
CODE = re.compile(r"[1-9A-NP-Z]{4}(?:-[1-9A-NP-Z]{4}){5}")


@dataclass
class World:
    server: ServerProcess
    port: int
    tmp: Path

    @property
    def common(self) -> list[str]:
        return ["--server", f"127.0.0.1:{self.port}", "--ca", str(test_pki().ca_pem)]

    def user(self, name: str, device: str, passphrase: str) -> CLIUser:
        return CLIUser(f"{name}@localhost", self.tmp / f"{name}-{device}", passphrase)

    def restart(self, pause: float = 0.0) -> None:
        assert self.server.stop() == 0
        time.sleep(pause)
        self.server.start(port=self.port)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    server = ServerProcess(tmp_path / "data", config=write_config(tmp_path))
    port = server.start(port=free_port())
    try:
        yield World(server, port, tmp_path)
    finally:
        server.kill()


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result
    assert "Traceback" not in result.stderr
    return result.stdout


def _error(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failing command prints (and that it failed cleanly)."""
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ironwall: error: ")
    return lines[0]


def _contacts(world: World) -> tuple[CLIUser, CLIUser]:
    alice, bob = world.user("alice", "laptop", ALICE), world.user("bob", "phone", BOB)
    _ok(alice.run("account", "create", alice.jid, *world.common))
    _ok(bob.run("account", "create", bob.jid, *world.common))
    _ok(alice.run("contacts", "add", bob.jid))
    _ok(bob.run("contacts", "accept", alice.jid))
    return alice, bob


def _listen_in_background(user: CLIUser, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ironwall.cli.main",
            "listen",
            *args,
            "--home",
            str(user.home),
            "--passphrase-file",
            str(user.passphrase_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def test_bad_arguments_are_one_line_errors_before_any_passphrase(world: World) -> None:
    # No passphrase anywhere: had the command got as far as unlocking, it would say so.
    home = ["--home", str(world.tmp / "nobody")]
    cases = {
        ("send", "not a jid", "hi"): "is not a full address",
        ("send", "bob@", "hi"): "is not a valid address",
        ("send", "bob@localhost/phone", "hi"): "without the '/phone' part",
        ("contacts", "add", "@@localhost"): "is not a valid address",
        ("send", "bob@localhost", "bell \x07 ring"): "BEL (U+0007)",
        ("send", "bob@localhost", "\x1b[31mred"): "ESC (U+001B)",
        ("account", "create", "alice", *world.common): "write your account as user@domain",
    }
    for args, expected in cases.items():
        assert expected in _error(ironwall(*args, *home)), args
    too_long = ironwall("send", "bob@localhost", *home, stdin="x" * 200_000)
    assert "at most 128 KiB" in _error(too_long)
    assert not (world.tmp / "nobody").exists()


def test_global_options_work_before_the_subcommand(world: World) -> None:
    alice = world.user("alice", "laptop", ALICE)
    _ok(alice.run("account", "create", alice.jid, *world.common))
    listed = ironwall(
        "--home", str(alice.home), "--passphrase-file", str(alice.passphrase_file), "contacts"
    )
    assert "No contacts yet" in _ok(listed)


def test_create_shows_progress_and_a_failed_login_leaves_nothing(world: World) -> None:
    alice = world.user("alice", "laptop", ALICE)
    created = _ok(alice.run("account", "create", alice.jid, *world.common))
    assert created.index("Making your key") < created.index("Sealing it with your passphrase")
    assert "ready" in created
    stranger = world.user("alice", "stolen-laptop", BOB)
    refused = _error(stranger.run("account", "login", alice.jid, *world.common))
    assert "refused the login" in refused
    assert not (stranger.home / alice.jid).exists()


def test_wrong_passphrase_on_a_reading_command_does_not_claim_nothing_changed(
    world: World,
) -> None:
    alice = world.user("alice", "laptop", ALICE)
    _ok(alice.run("account", "create", alice.jid, *world.common))
    wrong = world.user("alice", "laptop", BOB)
    reading = _error(wrong.run("history", "bob@localhost"))
    assert "wrong passphrase" in reading
    assert "nothing was changed" not in reading
    changing = _error(wrong.run("contacts", "remove", "bob@localhost"))
    assert "nothing was changed" in changing


def test_a_sent_message_is_in_the_history_once_after_listen(world: World) -> None:
    alice, bob = _contacts(world)
    _ok(alice.run("send", bob.jid, "only once, please"))
    _ok(alice.run("listen", "--timeout", "3"))
    _ok(bob.run("listen", "--count", "1", "--timeout", "20"))
    history = _ok(alice.run("history", bob.jid))
    assert history.count("only once, please") == 1, history


def test_listen_reconnects_after_a_server_restart_and_says_so(world: World) -> None:
    alice, bob = _contacts(world)
    listening = _listen_in_background(bob, "--count", "1", "--timeout", "90")
    try:
        time.sleep(4)
        world.restart(pause=3)
        _ok(alice.run("send", bob.jid, "after the restart"))
        out, err = listening.communicate(timeout=80)
    finally:
        listening.kill()
    assert listening.returncode == 0, err
    assert f"{alice.jid} [unverified] after the restart" in out
    assert "Disconnected" in err
    assert "Trying again in" in err
    assert "Connected." in err.split("Disconnected", 1)[1], err


def test_a_message_written_while_the_server_is_down_is_kept_and_sent_later(world: World) -> None:
    alice, bob = _contacts(world)
    assert world.server.stop() == 0
    kept = _ok(alice.run("send", bob.jid, "written during the outage"))
    assert "Kept for bob@localhost" in kept
    assert "pending" in _ok(alice.run("history", bob.jid))
    world.server.start(port=world.port)
    _ok(alice.run("listen", "--timeout", "3"))  # any connecting command sends the outbox
    heard = _ok(bob.run("listen", "--count", "1", "--timeout", "20"))
    assert "written during the outage" in heard
    assert "pending" not in _ok(alice.run("history", bob.jid))


def test_listen_timeout_says_why_it_stopped(world: World) -> None:
    alice = world.user("alice", "laptop", ALICE)
    _ok(alice.run("account", "create", alice.jid, *world.common))
    result = alice.run("listen", "--timeout", "2")
    assert result.returncode == 0
    assert "Stopped listening after 2 s (0 message(s) shown)." in result.stderr


def test_contacts_remove(world: World) -> None:
    alice, bob = _contacts(world)
    assert bob.jid in _ok(alice.run("contacts"))
    assert f"Removed {bob.jid}" in _ok(alice.run("contacts", "remove", bob.jid))
    assert bob.jid not in _ok(alice.run("contacts"))


def test_verify_labels_whose_key_the_qr_code_is(world: World) -> None:
    alice, bob = _contacts(world)
    shown = _ok(alice.run("verify", bob.jid, "--yes"))
    assert f"QR code of {bob.jid}'s key" in shown
    assert shown.index(f"Key of {bob.jid}") < shown.index(f"QR code of {bob.jid}'s key")


def test_second_device_reads_the_archive_once_and_shares_verification(world: World) -> None:
    alice, bob = _contacts(world)
    _ok(alice.run("send", bob.jid, "one"))
    _ok(alice.run("send", bob.jid, "two"))
    _ok(bob.run("verify", alice.jid, "--yes"))
    tablet = world.user("bob", "tablet", BOB)
    login = _ok(tablet.run("account", "login", bob.jid, *world.common))
    assert "messages came from your archive (2 unread)" in login
    listed = _ok(tablet.run("contacts"))
    assert "2 unread message(s)" in listed
    assert f"{alice.jid}  " in listed
    assert "key: verified" in listed  # verified on the phone, so verified here too
    heard = _ok(tablet.run("listen", "--timeout", "5"))
    assert heard.count("[verified] one") == 1
    assert heard.count("[verified] two") == 1
    again = _ok(tablet.run("listen", "--timeout", "3"))
    assert "one" not in again
    assert "unread" not in _ok(tablet.run("contacts"))
    # Own messages read back from the archive are labelled like any other.
    _ok(tablet.run("send", alice.jid, "from the tablet"))
    phone_history = _ok(bob.run("history", alice.jid))
    assert "[none]" not in phone_history


def test_recovery_on_one_device_leaves_the_others_working(world: World) -> None:
    alice = world.user("alice", "laptop", ALICE)
    created = _ok(alice.run("account", "create", alice.jid, *world.common))
    code = CODE.search(created)
    assert code is not None
    phone = world.user("alice", "phone", ALICE)
    _ok(phone.run("account", "login", alice.jid, *world.common))
    code_file = world.tmp / "code.txt"
    code_file.write_text(code.group() + "\n", encoding="utf-8")
    recovered_laptop = world.user("alice", "laptop", NEW)
    recovered = _ok(
        recovered_laptop.run("account", "recover", "--recovery-code-file", str(code_file))
    )
    fresh = CODE.search(recovered.split("New recovery code")[1])
    assert fresh is not None
    assert fresh.group() != code.group()
    # The phone: the old passphrase no longer logs in, the new one does, with no fuss.
    assert "changed on another device" in _error(phone.run("contacts"))
    assert "No contacts yet" in _ok(world.user("alice", "phone", NEW).run("contacts"))


# About forty CLI runs, each unlocking a key (Argon2id): longer than the default timeout
# when the suite's other workers share the two cores.
@pytest.mark.timeout(400)
def test_newcomer_walk_through(world: World) -> None:
    """Two users, two devices each; a restart in the middle; a recovery; a revocation."""
    alice, bob = world.user("alice", "laptop", ALICE), world.user("bob", "phone", BOB)
    _ok(alice.run("account", "create", alice.jid, *world.common))
    bob_created = _ok(bob.run("account", "create", bob.jid, *world.common))
    bob_code = CODE.search(bob_created)
    assert bob_code is not None
    assert "Asked bob@localhost to be a contact" in _ok(alice.run("contacts", "add", bob.jid))
    assert "alice@localhost wants to be your contact" in _ok(bob.run("contacts"))
    _ok(bob.run("contacts", "accept", alice.jid))
    alice_phone = world.user("alice", "phone", ALICE)
    bob_tablet = world.user("bob", "tablet", BOB)
    _ok(alice_phone.run("account", "login", alice.jid, *world.common))
    _ok(bob_tablet.run("account", "login", bob.jid, *world.common))

    assert "Sent to bob@localhost." in _ok(alice.run("send", bob.jid, "hello from the laptop"))
    world.restart()
    heard = _ok(bob_tablet.run("listen", "--count", "1", "--timeout", "20"))
    assert f"{alice.jid} [unverified] hello from the laptop" in heard
    _ok(bob.run("send", alice.jid, "hello back"))
    assert "hello back" in _ok(alice_phone.run("listen", "--count", "1", "--timeout", "20"))
    alice_history = _ok(alice.run("history", bob.jid))
    assert alice_history.count("hello from the laptop") == 1
    assert "-> [unverified] hello from the laptop" in alice_history

    # Bob forgets his passphrase and recovers on the phone; the tablet follows.
    code_file = world.tmp / "bob-code.txt"
    code_file.write_text(bob_code.group() + "\n", encoding="utf-8")
    bob_new = world.user("bob", "phone", NEW)
    recovered = _ok(bob_new.run("account", "recover", "--recovery-code-file", str(code_file)))
    assert "New recovery code" in recovered
    tablet_new = world.user("bob", "tablet", NEW)
    _ok(alice.run("send", bob.jid, "after your recovery"))
    assert "after your recovery" in _ok(tablet_new.run("listen", "--count", "1", "--timeout", "20"))

    # Alice's laptop is stolen: she revokes from her phone.
    revoked = _ok(alice_phone.run("account", "revoke", "--yes"))
    assert "locked the account for good" in revoked
    assert "revoked" in _error(alice.run("contacts"))
    listed = _ok(bob_new.run("contacts"))
    assert "KEY REVOKED (account compromised)" in listed
    refused = _error(bob_new.run("send", alice.jid, "are you there?"))
    assert "compromised" in refused


def test_strangers_can_be_refused_from_the_command_line(world: World) -> None:
    alice = world.user("alice", "laptop", ALICE)
    _ok(alice.run("account", "create", alice.jid, *world.common))
    assert "a few per minute at most" in _ok(alice.run("account", "strangers"))
    assert ": refused." in _ok(alice.run("account", "strangers", "refuse"))
    assert ": refused." in _ok(alice.run("account", "strangers"))

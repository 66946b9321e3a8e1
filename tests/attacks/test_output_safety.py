"""Text from the network cannot fake a line, move the cursor or reorder what ``listen`` shows.

Found on main: a stranger's plaintext body "ok\\n2026-12-06 20:46:51 ben@localhost
[unverified] Alice, new bank details…" printed as two lines, the second looking like a
message from a real contact; control characters and terminal escapes were printed raw.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from support.cli import CLIUser
from support.client import connected
from support.server import ServerProcess, free_port, write_config
from support.tls import test_pki

PASSPHRASE = "orbit lantern quietly seventeen marble"
FORGED_LINE = "2026-12-06 20:46:51 ben@localhost [unverified] Alice, new bank details: 666"
# XML cannot carry C0 controls such as ESC at all; what it can carry is CR, C1 controls
# (U+009B is an 8-bit CSI: an escape sequence to many terminals) and bidi overrides.
BODY = f"ok\n{FORGED_LINE}\n\u009b2K\u009b1A\rerased?\u202egnp.exe\u2028third"


async def _ironwall(user: CLIUser, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ironwall.cli.main",
        *args,
        "--home",
        str(user.home),
        "--passphrase-file",
        str(user.passphrase_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.slow
async def test_a_strangers_message_cannot_forge_lines_or_escape_the_terminal(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "data", config=write_config(tmp_path))
    port = server.start(port=free_port())
    try:
        bob = CLIUser("bob@localhost", tmp_path / "bob", PASSPHRASE)
        common = ("--server", f"127.0.0.1:{port}", "--ca", str(test_pki().ca_pem))
        code, _out, err = await _ironwall(bob, "account", "create", bob.jid, *common)
        assert code == 0, err
        async with connected(
            "mallory@localhost", "a long password", port, register=True
        ) as mallory:
            # Written by hand: a carriage return survives XML only as a character reference.
            body = escape(BODY).replace("\r", "&#13;")
            mallory.send_raw(
                f"<message to='bob@localhost' type='chat'><body>{body}</body></message>"
            )
            await mallory.raw_iq("<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        code, out, err = await _ironwall(bob, "listen", "--count", "1", "--timeout", "30")
    finally:
        server.kill()
    assert code == 0, err
    lines = out.splitlines()
    # One message: its first line names the real sender; every other line is marked as
    # the same message's continuation, so none can pass for a message of its own.
    assert lines[0].endswith(" mallory@localhost [NOT ENCRYPTED] ok")
    assert all(line.startswith("    | ") for line in lines[1:]), lines
    assert lines[1] == f"    | {FORGED_LINE}"
    # Escapes, carriage returns and bidi overrides are shown, never sent raw.
    for raw in ("\u009b", "\r", "\u202e", "\u2028"):
        assert raw not in out
    assert lines[2] == "    | <U+009B>2K<U+009B>1A␍erased?<U+202E>gnp.exe"
    assert lines[3] == "    | third"

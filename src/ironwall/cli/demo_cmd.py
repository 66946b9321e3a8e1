"""``ironwall demo``: see end-to-end encryption work, and what the server gets to see."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from ironwall.cli.client_common import run_client
from ironwall.client import Account
from ironwall.client.events import MessageReceived
from ironwall.client.xmpp import ServerAddress
from ironwall.e2e import format_fingerprint
from ironwall.server.app import Server
from ironwall.server.config import Config, Listener

__all__ = ["register"]

DEMO_MESSAGE = "Meet me at the old mill at noon. Bring the map."


def register(commands: Any) -> None:
    """Add the ``demo`` command."""
    parser = commands.add_parser(
        "demo",
        help="watch two users chat securely through a throw-away server",
        description=(
            "Start a throw-away Ironwall server, create alice and bob, let alice send bob a "
            "message while he is offline, and show what the server stored (ciphertext) beside "
            "what bob reads. Everything is deleted afterwards."
        ),
    )
    parser.set_defaults(run=_demo)


def _say(text: str) -> None:
    print(text, flush=True)


def _demo(_args: argparse.Namespace) -> int:
    async def work() -> int:
        with tempfile.TemporaryDirectory(prefix="ironwall-demo-") as tmp:
            await _run(Path(tmp))
        return 0

    return run_client(work)


async def _run(tmp: Path) -> None:
    server = Server(Config(data_dir=tmp / "server", listeners=(Listener("127.0.0.1", 0),)))
    await server.start()
    try:
        port = server.addresses[0][1]
        address = ServerAddress("127.0.0.1", port, tmp / "server" / "tls-cert.pem")
        _say(f"1. A throw-away Ironwall server runs on 127.0.0.1:{port}.")
        passphrases = {name: secrets.token_urlsafe(18) for name in ("alice", "bob")}
        accounts = {}
        for name in ("alice", "bob"):
            account = Account(f"{name}@localhost", tmp / "devices" / name)
            account.remember_address(address)
            fingerprint, _code = await account.create(passphrases[name])
            accounts[name] = account
            _say(f"2. {name}@localhost registered; key {format_fingerprint(fingerprint)}")
        _say("   (each key is sealed with its owner's passphrase before it goes to the server)")
        alice, bob = accounts["alice"], accounts["bob"]
        async with alice.open(passphrases["alice"]) as session:
            await session.add_contact("bob@localhost")
            await session.ping()
        async with bob.open(passphrases["bob"]) as session:
            await session.accept_contact("alice@localhost")
            await session.ping()
        _say("3. alice and bob are contacts; each pinned the other's key.")
        async with alice.open(passphrases["alice"]) as session:
            await session.send("bob@localhost", DEMO_MESSAGE)
            await session.ping()
        _say(f'4. bob is offline; alice sends: "{DEMO_MESSAGE}"')
        stored = await server.storage.archive("offline").query("bob@localhost")
        _say("5. What the server stored for bob:")
        for item in stored:
            _say(textwrap.indent(textwrap.fill(item.payload[:480] + " ...", 100), "   "))
        leaked = any(DEMO_MESSAGE in item.payload for item in stored)
        _say(f"   Does the server's copy contain the text? {'YES' if leaked else 'no'}")
        async with bob.open(passphrases["bob"], available=True) as session:
            events = session.events()
            received = None
            while received is None:
                event = await asyncio.wait_for(events.next(), 30)
                if isinstance(event, MessageReceived):
                    received = event.message
        _say(
            f'6. bob logs in and reads: "{received.body}" '
            f"(every check passed; sender's key: {received.status.value})"
        )
    finally:
        await server.stop()

"""Fault tests: nothing the server acknowledged is lost, and nothing is shown twice.

Pairs of users exchange messages through a server process that is killed with SIGKILL
in the middle of it and then restarted. Every message whose send the server had
acknowledged must be in the recipient's view exactly once afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest

from ironwall.client import Account, ClientSession
from ironwall.client.events import MessageReceived, MessageStatus
from ironwall.client.xmpp import ServerAddress
from support.server import ServerProcess, free_port, running_server, server_port, write_config
from support.sessions import next_message, stream
from support.tls import test_pki

pytestmark = pytest.mark.slow

PASSPHRASE = "orbit lantern quietly seventeen marble"
PAIRS = 3
MESSAGES = 200


async def _sender(session: ClientSession, to: str, acknowledged: list[str]) -> None:
    for n in range(MESSAGES):
        body = f"{session.jid} #{n}"
        try:
            await session.send(to, body)
            # A ping answered after the message means the server has routed it, and
            # archived it on disk: that is the acknowledgement.
            await asyncio.wait_for(session.settled(), 5)
        except Exception:  # the server is gone: this send was not acknowledged
            return
        acknowledged.append(body)


async def test_sigkill_mid_stream_loses_no_acknowledged_message(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path)
    # The six accounts register from one address: more than the five an hour it may.
    with config.open("a", encoding="utf-8") as file:
        file.write("[limits]\nmax_registrations_per_address = 100\n")
    server = ServerProcess(tmp_path / "data", config=config)
    server.start(port=port)
    address = ServerAddress("127.0.0.1", port, test_pki().ca_pem)
    senders, receivers = [], []
    try:
        for n in range(PAIRS):
            for role, group in (("s", senders), ("r", receivers)):
                account = Account(
                    f"{role}{n}@localhost",
                    tmp_path / f"{role}{n}",
                    insecure_fast_kdf_for_tests=True,
                )
                account.remember_address(address)
                await account.create(PASSPHRASE)
                group.append(account)
        for sender, receiver in zip(senders, receivers, strict=True):
            async with sender.open(PASSPHRASE) as s:
                await s.add_contact(receiver.jid)
                await s.settled()
            async with receiver.open(PASSPHRASE) as r:
                await r.accept_contact(sender.jid)
                await r.settled()
        acknowledged: dict[str, list[str]] = {r.jid: [] for r in receivers}
        async with contextlib.AsyncExitStack() as stack:
            for receiver in receivers:
                await stack.enter_async_context(receiver.open(PASSPHRASE, available=True))
            sending = []
            for sender, receiver in zip(senders, receivers, strict=True):
                session = await stack.enter_async_context(sender.open(PASSPHRASE))
                sending.append(
                    asyncio.ensure_future(
                        _sender(session, receiver.jid, acknowledged[receiver.jid])
                    )
                )
            # Let traffic flow, then kill the server in the middle of it.
            for _ in range(600):  # at most 30 s
                if sum(len(v) for v in acknowledged.values()) >= PAIRS * 10:
                    break
                await asyncio.sleep(0.05)
            server.kill()
            await asyncio.wait_for(asyncio.gather(*sending), 60)
        assert all(len(v) < MESSAGES for v in acknowledged.values()), "the kill came too late"
        server.start(port=port)
        for receiver in receivers:
            peer = receiver.jid.replace("r", "s", 1)
            async with receiver.open(PASSPHRASE, available=True) as session:
                await session.settled()
                await asyncio.sleep(0.2)
                history = session.history(peer, limit=10_000)
            seen = [e.body for e in history]
            duplicates = {body for body in seen if seen.count(body) > 1}
            assert not duplicates, f"shown twice: {sorted(duplicates)[:5]}"
            missing = [body for body in acknowledged[receiver.jid] if body not in seen]
            assert not missing, f"{len(missing)} acknowledged messages lost: {missing[:5]}"
            assert all(e.status is MessageStatus.UNVERIFIED for e in history)
    finally:
        server.kill()


async def test_cut_connection_resumes_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ironwall")
    async with running_server(tmp_path / "server") as server:
        address = ServerAddress("127.0.0.1", server_port(server), test_pki().ca_pem)
        alice = Account("alice@localhost", tmp_path / "alice", insecure_fast_kdf_for_tests=True)
        bob = Account("bob@localhost", tmp_path / "bob", insecure_fast_kdf_for_tests=True)
        for account in (alice, bob):
            account.remember_address(address)
            await account.create(PASSPHRASE)
        async with alice.open(PASSPHRASE) as a:
            await a.add_contact("bob@localhost")
            await a.settled()
        async with bob.open(PASSPHRASE) as b:
            await b.accept_contact("alice@localhost")
            await b.settled()
        async with alice.open(PASSPHRASE, available=True) as a, bob.open(PASSPHRASE) as b:
            await b.send("alice@localhost", "before the cut")
            assert (await next_message(a, 10)).body == "before the cut"
            # The network drops Alice's connection: no goodbye on either side.
            (connection,) = [
                c for c in server.connections if c.session and c.session.jid.local == "alice"
            ]
            assert connection.transport is not None
            connection.transport.abort()
            for n in range(3):
                await b.send("alice@localhost", f"during the cut {n}")
            await b.settled()
            received = [(await next_message(a, 30)).body for _ in range(3)]
            assert received == [f"during the cut {n}" for n in range(3)]
            await a.settled()
            await asyncio.sleep(0.3)
            while (later := await stream(a).next(0.1)) is not None:
                assert not isinstance(later, MessageReceived), later
            bodies = [e.body for e in a.history("bob@localhost")]
        assert "session alice@localhost/" in caplog.text
        assert "resumed from" in caplog.text
        assert bodies == [
            "before the cut",
            "during the cut 0",
            "during the cut 1",
            "during the cut 2",
        ]

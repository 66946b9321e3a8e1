"""Resource limits on real sockets: each one answers with a clear error, and only the
offending connection pays for it. Every test client connects from 127.0.0.1, so the
per-address limits count them all together."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from ironwall.server.app import Server
from support.raw import RawClient, StreamError, xml_text
from support.server import running_server, server_port
from support.users import PASSWORD, add_users

STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


@contextlib.asynccontextmanager
async def server_with(tmp_path: Path, **limits: float) -> AsyncIterator[Server]:
    async with running_server(tmp_path / "server", limits=limits) as server:
        await add_users(server, "alice")
        yield server


async def test_connections_per_address_are_limited(tmp_path: Path) -> None:
    async with server_with(tmp_path, max_connections_per_address=3) as server:
        port = server_port(server)
        first, second, third = [await RawClient.connect(port) for _ in range(3)]
        await first.open_stream()
        fourth = await RawClient.connect(port)
        await fourth.wait_closed()
        assert fourth.stream_error == StreamError(
            "policy-violation", "too many connections from your address"
        )
        assert fourth.view.ended
        # The three it already had are served as before.
        await second.open_stream()
        await third.open_stream()

        await first.close()
        deadline = time.monotonic() + 5
        while True:
            fifth = await RawClient.connect(port)
            try:
                await fifth.starttls()
                break
            except AssertionError:
                await fifth.wait_closed()
                assert time.monotonic() < deadline, "a closed connection was never released"
                await asyncio.sleep(0.05)
        await fifth.open_stream()
        assert await fifth.authenticate("alice", PASSWORD) == "success"
        for client in (second, third, fifth):
            await client.close()


async def test_failed_logins_per_address_are_limited(tmp_path: Path) -> None:
    async with server_with(tmp_path, max_failed_logins_per_address=2) as server:
        port = server_port(server)
        # Two wrong guesses on two accounts (one that does not exist) from one address...
        for name in ("alice", "nobody"):
            client = await RawClient.connect(port)
            await client.starttls()
            await client.open_stream()
            assert await client.authenticate(name, "wrong password") == "not-authorized"
            await client.close()
        # ...and even the right password is refused from it now.
        other = await RawClient.connect(port)
        await other.starttls()
        await other.open_stream()
        assert await other.authenticate("alice", PASSWORD) == "closed"
        assert other.stream_error is not None
        assert other.stream_error.condition == "policy-violation"
        assert other.stream_error.text is not None
        assert other.stream_error.text.startswith(
            "too many failed logins from your address; try again in "
        )
        await other.wait_closed()


async def test_idle_session_gets_whitespace_keepalives(tmp_path: Path) -> None:
    async with server_with(tmp_path, keepalive_interval=0.5) as server:
        client = await RawClient.logged_in(server_port(server), "alice", PASSWORD)
        received = await client.read_for(1.4)
        assert received == b" " * len(received)
        assert len(received) >= 2
        assert not client.closed
        await client.close()


async def test_resources_per_account_are_limited(tmp_path: Path) -> None:
    async with server_with(tmp_path, max_resources_per_account=2) as server:
        port = server_port(server)
        one = await RawClient.logged_in(port, "alice", PASSWORD, "one")
        two = await RawClient.logged_in(port, "alice", PASSWORD, "two")
        three = await RawClient.connect(port)
        await three.starttls()
        await three.open_stream()
        assert await three.authenticate("alice", PASSWORD) == "success"
        refused = await three.bind("three")
        assert refused.get("type") == "error", xml_text(refused)
        error = refused.find("{jabber:client}error")
        assert error is not None, xml_text(refused)
        assert error.get("type") == "wait"
        assert error.find(f"{{{STANZAS}}}resource-constraint") is not None, xml_text(refused)
        assert error.findtext(f"{{{STANZAS}}}text") == "too many sessions on this account"
        # Taking over an existing resource is still allowed: the newest login wins.
        replaced = await three.bind("one")
        assert replaced.get("type") == "result", xml_text(replaced)
        await one.wait_closed()
        assert one.stream_error is not None
        assert one.stream_error.condition == "conflict"
        for client in (two, three):
            await client.close()

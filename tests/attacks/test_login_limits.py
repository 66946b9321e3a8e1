"""Failed-login limits: a careless user locks out only themself, from their address;
password spraying from one address and guessing from many addresses are still stopped;
and no refusal tells whether an account exists.

Every test client connects from 127.0.0.1 unless it says otherwise; Linux routes all of
127.0.0.0/8 to the loopback, so 127.0.0.2 stands for a second machine.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from ironwall.server.app import Server
from support.client import XMPPClient, connected
from support.raw import RawClient, StreamError
from support.server import running_server, server_port
from support.users import PASSWORD, add_users

OTHER_MACHINE = "127.0.0.2"


@contextlib.asynccontextmanager
async def limited(tmp_path: Path, **limits: float) -> AsyncIterator[Server]:
    async with running_server(tmp_path / "server", limits=limits) as server:
        await add_users(server, "alice", "bob", "carol", "dave")
        yield server


async def login(
    server: Server, username: str, password: str, source: str | None = None
) -> tuple[str, StreamError | None]:
    """One SCRAM login on a new connection: its outcome and the stream error, if any."""
    client = await RawClient.connect(server_port(server), source)
    await client.starttls()
    await client.open_stream()
    outcome = await client.authenticate(username, password)
    error = client.stream_error
    await client.close()
    return outcome, error


async def slixmpp_login_fails(server: Server, jid: str, password: str) -> None:
    """What a user's client does with a mistyped password: it tries every mechanism."""
    client = XMPPClient(jid, password)
    client.connect("127.0.0.1", server_port(server))
    await asyncio.wait_for(
        asyncio.wait(
            {
                asyncio.ensure_future(client.failed_auth.wait()),
                asyncio.ensure_future(client.disconnected_event.wait()),
            },
            return_when=asyncio.FIRST_COMPLETED,
        ),
        10,
    )
    assert not client.session_started.is_set()
    await client.stop()


async def test_careless_users_do_not_lock_out_anyone_else(server: Server) -> None:
    alice, bob, carol = await add_users(server, "alice", "bob", "carol")
    # Alice mistypes her password three times, Bob once, on the same network (address).
    for _ in range(3):
        await slixmpp_login_fails(server, alice, "a mistyped password")
    await slixmpp_login_fails(server, bob, "another mistyped password")
    # Carol logs in, and so do they with their passwords: four mistakes are four failed
    # logins, not one per mechanism their clients tried.
    for jid in (carol, alice, bob):
        async with connected(jid, PASSWORD, server_port(server)) as client:
            assert client.boundjid.bare == jid


async def test_the_limit_of_one_account_from_one_address(tmp_path: Path) -> None:
    async with limited(tmp_path, max_failed_logins_per_account_address=3) as server:
        for _ in range(3):
            assert await login(server, "alice", "wrong") == ("not-authorized", None)
        outcome, error = await login(server, "alice", PASSWORD)
        assert outcome == "closed"
        assert error is not None
        assert error.condition == "policy-violation"
        assert error.text is not None
        assert error.text.startswith(
            "too many failed logins to this account from your address; try again in "
        )
        assert error.text.endswith(("minutes", "seconds"))
        # Only Alice, only from here.
        assert (await login(server, "bob", PASSWORD))[0] == "success"
        assert (await login(server, "alice", PASSWORD, OTHER_MACHINE))[0] == "success"


async def test_a_refusal_does_not_tell_whether_the_account_exists(tmp_path: Path) -> None:
    async with limited(tmp_path, max_failed_logins_per_account_address=2) as server:
        errors = []
        for name in ("alice", "nobody"):
            for _ in range(2):
                assert (await login(server, name, "wrong"))[0] == "not-authorized"
            outcome, error = await login(server, name, "wrong")
            assert outcome == "closed"
            errors.append(error)
        assert errors[0] == errors[1]


async def test_password_spraying_from_one_address_is_stopped(tmp_path: Path) -> None:
    limits = {"max_failed_logins_per_account_address": 5, "max_failed_logins_per_address": 4}
    async with limited(tmp_path, **limits) as server:
        for name in ("alice", "bob", "carol", "nobody"):
            assert (await login(server, name, "Winter2024!"))[0] == "not-authorized"
        # Even an account that never failed, even with its password, from that address.
        outcome, error = await login(server, "dave", PASSWORD)
        assert outcome == "closed"
        assert error is not None
        assert error.condition == "policy-violation"
        assert error.text is not None
        assert error.text.startswith("too many failed logins from your address; try again in ")
        assert (await login(server, "dave", PASSWORD, OTHER_MACHINE))[0] == "success"


async def test_guessing_one_account_from_many_addresses_is_stopped(tmp_path: Path) -> None:
    limits = {"max_failed_logins_per_account_address": 5, "max_failed_logins_per_account": 4}
    async with limited(tmp_path, **limits) as server:
        for source in ("127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"):
            assert (await login(server, "alice", "guess", source))[0] == "not-authorized"
        outcome, error = await login(server, "alice", PASSWORD, OTHER_MACHINE)
        assert outcome == "closed"
        assert error is not None
        assert error.text is not None
        assert error.text.startswith("too many failed logins to this account; try again in ")
        assert (await login(server, "bob", PASSWORD, OTHER_MACHINE))[0] == "success"


async def test_one_connection_gets_three_tries_and_they_count_once(tmp_path: Path) -> None:
    async with limited(tmp_path, max_failed_logins_per_account_address=2) as server:
        client = await RawClient.connect(server_port(server))
        await client.starttls()
        await client.open_stream()
        for _ in range(2):
            assert await client.authenticate("alice", "wrong") == "not-authorized"
        assert await client.authenticate("alice", "wrong") == "not-authorized"
        await client.wait_closed()
        assert client.stream_error == StreamError(
            "policy-violation",
            "too many failed authentication attempts on this connection; "
            "check the password, then connect again",
        )
        # Three tries on one connection were one failed attempt: below the limit of 2.
        assert (await login(server, "alice", PASSWORD))[0] == "success"

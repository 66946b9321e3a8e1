"""Hostile input on real sockets.

Every attack gets its specified stream error, then the server closes the connection, and
two users who logged in before the attacks keep chatting. Each attack is made on a plain
connection and on the stream restarted inside TLS, and what can appear inside a stream
also inside an authenticated session.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from ironwall.server.app import Server
from support.client import XMPPClient, connected
from support.raw import HEADER, RawClient
from support.server import running_server, server_port
from support.users import PASSWORD, add_users, befriend

pytestmark = pytest.mark.asyncio(loop_scope="module")

STANZA_LIMIT = 262144  # the server's default max_stanza_bytes
_BARE_HEADER = HEADER.removeprefix(b"<?xml version='1.0'?>")

BILLION_LAUGHS = (
    b"<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY lol 'lol'>"
    + b"".join(
        b"<!ENTITY lol%d '%s'>" % (n, (b"&lol%s;" % (b"" if n == 1 else b"%d" % (n - 1))) * 10)
        for n in range(1, 10)
    )
    + b"]>"
    + _BARE_HEADER
    + b"<message><body>&lol9;</body></message>"
)
EXTERNAL_ENTITY = (
    b"<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>"
    + _BARE_HEADER
    + b"<message><body>&xxe;</body></message>"
)

#: Attacks on the start of a stream: (bytes in place of a stream header, condition).
HEADER_ATTACKS: dict[str, tuple[bytes, str]] = {
    "billion laughs": (BILLION_LAUGHS, "restricted-xml"),
    "external entity": (EXTERNAL_ENTITY, "restricted-xml"),
    "doctype": (b"<!DOCTYPE stream:stream>" + _BARE_HEADER, "restricted-xml"),
    "processing instruction before the header": (b"<?evil x?>" + _BARE_HEADER, "restricted-xml"),
    "comment before the header": (b"<!-- hello -->" + _BARE_HEADER, "restricted-xml"),
    "garbage before the header": (b"GET / HTTP/1.1\r\n\r\n" + HEADER, "not-well-formed"),
    "header beyond the byte limit": (HEADER[:-1] + b" x='" + b"a" * 5000, "policy-violation"),
}

#: Attacks inside an open stream: (bytes sent after the stream header, condition).
STANZA_ATTACKS: dict[str, tuple[bytes, str]] = {
    "processing instruction": (b"<?evil x?>", "restricted-xml"),
    "comment": (b"<message><!-- hello --></message>", "restricted-xml"),
    "oversize stanza": (
        b"<message to='bob@localhost'><body>" + b"x" * (STANZA_LIMIT + 4096),
        "policy-violation",
    ),
    "deep nesting": (b"<message>" + b"<x>" * 40 + b"</x>" * 40 + b"</message>", "policy-violation"),
    "invalid utf-8": (b"<message><body>caf\xc3\x28</body></message>", "not-well-formed"),
    "mismatched tags": (b"<message><body>hi</message></body>", "not-well-formed"),
    "unclosed tags": (b"<message><body>hi</stream:stream>", "not-well-formed"),
    "broken start tag": (b"<message to='bob@localhost'<body/>", "not-well-formed"),
    "undeclared entity": (b"<message><body>&lol9;</body></message>", "not-well-formed"),
    "doctype inside the stream": (b"<!DOCTYPE x [<!ENTITY a 'b'>]>", "not-well-formed"),
    "undeclared prefix": (b"<evil:message/>", "not-well-formed"),
}


@dataclass
class Arena:
    """A server, and Alice and Bob, who logged in before any attack."""

    server: Server
    port: int
    alice: XMPPClient
    bob: XMPPClient


@contextlib.asynccontextmanager
async def arena(data_dir: Path, **limits: float) -> AsyncIterator[Arena]:
    """A running server with Alice and Bob logged in (and an account for Mallory)."""
    async with running_server(data_dir, limits=limits) as server:
        alice, bob, _mallory = await add_users(server, "alice", "bob", "mallory")
        # They chat after every attack: as contacts, not strangers, whose rate is limited.
        await befriend(server, alice, bob)
        port = server_port(server)
        async with (
            connected("alice@localhost", PASSWORD, port) as alice,
            connected("bob@localhost", PASSWORD, port) as bob,
        ):
            yield Arena(server, port, alice, bob)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Arena]:
    """One server for every attack: it has to survive them all, one after another."""
    async with arena(tmp_path_factory.mktemp("hostile")) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def impatient(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Arena]:
    """A server that gives a connection one second to log in."""
    async with arena(tmp_path_factory.mktemp("impatient"), auth_timeout=1.0) as running:
        yield running


_bodies = itertools.count()


async def chat(arena: Arena) -> None:
    """Alice and Bob exchange one message each way."""
    for sender, receiver in ((arena.alice, arena.bob), (arena.bob, arena.alice)):
        body = f"still here {next(_bodies)}"
        sender.send_message(mto=receiver.boundjid.bare, mbody=body, mtype="chat")
        assert (await receiver.next_message(timeout=5))["body"] == body


async def assert_still_chatting(arena: Arena) -> None:
    """Alice and Bob still chat, and the server holds no connection but theirs."""
    await chat(arena)
    deadline = time.monotonic() + 5
    while len(arena.server.connections) != 2:
        assert time.monotonic() < deadline, arena.server.connections
        await asyncio.sleep(0.01)


async def suffer(client: RawClient, payload: bytes) -> str | None:
    """Send the attack and read until the server closes; return its stream-error condition."""
    with contextlib.suppress(ConnectionError):  # it may close before it read everything
        await client.send(payload)
    await client.wait_closed()
    assert client.view.header is not None, "a stream error comes after the server's header"
    assert client.view.ended, "the server closes its stream before the connection"
    error = client.stream_error
    return error.condition if error else None


@pytest.mark.parametrize("attack", HEADER_ATTACKS)
async def test_header_attack_on_a_plain_connection(shared: Arena, attack: str) -> None:
    payload, condition = HEADER_ATTACKS[attack]
    client = await RawClient.connect(shared.port)
    assert await suffer(client, payload) == condition
    await assert_still_chatting(shared)


@pytest.mark.parametrize("attack", HEADER_ATTACKS)
async def test_header_attack_on_the_stream_restarted_in_tls(shared: Arena, attack: str) -> None:
    payload, condition = HEADER_ATTACKS[attack]
    client = await RawClient.connect(shared.port)
    await client.starttls()
    assert await suffer(client, payload) == condition
    await assert_still_chatting(shared)


@pytest.mark.parametrize("attack", STANZA_ATTACKS)
async def test_stanza_attack_on_a_plain_connection(shared: Arena, attack: str) -> None:
    payload, condition = STANZA_ATTACKS[attack]
    client = await RawClient.connect(shared.port)
    assert await suffer(client, HEADER + payload) == condition
    await assert_still_chatting(shared)


@pytest.mark.parametrize("attack", STANZA_ATTACKS)
async def test_stanza_attack_in_tls_before_login(shared: Arena, attack: str) -> None:
    payload, condition = STANZA_ATTACKS[attack]
    client = await RawClient.connect(shared.port)
    await client.starttls()
    assert await suffer(client, HEADER + payload) == condition
    await assert_still_chatting(shared)


@pytest.mark.parametrize("attack", STANZA_ATTACKS)
async def test_stanza_attack_in_an_authenticated_session(shared: Arena, attack: str) -> None:
    payload, condition = STANZA_ATTACKS[attack]
    client = await RawClient.logged_in(shared.port, "mallory", PASSWORD, "evil")
    assert await suffer(client, payload) == condition
    await assert_still_chatting(shared)


async def test_commands_sent_with_starttls_are_not_carried_into_tls(shared: Arena) -> None:
    client = await RawClient.connect(shared.port)
    await client.open_stream()
    injected = b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>"
    await client.send(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" + injected)
    await client.wait_closed()
    assert b"<proceed" not in client.view.received
    error = client.stream_error
    assert error is not None
    assert error.condition == "policy-violation"
    await assert_still_chatting(shared)


# ----------------------------------------------------------------- slow clients


async def test_client_that_says_nothing_gets_connection_timeout(impatient: Arena) -> None:
    started = time.monotonic()
    client = await RawClient.connect(impatient.port)
    await chat(impatient)  # while the silent connection is open
    assert await suffer(client, b"") == "connection-timeout"
    assert 0.9 < time.monotonic() - started < 3
    await assert_still_chatting(impatient)


async def test_header_that_never_finishes_gets_connection_timeout(impatient: Arena) -> None:
    started = time.monotonic()
    client = await RawClient.connect(impatient.port)
    await client.send(HEADER[:70])
    await chat(impatient)
    assert await suffer(client, b"") == "connection-timeout"
    assert 0.9 < time.monotonic() - started < 3
    await assert_still_chatting(impatient)


async def test_header_sent_a_byte_at_a_time_still_times_out(impatient: Arena) -> None:
    # Trickling keeps the connection busy but must not keep it alive.
    started = time.monotonic()
    client = await RawClient.connect(impatient.port)

    async def trickle() -> None:
        for byte in HEADER[:-1]:
            await client.send(bytes([byte]))
            await asyncio.sleep(0.05)

    trickling = asyncio.ensure_future(trickle())
    try:
        assert await suffer(client, b"") == "connection-timeout"
    finally:
        trickling.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await trickling
    assert 0.9 < time.monotonic() - started < 3
    await assert_still_chatting(impatient)


async def test_tls_handshake_that_never_comes_is_cut_at_the_login_time_limit(
    impatient: Arena,
) -> None:
    started = time.monotonic()
    client = await RawClient.connect(impatient.port)
    await client.open_stream()
    await asyncio.sleep(0.6)
    await client.send(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    assert (await client.next_element()).tag == "{urn:ietf:params:xml:ns:xmpp-tls}proceed"
    await client.wait_closed()  # and no handshake from this side
    assert 0.9 < time.monotonic() - started < 1.5
    await assert_still_chatting(impatient)


@pytest.mark.parametrize(("relayed", "outcome"), [(False, "success"), (True, "not-authorized")])
async def test_scram_plus_catches_a_relay_in_the_middle(
    shared: Arena, relayed: bool, outcome: str
) -> None:
    # A relay that terminates TLS presents its own certificate, so the client binds to
    # other data than the server's; the genuine client's binding matches.
    client = await RawClient.connect(shared.port)
    await client.starttls()
    await client.open_stream()
    binding = client.channel_binding()
    if relayed:
        binding = bytes(b ^ 0xFF for b in binding)
    result = await client.authenticate(
        "mallory", PASSWORD, mechanism="SCRAM-SHA-256-PLUS", channel_binding=binding
    )
    assert result == outcome
    await client.close()
    await assert_still_chatting(shared)

"""go-sendxmpp (Debian package) and slixmpp chat through the Ironwall server."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.client import connected

from .conftest import ACCOUNTS
from .gosendxmpp import GoSendxmppFactory
from .ironwall import IronwallServer, start_ironwall
from .peers import require_peer
from .xmpp_server import XmppServer

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def ironwall_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppServer]:
    handle: IronwallServer = start_ironwall(
        tmp_path_factory.mktemp("ironwall"), {name: secrets.token_urlsafe(12) for name in ACCOUNTS}
    )
    try:
        yield handle.server
    finally:
        handle.stop()


async def test_go_sendxmpp_to_slixmpp(
    ironwall_server: XmppServer, go_sendxmpp: GoSendxmppFactory
) -> None:
    require_peer("go-sendxmpp")
    server = ironwall_server
    alice = go_sendxmpp(server, "alice")
    async with connected(
        server.jid("bob"), server.users["bob"], server.port, ca_pem=server.ca_pem_path
    ) as bob:
        # go-sendxmpp runs as a blocking subprocess: keep the event loop (and slixmpp) running.
        await asyncio.to_thread(alice.send, server.jid("bob"), "hello from go-sendxmpp ✓")
        message = await bob.next_message(timeout=20)
        assert message["body"] == "hello from go-sendxmpp ✓"
        assert message["from"].bare == server.jid("alice")


async def test_slixmpp_to_go_sendxmpp_listener(
    ironwall_server: XmppServer, go_sendxmpp: GoSendxmppFactory
) -> None:
    require_peer("go-sendxmpp")
    server = ironwall_server
    carol = go_sendxmpp(server, "carol")
    listener = carol.start_listening()
    async with connected(
        server.jid("bob"), server.users["bob"], server.port, ca_pem=server.ca_pem_path
    ) as bob:
        bob.send_message(mto=server.jid("carol"), mbody="hello from slixmpp", mtype="chat")
        received = await asyncio.to_thread(listener.wait_for, "hello from slixmpp", 20)
        assert received.sender == server.jid("bob")
        assert not received.ox
    listener.stop()


def test_log_holds_no_message_text(ironwall_server: XmppServer) -> None:
    log = Path(ironwall_server.log_path).read_text(encoding="utf-8")
    assert "hello from" not in log
    for password in ironwall_server.users.values():
        assert password not in log

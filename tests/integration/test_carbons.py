"""XEP-0280 Message Carbons, with slixmpp's xep_0280 against the real server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from xml.etree.ElementTree import Element

from ironwall.server.app import Server
from support.client import TIMEOUT, XMPPClient, connected
from support.server import server_port
from support.users import PASSWORD, add_users

CARBONS = "urn:xmpp:carbons:2"
FORWARD = "urn:xmpp:forward:0"
CLIENT = "jabber:client"
DISCO_INFO = "http://jabber.org/protocol/disco#info"


class Device(XMPPClient):
    """A client that enables carbons and queues the copies it gets, sent and received."""

    def __init__(self, jid: str, **kwargs: Any) -> None:
        super().__init__(jid, PASSWORD, **kwargs)
        self.register_plugin("xep_0280")
        self.carbons: asyncio.Queue[tuple[str, Element]] = asyncio.Queue()
        for direction in ("sent", "received"):
            self.add_event_handler(
                f"carbon_{direction}",
                lambda message, d=direction: self.carbons.put_nowait((d, _inner(message, d))),
            )

    async def next_carbon(self) -> tuple[str, Element]:
        """The next carbon: ("sent" or "received", the forwarded message)."""
        return await asyncio.wait_for(self.carbons.get(), TIMEOUT)


def _inner(message: Any, direction: str) -> Element:
    forwarded = message.xml.find(f"{{{CARBONS}}}{direction}/{{{FORWARD}}}forwarded")
    assert forwarded is not None
    inner = forwarded.find(f"{{{CLIENT}}}message")
    assert inner is not None
    return inner


def _body(message: Element) -> str | None:
    return message.findtext(f"{{{CLIENT}}}body")


@contextlib.asynccontextmanager
async def device(
    jid: str, port: int, *, carbons: bool = True, **kwargs: Any
) -> AsyncIterator[Device]:
    """A started device, with carbons enabled unless ``carbons`` is False."""
    client = Device(jid, **kwargs)
    try:
        await client.start(port)
        if carbons:
            await client.plugin["xep_0280"].enable(timeout=TIMEOUT)
        yield client
    finally:
        await client.stop()


async def _message_to(client: XMPPClient, sender: str) -> Any:
    """The next message from ``sender`` (a bare JID), skipping carbons and others."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            message = await client.next_message()
            if message["from"].bare == sender and message["body"]:
                return message


async def test_message_sent_from_device_a_appears_on_device_b(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    async with (
        device(f"{alice}/a", port) as a,
        device(f"{alice}/b", port) as b,
        connected(bob, PASSWORD, port) as bob_client,
    ):
        a.send_message(mto=bob, mbody="sent from A", mtype="chat")
        assert (await _message_to(bob_client, alice))["body"] == "sent from A"
        direction, copy_ = await b.next_carbon()
        assert direction == "sent"
        assert _body(copy_) == "sent from A"
        assert copy_.get("from") == f"{alice}/a"
        assert copy_.get("to") == bob
        # The reply to A's full JID reaches B as a received carbon, and A itself.
        bob_client.send_message(mto=f"{alice}/a", mbody="reply to A", mtype="chat")
        assert (await _message_to(a, bob))["body"] == "reply to A"
        direction, copy_ = await b.next_carbon()
        assert direction == "received"
        assert _body(copy_) == "reply to A"
        assert copy_.get("to") == f"{alice}/a"
        # A got no carbon of its own message, nor of the reply it received itself.
        assert a.carbons.empty()


async def test_private_no_copy_ineligible_and_disabled_are_not_copied(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    async with (
        device(f"{alice}/a", port) as a,
        device(f"{alice}/b", port) as b,
        connected(bob, PASSWORD, port),
    ):
        a.send_raw(
            f"<message to='{bob}' type='chat'><body>private</body>"
            f"<private xmlns='{CARBONS}'/></message>"
        )
        a.send_raw(
            f"<message to='{bob}' type='chat'><body>no copy</body>"
            "<no-copy xmlns='urn:xmpp:hints'/></message>"
        )
        a.send_raw(f"<message to='{bob}' type='headline'><body>headline</body></message>")
        a.send_raw(f"<message to='{bob}'><x xmlns='urn:example:other'/></message>")
        a.send_message(mto=bob, mbody="marker", mtype="normal")
        direction, copy_ = await b.next_carbon()
        assert (direction, _body(copy_)) == ("sent", "marker")
        await b.plugin["xep_0280"].disable(timeout=TIMEOUT)
        a.send_message(mto=bob, mbody="after disable", mtype="chat")
        await a.plugin["xep_0199"].ping("localhost", timeout=TIMEOUT)
        await b.plugin["xep_0199"].ping("localhost", timeout=TIMEOUT)
        assert b.carbons.empty()


async def test_negative_priority_resource_gets_received_carbons_of_bare_messages(
    server: Server,
) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    async with (
        device(f"{alice}/a", port) as a,
        device(f"{alice}/hidden", port, send_presence=False) as hidden,
        connected(bob, PASSWORD, port) as bob_client,
    ):
        hidden.send_presence(ppriority=-1)
        await hidden.plugin["xep_0199"].ping("localhost", timeout=TIMEOUT)
        bob_client.send_message(mto=alice, mbody="to the bare JID", mtype="chat")
        assert (await _message_to(a, bob))["body"] == "to the bare JID"
        direction, copy_ = await hidden.next_carbon()
        assert (direction, _body(copy_), copy_.get("to")) == ("received", "to the bare JID", alice)
        assert a.carbons.empty()


async def test_carbons_are_advertised_and_bad_requests_refused(server: Server) -> None:
    (alice,) = await add_users(server, "alice")
    async with device(alice, server_port(server), carbons=False) as a:
        info = await a.raw_iq(f"<iq type='get' to='localhost'><query xmlns='{DISCO_INFO}'/></iq>")
        assert CARBONS in {f.get("var") for f in info.xml.iter(f"{{{DISCO_INFO}}}feature")}
        wrong = await a.raw_iq(f"<iq type='set'><other xmlns='{CARBONS}'/></iq>")
        assert wrong["error"]["condition"] == "bad-request"

"""OMEMO (XEP-0384) between two slixmpp-omemo clients through the Ironwall server's PEP.

slixmpp-omemo publishes its device lists and bundles with publish-options
(``access_model = open``, ``max_items = max`` or 1), subscribes explicitly to the device
lists of a peer that is not a contact, and fetches the peer's device list and bundle: the
parts of XEP-0060/0163 an OMEMO client needs, against the real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from omemo.storage import Just, Maybe, Nothing, Storage
from omemo.types import DeviceInformation, JSONType
from slixmpp.jid import JID
from slixmpp.plugins import register_plugin
from slixmpp_omemo import XEP_0384

from ironwall.proto.jid import JID as IronwallJID
from ironwall.server.app import Server
from support.client import XMPPClient
from support.server import running_server, server_port
from support.users import PASSWORD, add_users

pytestmark = [
    pytest.mark.interop,
    # slixmpp-omemo 2.2 reaches plugins through the deprecated ``xmpp["xep_…"]``.
    pytest.mark.filterwarnings(
        "ignore:Accessing plugins through the XMPP object:DeprecationWarning"
    ),
]

#: slixmpp-omemo 2.2 has no SCE yet, so it encrypts message bodies with the older
#: ("siacs") OMEMO; it publishes and subscribes to the nodes of both versions.
OLDMEMO = "eu.siacs.conversations.axolotl"
DEVICES_NODE = "urn:xmpp:omemo:2:devices"
BUNDLES_NODE = "urn:xmpp:omemo:2:bundles"


class MemoryStorage(Storage):
    """OMEMO state kept in memory: each test client starts with fresh keys."""

    def __init__(self) -> None:
        super().__init__()
        self._data: dict[str, JSONType] = {}

    async def _load(self, key: str) -> Maybe[JSONType]:
        return Just(self._data[key]) if key in self._data else Nothing()

    async def _store(self, key: str, value: JSONType) -> None:
        self._data[key] = value

    async def _delete(self, key: str) -> None:
        self._data.pop(key, None)


class OmemoPlugin(XEP_0384):  # type: ignore[misc]
    """slixmpp-omemo with in-memory storage and blind trust before verification."""

    def plugin_init(self) -> None:
        self._storage = MemoryStorage()
        super().plugin_init()

    @property
    def storage(self) -> Storage:
        return self._storage

    @property
    def _btbv_enabled(self) -> bool:
        return True

    async def _prompt_manual_trust(
        self, manually_trusted: frozenset[DeviceInformation], identifier: str | None
    ) -> None:
        raise AssertionError(f"BTBV should have trusted these devices: {manually_trusted}")


register_plugin(OmemoPlugin)


@contextlib.asynccontextmanager
async def omemo_client(server: Server, jid: str) -> AsyncIterator[XMPPClient]:
    """A started client whose OMEMO identity is generated and published."""
    client = XMPPClient(jid, PASSWORD)
    client.register_plugin("xep_0380")
    client.register_plugin("xep_0384", module=sys.modules[__name__])
    try:
        await client.start(server_port(server))
        await asyncio.wait_for(client.plugin["xep_0384"].get_session_manager(), 30)
        yield client
    finally:
        await client.stop()


async def _send_encrypted(sender: XMPPClient, to: str, text: str) -> None:
    message = sender.make_message(mto=to, mtype="chat")
    message["body"] = text
    encrypted, errors = await sender.plugin["xep_0384"].encrypt_message(message, JID(to))
    assert encrypted is not None, errors
    assert encrypted.xml.find(f"{{{OLDMEMO}}}encrypted") is not None
    encrypted.send()


async def _receive_decrypted(receiver: XMPPClient) -> tuple[Any, str]:
    """The next OMEMO message as it arrived, and its decrypted body."""
    async with asyncio.timeout(20):
        while True:
            stanza = await receiver.next_message()
            if receiver.plugin["xep_0384"].is_encrypted(stanza):
                decrypted, _device = await receiver.plugin["xep_0384"].decrypt_message(stanza)
                return stanza, decrypted["body"]


async def test_two_slixmpp_omemo_clients_exchange_messages(tmp_path: Path) -> None:
    async with running_server(tmp_path / "server") as server:
        alice, bob = await add_users(server, "alice", "bob")
        # Explicit resources: slixmpp keys the +notify features it adds at start by that JID.
        async with omemo_client(server, f"{alice}/a") as a, omemo_client(server, f"{bob}/b") as b:
            pep = server.module("pep")
            for account in (alice, bob):
                nodes = await pep.store.nodes(IronwallJID.parse(account))  # type: ignore[attr-defined]
                assert {DEVICES_NODE, BUNDLES_NODE, f"{OLDMEMO}.devicelist"} <= nodes.keys()
                assert nodes[DEVICES_NODE].config.access_model == "open"
                assert nodes[BUNDLES_NODE].config.max_items == "max"

            await _send_encrypted(a, bob, "hello bob, this is OMEMO")
            wire, body = await _receive_decrypted(b)
            assert body == "hello bob, this is OMEMO"
            assert "hello bob" not in str(wire)
            assert wire["from"].bare == alice

            await _send_encrypted(b, alice, "hello alice, OMEMO back")
            wire, body = await _receive_decrypted(a)
            assert body == "hello alice, OMEMO back"
            assert "OMEMO back" not in str(wire)

            # Neither is the other's contact: each subscribed to the other's device list.
            for node in (DEVICES_NODE, f"{OLDMEMO}.devicelist"):
                devices = await pep.store.node(IronwallJID.parse(bob), node)  # type: ignore[attr-defined]
                assert alice in devices.subscriptions

"""OX (XEP-0373/0374) between two go-sendxmpp accounts through the Ironwall server's PEP."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterator

import pytest

from support.client import connected

from .conftest import ACCOUNTS
from .gosendxmpp import GoSendxmppFactory, ReceivedMessage
from .ironwall import IronwallServer, start_ironwall
from .procs import PeerError
from .xmpp_server import XmppServer

pytestmark = pytest.mark.interop

WAIT = 20.0
PUBSUB = "http://jabber.org/protocol/pubsub"
OX = "urn:xmpp:openpgp:0"
METADATA_NODE = "urn:xmpp:openpgp:0:public-keys"


@pytest.fixture(scope="module")
def ironwall_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppServer]:
    handle: IronwallServer = start_ironwall(
        tmp_path_factory.mktemp("ironwall-ox"),
        {name: secrets.token_urlsafe(12) for name in ACCOUNTS},
    )
    try:
        yield handle.server
    finally:
        handle.stop()


async def test_ox_message_between_go_sendxmpp_accounts(
    ironwall_server: XmppServer, go_sendxmpp: GoSendxmppFactory
) -> None:
    server = ironwall_server
    alice = go_sendxmpp(server, "alice")
    bob = go_sendxmpp(server, "bob")
    alice_fpr = await asyncio.to_thread(alice.ox_generate_key)
    bob_fpr = await asyncio.to_thread(bob.ox_generate_key, "correct horse battery staple")
    assert alice_fpr != bob_fpr

    # What go-sendxmpp published is in Ironwall's PEP, readable by a stranger (access model open).
    async with connected(
        server.jid("carol"), server.users["carol"], server.port, ca_pem=server.ca_pem_path
    ) as carol:
        metadata = await carol.raw_iq(
            f"<iq type='get' to='{server.jid('alice')}'><pubsub xmlns='{PUBSUB}'>"
            f"<items node='{METADATA_NODE}' max_items='1'/></pubsub></iq>"
        )
        assert metadata["type"] == "result", metadata
        listed = [m.get("v4-fingerprint") for m in metadata.xml.iter(f"{{{OX}}}pubkey-metadata")]
        assert listed == [alice_fpr]
        key = await carol.raw_iq(
            f"<iq type='get' to='{server.jid('alice')}'><pubsub xmlns='{PUBSUB}'>"
            f"<items node='{METADATA_NODE}:{alice_fpr}'/></pubsub></iq>"
        )
        data = key.xml.find(f".//{{{OX}}}pubkey/{{{OX}}}data")
        assert data is not None
        assert len(data.text or "") > 100

    listener = await asyncio.to_thread(bob.start_listening, ox=True)
    text = f"hello bob, encrypted through ironwall {secrets.token_hex(4)}"
    await asyncio.to_thread(alice.send, server.jid("bob"), text, ox=True)
    got = await asyncio.to_thread(listener.wait_for, text, WAIT)
    assert got == ReceivedMessage(stamp=got.stamp, sender=server.jid("alice"), body=text, ox=True)
    wire = listener.received_xml()
    assert re.search(r"<openpgp xmlns=['\"]urn:xmpp:openpgp:0['\"]>[A-Za-z0-9+/=]+</openpgp>", wire)
    assert text not in wire
    assert listener.errors() == []


def test_ox_send_to_account_without_key_fails(
    ironwall_server: XmppServer, go_sendxmpp: GoSendxmppFactory
) -> None:
    alice = go_sendxmpp(ironwall_server, "alice")
    alice.ox_generate_key()
    # carol never publishes a key: Ironwall answers item-not-found, go-sendxmpp must give up.
    with pytest.raises(PeerError, match="error fetching key for carol@"):
        alice.send(ironwall_server.jid("carol"), "nobody can read this", ox=True)

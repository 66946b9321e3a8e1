"""A hostile server, played by hooks in a real test server: every attack is detected.

The server swaps Bob's public key, replays a stored message, strips the encryption,
alters the ciphertext, and forwards Alice's message to Carol. Each time the receiving
client warns, and never shows the text as trusted.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement

import pytest

from ironwall.client import Account, ClientSession, ox
from ironwall.client.errors import SendingBlocked
from ironwall.client.events import Message, MessageStatus
from ironwall.client.xmpp import ServerAddress
from ironwall.e2e import Identity, TrustState, seal_message
from ironwall.proto.stanza import iq_result, readdress
from ironwall.server.app import Server
from ironwall.server.events import iq, message_to
from ironwall.server.router import StanzaEvent
from support.server import running_server, server_port
from support.sessions import next_message
from support.tls import test_pki

PASSPHRASE = "orbit lantern quietly seventeen marble"
OX = "urn:xmpp:openpgp:0"
PUBSUB = "http://jabber.org/protocol/pubsub"


@dataclass
class World:
    server: Server
    accounts: dict[str, Account]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_server(tmp_path / "server") as server:
        address = ServerAddress("127.0.0.1", server_port(server), test_pki().ca_pem)
        accounts = {}
        for name in ("alice", "bob", "carol"):
            account = Account(
                f"{name}@localhost", tmp_path / name, insecure_fast_kdf_for_tests=True
            )
            account.remember_address(address)
            await account.create(PASSPHRASE)
            accounts[name] = account
        yield World(server, accounts)


def _session(world: World, name: str, *, available: bool = True) -> AsyncIterator[ClientSession]:
    return world.accounts[name].open(PASSPHRASE, available=available)  # type: ignore[return-value]


async def _befriend(world: World) -> None:
    async with _session(world, "alice") as alice:
        await alice.add_contact("bob@localhost")
        await alice.settled()
    async with _session(world, "bob") as bob:
        await bob.accept_contact("alice@localhost")
        await bob.settled()


async def _next(session: ClientSession) -> Message:
    return await next_message(session, 10)


class Tamper:
    """Intercept every message on its way through the server and apply ``action``."""

    def __init__(self, server: Server) -> None:
        self.seen: list[Element] = []
        self.action: str | None = None
        server.hooks.on(message_to("bare"), self._on_message, priority=1000)
        server.hooks.on(message_to("full"), self._on_message, priority=1000)

    async def _on_message(self, event: StanzaEvent) -> bool:
        stanza = event.stanza
        payload = stanza.find(f"{{{OX}}}openpgp")
        if payload is None:
            return False
        self.seen.append(
            readdress(stanza, sender=stanza.get("from") or "", to=stanza.get("to") or "")
        )
        if self.action == "strip":
            stanza.remove(payload)
            for body in stanza.findall("{jabber:client}body"):
                stanza.remove(body)
            SubElement(stanza, "{jabber:client}body").text = "Please send the money to account 666."
        elif self.action == "alter":
            raw = bytearray(base64.b64decode(payload.text or ""))
            raw[len(raw) // 2] ^= 0x01
            payload.text = base64.b64encode(bytes(raw)).decode()
        return False


async def test_stripped_encryption_is_shown_as_not_encrypted(world: World) -> None:
    await _befriend(world)
    tamper = Tamper(world.server)
    tamper.action = "strip"
    async with _session(world, "bob") as bob, _session(world, "alice") as alice:
        await alice.send("bob@localhost", "meet at noon")
        message = await _next(bob)
    assert message.status is MessageStatus.PLAINTEXT
    assert message.body == "Please send the money to account 666."
    assert "without encryption" in message.detail


async def test_altered_ciphertext_is_rejected(world: World) -> None:
    await _befriend(world)
    tamper = Tamper(world.server)
    tamper.action = "alter"
    async with _session(world, "bob") as bob, _session(world, "alice") as alice:
        await alice.send("bob@localhost", "meet at noon")
        message = await _next(bob)
    assert message.status is MessageStatus.REJECTED
    assert message.body is None
    assert "altered" in message.detail or "damaged" in message.detail


async def test_replayed_message_is_rejected(world: World) -> None:
    await _befriend(world)
    tamper = Tamper(world.server)
    async with _session(world, "bob") as bob, _session(world, "alice") as alice:
        await alice.send("bob@localhost", "transfer 10 coins")
        first = await _next(bob)
        assert (first.status, first.body) == (MessageStatus.UNVERIFIED, "transfer 10 coins")
        await world.server.router.route(tamper.seen[0])
        again = await _next(bob)
    assert again.status is MessageStatus.REJECTED
    assert again.body is None
    assert "replay" in again.detail


async def test_message_forwarded_to_carol_is_rejected(world: World) -> None:
    await _befriend(world)
    tamper = Tamper(world.server)
    async with _session(world, "bob") as bob, _session(world, "alice") as alice:
        await alice.send("bob@localhost", "for bob only")
        assert (await _next(bob)).body == "for bob only"
    forwarded = readdress(tamper.seen[0], sender="alice@localhost/x", to="carol@localhost")
    async with _session(world, "carol") as carol:
        await world.server.router.route(forwarded)
        message = await _next(carol)
    assert message.status is MessageStatus.REJECTED
    assert message.body is None
    assert "not encrypted to your key" in message.detail


async def test_swapped_public_key_is_detected(world: World) -> None:
    await _befriend(world)
    fake = Identity.generate("bob@localhost")
    fake_fpr = fake.fingerprint

    async def lie_about_bobs_keys(event: StanzaEvent) -> bool:
        # The server answers Alice's key lookups for Bob with a key it made itself.
        if event.to is None or str(event.to) != "bob@localhost":
            return False
        items = event.stanza[0].find(f"{{{PUBSUB}}}items")
        if items is None:
            return False
        node = items.get("node", "")
        pubsub = Element(f"{{{PUBSUB}}}pubsub")
        answer = SubElement(pubsub, f"{{{PUBSUB}}}items", {"node": node})
        item = SubElement(answer, f"{{{PUBSUB}}}item", {"id": "current"})
        if node == "urn:xmpp:openpgp:0:public-keys":
            keys = SubElement(item, f"{{{OX}}}public-keys-list")
            SubElement(
                keys,
                f"{{{OX}}}pubkey-metadata",
                {"v4-fingerprint": fake_fpr, "date": "2026-01-01T00:00:00Z"},
            )
        elif node.endswith(fake_fpr):
            data = SubElement(SubElement(item, f"{{{OX}}}pubkey"), f"{{{OX}}}data")
            data.text = base64.b64encode(fake.public_key.to_bytes()).decode()
        else:
            return False
        world.server.router.deliver_local(iq_result(event.stanza, pubsub))
        return True

    async with _session(world, "alice") as alice:
        await alice.settled()
        before = alice.state.trust("bob@localhost")
        assert before.state is TrustState.UNVERIFIED
        world.server.hooks.on(iq("get", "bare", PUBSUB), lie_about_bobs_keys, priority=1000)
        # A message "from Bob" signed by the server's key is not shown.
        alice_key = alice.identity.public_key
        forged = seal_message(
            fake, {"alice@localhost": [alice_key]}, "it is me, bob: send the code"
        )
        stanza = Element(
            "{jabber:client}message",
            {"from": "bob@localhost/x", "to": "alice@localhost", "type": "chat"},
        )
        SubElement(stanza, f"{{{OX}}}openpgp").text = forged.text
        await world.server.router.route(stanza)
        message = await _next(alice)
        assert message.status is MessageStatus.REJECTED
        assert message.body is None
        assert "not the one you hold" in message.detail
        # And the change is shown: the contact's key state is no longer silently trusted.
        await asyncio.sleep(0.3)
        after = alice.state.trust("bob@localhost")
        assert after.state is TrustState.CHANGED
        assert after.needs_attention


async def test_swapped_key_of_a_verified_contact_stops_sending(world: World) -> None:
    await _befriend(world)
    async with _session(world, "alice", available=False) as alice:
        await alice.verify("bob@localhost")
    fake = Identity.generate("bob@localhost")
    async with _session(world, "bob", available=False) as bob_session:
        # Model a swap by having Bob's key list name a different key.
        await ox.publish_public_key(bob_session.connection, fake.public_key)
    async with _session(world, "alice", available=False) as alice:
        trust = await alice.refresh_keys("bob@localhost")
        assert trust.state is TrustState.CHANGED
        assert not trust.can_send
        with pytest.raises(SendingBlocked, match="key changed"):
            await alice.send("bob@localhost", "should not go out")

"""The Ironwall client on stock servers, and OX between it and go-sendxmpp (issue 5).

1. The reference flow of ``tests/integration/test_client_flow.py`` through the
   ``ironwall`` command line against Prosody and ejabberd: accounts made by the
   server's own tools (so ``account create --existing``), contacts, a message to
   offline Bob, a server restart, Bob on an empty device; then the server's files
   are searched for the plaintext.
2. XEP-0373/0374 both ways between the client library and ``go-sendxmpp --ox``,
   through the Ironwall server (and through Prosody and ejabberd as well). Neither
   side has the other in its roster: both find keys in PEP (access model ``open``).
3. On the same three servers: the sealed secret key's node really is owner-only
   (``whitelist``, refused even to a subscribed contact), and a contact without a
   key gets nothing until plaintext is allowed for it (Prosody answers ``forbidden``
   where the others say ``item-not-found``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

import pytest

from ironwall.client import Account, ClientSession, ox
from ironwall.client.errors import ContactHasNoKey
from ironwall.client.events import MessageReceived, MessageStatus
from ironwall.client.sending import FALLBACK_BODY
from ironwall.client.xmpp import IqFailed, ServerAddress
from ironwall.e2e import TrustState
from support.cli import CLIUser
from support.sessions import next_message, stream

from .ejabberd import start_ejabberd
from .gosendxmpp import GoSendxmppFactory, ReceivedMessage
from .ironwall import start_ironwall
from .peers import require_peer
from .prosody import start_prosody
from .xmpp_server import ServerHandle, XmppServer

pytestmark = pytest.mark.interop

SECRET = "The eagle lands at midnight; bring the blue folder."
ALICE_PASSPHRASE = "orbit lantern quietly seventeen marble"
BOB_PASSPHRASE = "velvet harbor copper ninety thistle"
WAIT = 20.0
PUBSUB = "http://jabber.org/protocol/pubsub"
PUBSUB_OWNER = "http://jabber.org/protocol/pubsub#owner"
DATA_FORMS = "jabber:x:data"


class RestartableServer(ServerHandle, Protocol):
    """A started server that can also be cycled on the same port and data."""

    def restart(self) -> None:
        """Stop the server and start it again."""
        ...


STOCK_SERVERS: dict[str, Callable[[Path, Mapping[str, str]], RestartableServer]] = {
    "prosody": start_prosody,
    "ejabberd": start_ejabberd,
}


def _ok(result: object) -> str:
    assert getattr(result, "returncode", None) == 0, f"{result}"
    return str(getattr(result, "stdout", ""))


def _secret_file(path: Path, text: str) -> Path:
    path.write_text(text + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def _files_as_bytes(directory: Path) -> bytes:
    """Every file under ``directory``, raw, followed by whatever long base64 runs decode to."""
    raw = b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())
    decoded = []
    for match in re.finditer(rb"[A-Za-z0-9+/]{40,}={0,2}", raw):
        run = match.group(0)
        # A run may be glued to neighbouring text: drop up to 3 characters until it decodes.
        for trim in range(4):
            try:
                decoded.append(base64.b64decode(run[: len(run) - trim], validate=False))
                break
            except (binascii.Error, ValueError):
                continue
    return b"\n".join([raw, *decoded])


# --------------------------------------------------- 1. the CLI flow on stock servers


@pytest.mark.parametrize("kind", list(STOCK_SERVERS))
def test_cli_flow_to_offline_bob_through_a_restart_on_stock_server(
    kind: str, tmp_path: Path
) -> None:
    require_peer(kind)
    passwords = {name: secrets.token_urlsafe(12) for name in ("alice", "bob")}
    server_dir = tmp_path / kind
    handle = STOCK_SERVERS[kind](server_dir, passwords)
    server = handle.server
    common = ["--server", server.address, "--ca", str(server.ca_pem_path)]
    password_files = {
        name: _secret_file(tmp_path / f"{name}.password", password)
        for name, password in passwords.items()
    }
    alice_jid, bob_jid = server.jid("alice"), server.jid("bob")
    alice = CLIUser(alice_jid, tmp_path / "alice-laptop", ALICE_PASSPHRASE)
    bob = CLIUser(bob_jid, tmp_path / "bob-phone", BOB_PASSPHRASE)
    try:
        for user, name in ((alice, "alice"), (bob, "bob")):
            created = _ok(
                user.run(
                    "account",
                    "create",
                    user.jid,
                    "--existing",
                    "--password-file",
                    str(password_files[name]),
                    *common,
                )
            )
            assert f"Account {user.jid} is ready." in created
        added = _ok(alice.run("contacts", "add", bob_jid))
        assert added.strip() == f"Asked {bob_jid} to be a contact; their key: unverified."
        accepted = _ok(bob.run("contacts", "accept", alice_jid))
        assert accepted.strip() == f"{alice_jid} is a contact; their key: unverified."
        # No Bob client runs now: the server keeps the message in its offline store.
        assert _ok(alice.run("send", bob_jid, SECRET)).strip() == f"Sent to {bob_jid}."
        handle.restart()
        # The stored message is on disk, where the search below looks: the fallback body
        # is there in clear, the text is not.
        stored = _files_as_bytes(server_dir)
        assert FALLBACK_BODY.encode() in stored
        assert SECRET.encode() not in stored

        new_device = CLIUser(bob_jid, tmp_path / "bob-new-laptop", BOB_PASSPHRASE)
        login = _ok(
            new_device.run(
                "account", "login", bob_jid, "--password-file", str(password_files["bob"]), *common
            )
        )
        assert f"Logged in as {bob_jid}; key " in login
        heard = _ok(new_device.run("listen", "--count", "1", "--timeout", "30"))
        lines = heard.splitlines()
        assert len(lines) == 1, heard
        assert lines[0].endswith(f" {alice_jid} [unverified] {SECRET}"), heard
        assert f"[unverified] {SECRET}" in _ok(new_device.run("history", alice_jid))
    finally:
        handle.stop()

    # The server's whole working directory: its database, offline store, logs and output.
    contents = _files_as_bytes(server_dir)
    assert len(contents) > 10_000
    for secret in (SECRET, ALICE_PASSPHRASE, BOB_PASSPHRASE):
        assert secret.encode() not in contents
        assert secret.encode("utf-16-le") not in contents


# ------------------------------------------- 2. OX with go-sendxmpp, library-level client

OX_SERVERS: dict[str, Callable[[Path, Mapping[str, str]], ServerHandle]] = {
    "ironwall": start_ironwall,
    **STOCK_SERVERS,
}
IRONWALL_PASSPHRASE = "granite meadow whistle fourteen lagoon"
NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")


@pytest.fixture(scope="module", params=list(OX_SERVERS))
def ox_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[XmppServer]:
    """A server of each kind: alice, bob for go-sendxmpp; carol to grace for Ironwall; heidi
    never has a key."""
    kind: str = request.param
    if kind != "ironwall":
        require_peer(kind)
    require_peer("go-sendxmpp")
    users = {name: secrets.token_urlsafe(12) for name in NAMES}
    handle = OX_SERVERS[kind](tmp_path_factory.mktemp(f"ox-{kind}"), users)
    try:
        yield handle.server
    finally:
        handle.stop()


@contextlib.asynccontextmanager
async def _ironwall_session(
    server: XmppServer, user: str, home: Path, *, available: bool
) -> AsyncIterator[ClientSession]:
    account = Account(server.jid(user), home, insecure_fast_kdf_for_tests=True)
    account.remember_address(ServerAddress(server.host, server.port, server.ca_pem_path))
    await account.create(IRONWALL_PASSPHRASE, existing_password=server.users[user])
    async with account.open(IRONWALL_PASSPHRASE, available=available) as session:
        yield session


async def test_go_sendxmpp_ox_to_ironwall_client(
    ox_server: XmppServer, go_sendxmpp: GoSendxmppFactory, tmp_path: Path
) -> None:
    server = ox_server
    alice = go_sendxmpp(server, "alice")
    alice_fpr = await asyncio.to_thread(alice.ox_generate_key)
    text = f"hello carol from go-sendxmpp ✓ {secrets.token_hex(4)}"
    async with _ironwall_session(server, "carol", tmp_path / "carol", available=True) as carol:
        # go-sendxmpp blocks: run it in a thread so that the client keeps reading.
        await asyncio.to_thread(alice.send, server.jid("carol"), text, ox=True)
        got = await next_message(carol, WAIT)
        assert (got.peer, got.body, got.status, got.detail) == (
            server.jid("alice"),
            text,
            MessageStatus.UNVERIFIED,
            "",
        )
        assert all(passed for _name, passed in got.checks)
        await carol.settled()
        while (later := await stream(carol).next(0.1)) is not None:
            assert not isinstance(later, MessageReceived), later
        assert _roster(carol) == []
        trust = carol.state.trust(server.jid("alice"))
        assert trust.state is TrustState.UNVERIFIED
        assert trust.pinned == {alice_fpr}
        [entry] = carol.history(server.jid("alice"), limit=10)
        assert (entry.direction.value, entry.body, entry.status.value) == ("in", text, "unverified")


async def test_ironwall_client_ox_to_go_sendxmpp(
    ox_server: XmppServer, go_sendxmpp: GoSendxmppFactory, tmp_path: Path
) -> None:
    server = ox_server
    bob = go_sendxmpp(server, "bob")
    bob_fpr = await asyncio.to_thread(bob.ox_generate_key)
    listener = await asyncio.to_thread(bob.start_listening, ox=True)
    text = f"hello bob from Ironwall ✓ {secrets.token_hex(4)}"
    async with _ironwall_session(server, "dave", tmp_path / "dave", available=False) as dave:
        await dave.send(server.jid("bob"), text)
        await dave.settled()
        assert _roster(dave) == []
        trust = dave.state.trust(server.jid("bob"))
        assert trust.state is TrustState.UNVERIFIED
        assert trust.pinned == {bob_fpr}
    got = await asyncio.to_thread(listener.wait_for, text, WAIT)
    assert got == ReceivedMessage(stamp=got.stamp, sender=server.jid("dave"), body=text, ox=True)
    assert text not in listener.received_xml()
    assert listener.errors() == []


def _roster(session: ClientSession) -> list[str]:
    """The JIDs in the session's server-side roster, but its own."""
    return [str(jid) for jid in session.connection.client_roster if str(jid) != session.jid]


async def _until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` every 50 ms for up to ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_sealed_key_node_is_owner_only_even_for_contacts(
    ox_server: XmppServer, tmp_path: Path
) -> None:
    server = ox_server
    erin_jid, frank_jid = server.jid("erin"), server.jid("frank")
    async with _ironwall_session(server, "erin", tmp_path / "erin", available=True) as erin:
        # Frank has no key yet (Prosody answers "forbidden" for his missing key node).
        assert (await erin.add_contact(frank_jid)).state is TrustState.NONE
        async with _ironwall_session(server, "frank", tmp_path / "frank", available=True) as frank:
            await frank.accept_contact(erin_jid)
            # Frank sees Erin's presence: the "presence" and "roster" access models would let him in.
            assert await _until(
                lambda: frank.contact(erin_jid).subscription in ("to", "both"),
                WAIT,
            ), frank.contact(erin_jid)
            erin_conn, frank_conn = erin.connection, frank.connection
            assert erin_conn is not None
            assert frank_conn is not None
            assert erin.identity is not None
            configure = await erin_conn.request(
                f"<iq type='get'><pubsub xmlns='{PUBSUB_OWNER}'>"
                f"<configure node='{ox.SEALED_KEY_NODE}'/></pubsub></iq>"
            )
            [access_model] = [
                field.findtext(f"{{{DATA_FORMS}}}value")
                for field in configure.iter(f"{{{DATA_FORMS}}}field")
                if field.get("var") == "pubsub#access_model"
            ]
            assert access_model == "whitelist"
            with pytest.raises(IqFailed) as refused:
                await frank_conn.request(
                    f"<iq type='get' to='{erin_jid}'><pubsub xmlns='{PUBSUB}'>"
                    f"<items node='{ox.SEALED_KEY_NODE}'/></pubsub></iq>"
                )
            assert refused.value.condition in ("forbidden", "not-allowed", "not-authorized")
            # The owner still reads it, and Frank has pinned Erin's public key.
            assert await ox.fetch_sealed_key(erin_conn) is not None
            assert frank.state.trust(erin_jid).pinned == {erin.identity.fingerprint}


async def test_contact_without_a_key_gets_nothing_unless_plaintext_is_allowed(
    ox_server: XmppServer, tmp_path: Path
) -> None:
    server = ox_server
    heidi_jid = server.jid("heidi")
    async with _ironwall_session(server, "grace", tmp_path / "grace", available=False) as grace:
        assert (await grace.add_contact(heidi_jid)).state is TrustState.NONE
        with pytest.raises(ContactHasNoKey, match="has no encryption key, so nothing was sent"):
            await grace.send(heidi_jid, "not for the server's eyes")
        grace.allow_plaintext(heidi_jid, True)
        await grace.send(heidi_jid, "hello heidi, in the clear as you asked")
        await grace.settled()
        [entry] = grace.history(heidi_jid, limit=10)
        assert (entry.direction.value, entry.status.value) == ("out", "plaintext")

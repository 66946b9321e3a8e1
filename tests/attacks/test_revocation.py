"""A compromised account is really shut out: revocation (``urn:ironwall:account:0``).

The attacker holds the password and sessions of their own, opened before the owner
revokes: a live one, one parked for XEP-0198 resumption, one that logged in and has not
bound yet. After the revocation none of them can act, no login succeeds, and contacts
still get the key that was published before it, also after a restart.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ironwall.proto.jid import JID
from ironwall.server.app import Server
from support.account_iq import (
    ACCOUNT,
    CLIENT,
    KEY_NODE,
    OWNER,
    PUBSUB,
    REGISTER,
    Token,
    answer,
    ask,
    change_password,
    fetch_key,
    new_id,
    publish_key,
    query_verifier,
    register_verifier,
    revoke,
    sasl_failure_text,
    stanza_error,
    stanza_id_of,
)
from support.raw import RawClient, StreamError, xml_text
from support.server import running_server, server_port
from support.users import PASSWORD, add_users

SM = "urn:xmpp:sm:3"
REVOKED = StreamError("not-authorized", "this account was revoked by its owner")
KEY = "QkVGT1JFIFRIRSBSRVZPQ0FUSU9O"


async def _parked(server: Server, account: JID) -> None:
    """Wait until the server noticed a dropped connection: a session of the account is
    parked, bound with no connection."""
    async with asyncio.timeout(5):
        while True:
            live = [c for c in server.connections if c.session and c.login_account == account]
            if len(server.router.resources(account)) > len(live):
                return
            await asyncio.sleep(0.01)


async def _revoked_with_a_token(port: int, owner: RawClient) -> None:
    token = Token.new()
    assert (await ask(owner, register_verifier(token.verifier))).get("type") == "result"
    reply = await ask(owner, revoke(token.token))
    assert reply.get("type") == "result", xml_text(reply)


async def test_revocation_closes_every_session_and_no_login_succeeds_again(
    server: Server,
) -> None:
    (alice,) = await add_users(server, "alice")
    port = server_port(server)
    owner = await RawClient.logged_in(port, "alice", PASSWORD, "owner")
    attacker = await RawClient.logged_in(port, "alice", PASSWORD, "attacker")
    # A session the attacker parked for resumption: the connection drops, the session waits.
    parked = await RawClient.logged_in(port, "alice", PASSWORD, "parked")
    await parked.send(f"<enable xmlns='{SM}' resume='true'/>".encode())
    previd = (await parked.next_element()).get("id")
    await parked.close()
    # And one that has logged in but not bound a resource yet.
    unbound = await RawClient.connect(port)
    await unbound.starttls()
    await unbound.open_stream()
    assert await unbound.authenticate("alice", PASSWORD) == "success"
    await _parked(server, JID.parse(alice))

    await _revoked_with_a_token(port, owner)
    revoked_at = time.monotonic()
    # The requesting session gets its result first, then the stream error.
    await owner.wait_closed()
    assert owner.stream_error == REVOKED
    await attacker.wait_closed(timeout=1.0)
    assert time.monotonic() - revoked_at < 1.0
    assert attacker.stream_error == REVOKED
    await unbound.wait_closed(timeout=1.0)
    assert unbound.stream_error == REVOKED
    assert server.router.resources(JID.parse(alice)) == []

    # Every login fails with account-disabled, once the password is proven.
    again = await RawClient.connect(port)
    await again.starttls()
    await again.open_stream()
    assert await again.authenticate("alice", PASSWORD) == "account-disabled"
    text = sasl_failure_text(again)
    assert text is not None
    assert "revoked" in text
    # A wrong password is told nothing more than it would be of any account.
    assert await again.authenticate("alice", "a wrong password") == "not-authorized"
    await again.close()

    # The parked session is gone: there is nothing left to resume, with any login.
    assert server.resumption.take(previd or "", JID.parse(alice)) is None


async def test_a_login_from_before_the_revocation_cannot_resume_after_it(
    server: Server,
) -> None:
    (alice,) = await add_users(server, "alice")
    port = server_port(server)
    parked = await RawClient.logged_in(port, "alice", PASSWORD, "phone")
    await parked.send(f"<enable xmlns='{SM}' resume='true'/>".encode())
    previd = (await parked.next_element()).get("id") or ""
    await parked.close()
    await _parked(server, JID.parse(alice))
    # The attacker logs in before the revocation, to resume the parked session after it.
    resumer = await RawClient.connect(port)
    await resumer.starttls()
    await resumer.open_stream()
    assert await resumer.authenticate("alice", PASSWORD) == "success"

    owner = await RawClient.logged_in(port, "alice", PASSWORD, "owner")
    await _revoked_with_a_token(port, owner)
    await resumer.wait_closed(timeout=1.0)
    assert resumer.stream_error == REVOKED
    assert server.resumption.take(previd, JID.parse(alice)) is None
    assert server.router.resources(JID.parse(alice)) == []


async def test_what_the_revoking_session_sent_after_the_revoke_is_not_acted_on(
    server: Server,
) -> None:
    (alice,) = await add_users(server, "alice")
    port = server_port(server)
    owner = await RawClient.logged_in(port, "alice", PASSWORD)
    assert (await ask(owner, publish_key(KEY))).get("type") == "result"
    token = Token.new()
    assert (await ask(owner, register_verifier(token.verifier))).get("type") == "result"
    # An attacker in the owner's client pipelines a new key behind the revocation.
    request = revoke(token.token)
    late = publish_key("QVRUQUNLRVIgS0VZ")
    await owner.send((request + late).encode())
    assert (await answer(owner, stanza_id_of(request))).get("type") == "result"
    await owner.wait_closed()
    assert owner.stream_error == REVOKED
    ids = {e.get("id") for e in owner.view.elements}
    assert stanza_id_of(late) not in ids

    async with running_contact(server, "bob") as bob:
        reply = await ask(bob, fetch_key(alice))
        assert KEY in xml_text(reply)
        assert "QVRUQUNLRVIgS0VZ" not in xml_text(reply)


def running_contact(server: Server, name: str) -> _Contact:
    return _Contact(server, name)


class _Contact:
    """A logged-in raw client of another account, closed when the block ends."""

    def __init__(self, server: Server, name: str) -> None:
        self._server = server
        self._name = name
        self._client: RawClient | None = None

    async def __aenter__(self) -> RawClient:
        if not await self._server.accounts.exists(JID.parse(f"{self._name}@localhost")):
            await add_users(self._server, self._name)
        self._client = await RawClient.logged_in(server_port(self._server), self._name, PASSWORD)
        return self._client

    async def __aexit__(self, *_exc: object) -> None:
        assert self._client is not None
        await self._client.close()


@pytest.mark.parametrize(
    ("what", "request_xml"),
    [
        ("publish", publish_key("QVRUQUNLRVIgS0VZ")),
        (
            "retract",
            f"<iq type='set' id='r1'><pubsub xmlns='{PUBSUB}'><retract node='{KEY_NODE}'>"
            "<item id='2024-01-01T00:00:00Z'/></retract></pubsub></iq>",
        ),
        (
            "delete",
            f"<iq type='set' id='d1'><pubsub xmlns='{OWNER}'><delete node='{KEY_NODE}'/>"
            "</pubsub></iq>",
        ),
        (
            "configure",
            f"<iq type='set' id='c1'><pubsub xmlns='{OWNER}'><configure node='{KEY_NODE}'>"
            "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
            f"<value>{PUBSUB}#node_config</value></field><field var='pubsub#access_model'>"
            "<value>whitelist</value></field></x></configure></pubsub></iq>",
        ),
        ("password change", change_password("alice", "the attacker's password")),
        (
            "account removal",
            f"<iq type='set' id='x1'><query xmlns='{REGISTER}'><remove/></query></iq>",
        ),
    ],
)
async def test_a_session_racing_the_revocation_changes_nothing(
    server: Server, what: str, request_xml: str
) -> None:
    (alice,) = await add_users(server, "alice")
    racer = await RawClient.logged_in(server_port(server), "alice", PASSWORD)
    assert (await ask(racer, publish_key(KEY))).get("type") == "result"
    # The revocation is committed while this session's request is on its way: the session
    # has not been closed yet when the request is handled.
    await server.accounts.revoke(JID.parse(alice))
    reply = await ask(racer, request_xml)
    condition, text = stanza_error(reply)
    assert condition == "forbidden", what
    assert text is not None
    assert "revoked" in text
    await racer.close()
    assert await server.accounts.exists(JID.parse(alice))
    assert await server.accounts.check_password(JID.parse(alice), PASSWORD)
    async with running_contact(server, "bob") as bob:
        reply = await ask(bob, fetch_key(alice))
        assert KEY in xml_text(reply), what


async def test_contacts_still_get_the_revoked_key_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "server"
    async with running_server(data) as server:
        (alice,) = await add_users(server, "alice")
        owner = await RawClient.logged_in(server_port(server), "alice", PASSWORD)
        assert (await ask(owner, publish_key(KEY))).get("type") == "result"
        await _revoked_with_a_token(server_port(server), owner)
        await owner.wait_closed()
    async with running_server(data) as server:
        async with running_contact(server, "bob") as bob:
            reply = await ask(bob, fetch_key(alice))
            assert reply.get("type") == "result", xml_text(reply)
            item = reply.find(f"{{{PUBSUB}}}pubsub/{{{PUBSUB}}}items/{{{PUBSUB}}}item")
            assert item is not None, xml_text(reply)
            assert KEY in xml_text(item)
        login = await RawClient.connect(server_port(server))
        await login.starttls()
        await login.open_stream()
        assert await login.authenticate("alice", PASSWORD) == "account-disabled"
        await login.close()


async def test_verifier_is_set_once_and_a_wrong_token_changes_nothing(server: Server) -> None:
    (alice,) = await add_users(server, "alice")
    client = await RawClient.logged_in(server_port(server), "alice", PASSWORD)
    first, second = Token.new(), Token.new()

    def verifier_state(reply: object) -> str | None:
        assert reply is not None
        element = reply.find(f"{{{ACCOUNT}}}revocation")  # type: ignore[attr-defined]
        assert element is not None
        return element.get("verifier")  # type: ignore[no-any-return]

    assert verifier_state(await ask(client, query_verifier())) == "false"
    assert (await ask(client, register_verifier(first.verifier))).get("type") == "result"
    assert verifier_state(await ask(client, query_verifier())) == "true"
    # The same verifier again is fine; another one is a conflict.
    assert (await ask(client, register_verifier(first.verifier))).get("type") == "result"
    condition, text = stanza_error(await ask(client, register_verifier(second.verifier)))
    assert condition == "conflict"
    assert text is not None
    assert "cannot be replaced" in text
    for bad in ("not base64!", "c2hvcnQ=", ""):
        assert stanza_error(await ask(client, register_verifier(bad)))[0] == "bad-request"
        assert stanza_error(await ask(client, revoke(bad)))[0] == "bad-request"

    condition, text = stanza_error(await ask(client, revoke(second.token)))
    assert condition == "not-authorized"
    assert text is not None
    assert "does not match" in text
    assert not await server.accounts.is_revoked(JID.parse(alice))
    # The session is still served.
    ping = f"<iq type='get' id='{new_id()}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
    assert (await ask(client, ping)).get("type") == "result"
    await client.close()


async def test_wrong_tokens_count_as_failed_logins(tmp_path: Path) -> None:
    limits = {"max_failed_logins_per_account_address": 2}
    async with running_server(tmp_path / "server", limits=limits) as server:
        await add_users(server, "alice")
        client = await RawClient.logged_in(server_port(server), "alice", PASSWORD)
        token, wrong = Token.new(), Token.new()
        assert (await ask(client, register_verifier(token.verifier))).get("type") == "result"
        for _ in range(2):
            assert stanza_error(await ask(client, revoke(wrong.token)))[0] == "not-authorized"
        condition, text = stanza_error(await ask(client, revoke(token.token)))
        assert condition == "policy-violation"
        assert text is not None
        assert "try again in" in text
        await client.close()


async def test_without_a_verifier_any_session_of_the_account_may_revoke(server: Server) -> None:
    (alice,) = await add_users(server, "alice")
    client = await RawClient.logged_in(server_port(server), "alice", PASSWORD)
    assert (await ask(client, revoke(Token.new().token))).get("type") == "result"
    await client.wait_closed()
    assert client.stream_error == REVOKED
    assert await server.accounts.is_revoked(JID.parse(alice))


async def test_the_feature_is_in_the_servers_disco(server: Server) -> None:
    await add_users(server, "alice")
    client = await RawClient.logged_in(server_port(server), "alice", PASSWORD)
    reply = await ask(
        client,
        f"<iq type='get' id='{new_id()}' to='localhost'>"
        "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    )
    features = {f.get("var") for f in reply.iter("{http://jabber.org/protocol/disco#info}feature")}
    assert ACCOUNT in features
    assert reply.tag == f"{{{CLIENT}}}iq"
    await client.close()

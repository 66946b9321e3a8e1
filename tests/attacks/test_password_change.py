"""XEP-0077 password changes: a session taken over long after its login cannot set a
password of its own, and a change shuts every other session out."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from ironwall.proto.jid import JID
from ironwall.server.app import Server
from support.account_iq import (
    DATA,
    REGISTER,
    ask,
    change_password,
    change_password_form,
    stanza_error,
)
from support.raw import RawClient, StreamError, xml_text
from support.server import running_server, server_port
from support.users import PASSWORD, add_users

SM = "urn:xmpp:sm:3"
NEW = "a brand new password"
RESET = StreamError("reset", "the account's password was changed")


@contextlib.asynccontextmanager
async def stale_sessions(tmp_path: Path) -> AsyncIterator[Server]:
    """A server on which every session is "long" logged in: the old password is needed."""
    async with running_server(tmp_path / "server", limits={"password_change_window": 0}) as server:
        await add_users(server, "alice")
        yield server


async def _logs_in(server: Server, password: str) -> str:
    client = await RawClient.connect(server_port(server))
    await client.starttls()
    await client.open_stream()
    outcome = await client.authenticate("alice", password)
    await client.close()
    return outcome


async def test_a_stale_session_cannot_change_the_password(tmp_path: Path) -> None:
    async with stale_sessions(tmp_path) as server:
        attacker = await RawClient.logged_in(server_port(server), "alice", PASSWORD)
        reply = await ask(attacker, change_password("alice", "the attacker's password"))
        condition, text = stanza_error(reply)
        assert condition == "not-authorized"
        assert text is not None
        assert "old password" in text
        # XEP-0077 §3.3: the error carries the form that would be accepted.
        form = reply.find(f"{{{REGISTER}}}query/{{{DATA}}}x")
        assert form is not None, xml_text(reply)
        fields = {f.get("var") for f in form.iter(f"{{{DATA}}}field")}
        assert fields == {"FORM_TYPE", "username", "old_password", "password"}
        assert form.findtext(f"{{{DATA}}}field[@var='FORM_TYPE']/{{{DATA}}}value") == (
            "jabber:iq:register:changepassword"
        )
        assert await _logs_in(server, PASSWORD) == "success"
        assert await _logs_in(server, "the attacker's password") == "not-authorized"
        await attacker.close()


async def test_with_the_old_password_in_the_form_the_change_works(tmp_path: Path) -> None:
    async with stale_sessions(tmp_path) as server:
        client = await RawClient.logged_in(server_port(server), "alice", PASSWORD)
        wrong = await ask(client, change_password_form("alice", "not the password", NEW))
        assert stanza_error(wrong) == ("not-authorized", "the old password is wrong")
        assert await _logs_in(server, PASSWORD) == "success"
        reply = await ask(client, change_password_form("alice@localhost", PASSWORD, NEW))
        assert reply.get("type") == "result", xml_text(reply)
        assert await _logs_in(server, NEW) == "success"
        assert await _logs_in(server, PASSWORD) == "not-authorized"
        # The requesting session stays.
        again = await ask(client, change_password_form("alice", NEW, PASSWORD))
        assert again.get("type") == "result", xml_text(again)
        await client.close()


async def test_wrong_old_passwords_are_limited_like_logins(tmp_path: Path) -> None:
    limits = {"password_change_window": 0, "max_failed_logins_per_account_address": 2}
    async with running_server(tmp_path / "server", limits=limits) as server:
        await add_users(server, "alice")
        client = await RawClient.logged_in(server_port(server), "alice", PASSWORD)
        for guess in ("guess one", "guess two"):
            reply = await ask(client, change_password_form("alice", guess, NEW))
            assert stanza_error(reply)[0] == "not-authorized"
        condition, text = stanza_error(
            await ask(client, change_password_form("alice", PASSWORD, NEW))
        )
        assert condition == "policy-violation"
        assert text is not None
        assert text.startswith("too many failed logins to this account from your address")
        assert await server.accounts.check_password(JID.parse("alice@localhost"), PASSWORD)
        await client.close()


async def test_a_fresh_session_may_change_the_password_without_the_old_one(
    server: Server,
) -> None:
    await add_users(server, "alice")
    client = await RawClient.logged_in(server_port(server), "alice", PASSWORD)
    reply = await ask(client, change_password("alice", NEW))
    assert reply.get("type") == "result", xml_text(reply)
    assert await _logs_in(server, NEW) == "success"
    await client.close()


async def test_a_password_change_closes_every_other_session(server: Server) -> None:
    (alice,) = await add_users(server, "alice")
    port = server_port(server)
    owner = await RawClient.logged_in(port, "alice", PASSWORD, "owner")
    attacker = await RawClient.logged_in(port, "alice", PASSWORD, "attacker")
    parked = await RawClient.logged_in(port, "alice", PASSWORD, "parked")
    await parked.send(f"<enable xmlns='{SM}' resume='true'/>".encode())
    previd = (await parked.next_element()).get("id") or ""
    await parked.close()

    reply = await ask(owner, change_password("alice", NEW))
    assert reply.get("type") == "result", xml_text(reply)
    await attacker.wait_closed(timeout=1.0)
    assert attacker.stream_error == RESET
    assert server.resumption.take(previd, JID.parse(alice)) is None
    sessions = server.router.resources(JID.parse(alice))
    assert [str(s.jid) for s in sessions] == [f"{alice}/owner"]
    # The owner's session carries on.
    ping = "<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
    assert (await ask(owner, ping)).get("type") == "result"
    assert not owner.closed
    await owner.close()

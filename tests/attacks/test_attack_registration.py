"""Mass registration is cut off, and invites open a server to people, once each. Reproduces
the finding: one connection registered 300 accounts in 3.5 s."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from ironwall.server.app import Server
from ironwall.server.invite_tokens import Invites
from support.cli import ironwall
from support.raw import RawClient, xml_text
from support.server import running_server, server_port
from support.stanzas import error_of, next_of
from support.users import PASSWORD

DATA = "jabber:x:data"
INVITE_ONLY = (
    "this server registers accounts only with an invite; ask its administrator for an invite link"
)
URI = re.compile(r"xmpp:(?:(?P<name>[^@?]+)@)?localhost\?register;preauth=(?P<token>[\w-]{44})")


async def unauthenticated(port: int) -> tuple[RawClient, Element]:
    """A connection inside TLS that has not logged in, and its stream features."""
    client = await RawClient.connect(port)
    await client.starttls()
    return client, await client.open_stream()


def registration(name: str, stanza_id: str, *, token: str | None = None) -> bytes:
    token_field = "" if token is None else f"<token>{escape(token)}</token>"
    return (
        f"<iq type='set' id='{stanza_id}' to='localhost'><query xmlns='jabber:iq:register'>"
        f"<username>{name}</username><password>{PASSWORD}</password>{token_field}"
        "</query></iq>"
    ).encode()


def form_registration(name: str, token: str) -> bytes:
    fields = "".join(
        f"<field var='{var}'><value>{escape(value)}</value></field>"
        for var, value in (
            ("FORM_TYPE", "jabber:iq:register"),
            ("username", name),
            ("password", PASSWORD),
            ("token", token),
        )
    )
    return (
        "<iq type='set' id='form' to='localhost'><query xmlns='jabber:iq:register'>"
        f"<x xmlns='{DATA}' type='submit'>{fields}</x></query></iq>"
    ).encode()


async def register(client: RawClient, name: str, *, token: str | None = None) -> Element:
    await client.send(registration(name, f"reg-{name}", token=token))
    return await next_of(client, "iq")


async def present(client: RawClient, token: str) -> Element:
    """XEP-0445: hand the token over before registering."""
    await client.send(
        f"<iq type='set' id='pa1' to='localhost'><preauth xmlns='urn:xmpp:pars:0' "
        f"token='{token}'/></iq>".encode()
    )
    return await next_of(client, "iq")


async def can_log_in(server: Server, name: str) -> bool:
    client = await RawClient.connect(server_port(server))
    await client.starttls()
    await client.open_stream()
    outcome = await client.authenticate(name, PASSWORD)
    await client.close()
    return outcome == "success"


async def test_a_burst_of_300_registrations_is_cut_off_after_five(tmp_path: Path) -> None:
    async with running_server(tmp_path / "s") as server:
        client, features = await unauthenticated(server_port(server))
        assert features.find("{http://jabber.org/features/iq-register}register") is not None
        await client.send(b"".join(registration(f"bot{n}", f"r{n}") for n in range(300)))
        answers = [await next_of(client, "iq") for _ in range(300)]
        assert [a.get("type") for a in answers[:5]] == ["result"] * 5
        refusals = {error_of(a) for a in answers[5:]}
        assert refusals == {
            (
                "policy-violation",
                "too many accounts were registered from your address; try again in 60 minutes",
            )
        }
        assert await server.accounts.users() == [f"bot{n}@localhost" for n in range(5)]
        # Another connection from the same address fares no better.
        other, _ = await unauthenticated(server_port(server))
        assert error_of(await register(other, "late"))[0] == "policy-violation"


async def test_all_addresses_together_are_limited_and_the_windows_slide(tmp_path: Path) -> None:
    limits = {"max_registrations_per_address": 1000, "max_registrations": 3}
    async with running_server(
        tmp_path / "s", limits={**limits, "registration_window": 1.0}
    ) as server:
        client, _ = await unauthenticated(server_port(server))
        assert (await register(client, "u0")).get("type") == "result"
        # A registration refused for another reason does not count.
        assert error_of(await register(client, "u0"))[0] == "conflict"
        assert [(await register(client, f"u{n}")).get("type") for n in (1, 2)] == ["result"] * 2
        condition, text = error_of(await register(client, "u3"))
        assert condition == "resource-constraint"
        assert text == (
            "too many accounts are being registered on this server right now; try again in "
            "1 minute, or ask its administrator for an invite"
        )
        await asyncio.sleep(1.1)
        assert (await register(client, "u3")).get("type") == "result"


async def test_an_invite_works_once_and_only_once(tmp_path: Path) -> None:
    data = tmp_path / "s"
    async with running_server(data, registration="invite") as server:
        port = server_port(server)
        client, features = await unauthenticated(port)
        assert features.find("{urn:xmpp:ibr-token:0}register") is not None
        assert features.find("{urn:xmpp:invite}register") is not None
        # Without an invite: refused, with a text that says what to do.
        assert error_of(await register(client, "carol")) == ("not-allowed", INVITE_ONLY)
        # The form says so, and has a field for the token.
        await client.send(
            b"<iq type='get' id='form' to='localhost'><query xmlns='jabber:iq:register'/></iq>"
        )
        form = await next_of(client, "iq")
        assert "only with an invite" in (form.findtext(".//{jabber:iq:register}instructions") or "")
        assert form.find(f".//{{{DATA}}}field[@var='token']") is not None

        made = ironwall("admin", "--data-dir", str(data), "invite")
        assert made.returncode == 0, made.stderr
        match = URI.fullmatch(made.stdout.strip())
        assert match is not None, made.stdout
        token = match["token"]

        first, _ = await unauthenticated(port)
        second, _ = await unauthenticated(port)
        assert (await present(first, token)).get("type") == "result"
        # Both streams presented it while it was unused; only one registers with it.
        assert (await present(second, token)).get("type") == "result"
        assert (await register(first, "carol")).get("type") == "result"
        assert error_of(await register(second, "dave")) == (
            "item-not-found",
            "this invite has already been used; ask for a new one",
        )
        third, _ = await unauthenticated(port)
        assert error_of(await present(third, token)) == (
            "item-not-found",
            "this invite has already been used; ask for a new one",
        )
        assert error_of(await present(third, token[:-1] + ("A" if token[-1] != "A" else "B"))) == (
            "item-not-found",
            "this invite is not valid on this server; check the link",
        )
        assert await can_log_in(server, "carol")
        assert await server.accounts.users() == ["carol@localhost"]

        invites = Invites(server.storage)
        expired = await invites.create("localhost", hours=0.0002)
        await asyncio.sleep(1.0)
        assert error_of(await present(third, expired)) == (
            "item-not-found",
            "this invite has expired; ask for a new one",
        )
        # Clients without XEP-0445 give the token in the registration form.
        in_form = await invites.create("localhost")
        await third.send(form_registration("erin", in_form))
        assert (await next_of(third, "iq")).get("type") == "result"
        assert error_of(await register(third, "frank", token=in_form))[1] == (
            "this invite has already been used; ask for a new one"
        )

    # Only hashes of the tokens are stored.
    stored = b"".join(path.read_bytes() for path in data.glob("ironwall.db*"))
    for secret in (token, in_form):
        assert secret.encode() not in stored
    assert hashlib.sha256(token.encode()).hexdigest().encode() in stored


async def test_an_invite_for_a_name_keeps_the_name(tmp_path: Path) -> None:
    # Open registration, but not from this address any more: invites still work.
    limits = {"max_registrations_per_address": 0}
    data = tmp_path / "s"
    async with running_server(data, registration=True, limits=limits) as server:
        port = server_port(server)
        made = ironwall("admin", "--data-dir", str(data), "invite", "--account-name", "Dave")
        match = URI.fullmatch(made.stdout.strip())
        assert match is not None, made.stdout + made.stderr
        assert match["name"] == "dave"  # prepared as a username is
        token = match["token"]

        client, _ = await unauthenticated(port)
        assert error_of(await register(client, "dave")) == (
            "conflict",
            "this username is kept for someone who was invited; choose another",
        )
        assert error_of(await register(client, "someone"))[0] == "policy-violation"
        assert (await present(client, token)).get("type") == "result"
        assert error_of(await register(client, "erin")) == (
            "not-acceptable",
            "this invite is for the account dave@localhost",
        )
        answer = await register(client, "dave")
        assert answer.get("type") == "result", xml_text(answer)
        assert await can_log_in(server, "dave")

        taken = ironwall("admin", "--data-dir", str(data), "invite", "--account-name", "dave")
        assert taken.returncode == 1
        assert "the account dave@localhost already exists" in taken.stderr
        none = ironwall("admin", "--data-dir", str(data), "invite", "--uses", "0")
        assert none.returncode == 1
        assert "at least one registration" in none.stderr


def test_the_invite_command_has_help() -> None:
    result = ironwall("admin", "invite", "--help")
    assert result.returncode == 0
    for flag in ("--account-name", "--expires", "--uses", "--domain"):
        assert flag in result.stdout

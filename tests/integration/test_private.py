"""XEP-0049 Private XML Storage, with slixmpp against the real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ironwall.server.app import Server
from support.client import XMPPClient, connected
from support.server import running_server, server_port
from support.users import PASSWORD, add_users

PRIVATE = "jabber:iq:private"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
DISCO_INFO = "http://jabber.org/protocol/disco#info"


def query(kind: str, body: str, to: str = "") -> str:
    to_attr = f" to='{to}'" if to else ""
    return f"<iq type='{kind}'{to_attr}><query xmlns='{PRIVATE}'>{body}</query></iq>"


def stored(iq: Any) -> list[tuple[str, str]]:
    """(tag, text of its first child) of each element in a get result."""
    assert iq["type"] == "result", iq
    found = iq.xml.find(f"{{{PRIVATE}}}query")
    return [(child.tag, child[0].text if len(child) else "") for child in found]


def error(iq: Any) -> tuple[str, str]:
    assert iq["type"] == "error", iq
    element = iq.xml.find("{jabber:client}error")
    condition = next(c.tag.partition("}")[2] for c in element if c.tag != f"{{{STANZAS}}}text")
    return element.get("type"), condition


async def _get(client: XMPPClient, element: str) -> Any:
    return await client.raw_iq(query("get", element))


async def test_stored_elements_come_back_and_unknown_ones_come_back_empty(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    async with connected(alice, PASSWORD, port) as a, connected(bob, PASSWORD, port) as b:
        info = await a.raw_iq(f"<iq type='get' to='localhost'><query xmlns='{DISCO_INFO}'/></iq>")
        assert PRIVATE in {f.get("var") for f in info.xml.iter(f"{{{DISCO_INFO}}}feature")}
        both = (
            "<prefs xmlns='urn:example:prefs'><nick>Al</nick></prefs>"
            "<notes xmlns='urn:example:notes'><n>one</n></notes>"
        )
        assert (await a.raw_iq(query("set", both)))["type"] == "result"
        assert stored(await _get(a, "<prefs xmlns='urn:example:prefs'/>")) == [
            ("{urn:example:prefs}prefs", "Al")
        ]
        assert stored(await _get(a, "<notes xmlns='urn:example:notes'/>")) == [
            ("{urn:example:notes}notes", "one")
        ]
        await a.raw_iq(query("set", "<prefs xmlns='urn:example:prefs'><nick>Alice</nick></prefs>"))
        assert stored(await _get(a, "<prefs xmlns='urn:example:prefs'/>")) == [
            ("{urn:example:prefs}prefs", "Alice")
        ]
        assert stored(await _get(a, "<other xmlns='urn:example:other'/>")) == [
            ("{urn:example:other}other", "")
        ]
        # Another account's storage is separate.
        assert stored(await _get(b, "<prefs xmlns='urn:example:prefs'/>")) == [
            ("{urn:example:prefs}prefs", "")
        ]


async def test_private_storage_errors(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    async with connected(alice, PASSWORD, server_port(server)) as a:
        foreign = await a.raw_iq(query("get", "<prefs xmlns='urn:example:prefs'/>", to=bob))
        assert error(foreign) == ("auth", "forbidden")
        foreign_set = await a.raw_iq(query("set", "<prefs xmlns='urn:example:prefs'/>", to=bob))
        assert error(foreign_set) == ("auth", "forbidden")
        assert error(await a.raw_iq(query("get", ""))) == ("modify", "not-acceptable")
        reserved = await a.raw_iq(query("set", f"<x xmlns='{PRIVATE}'/>"))
        assert error(reserved) == ("modify", "not-acceptable")
        two = await a.raw_iq(query("get", "<a xmlns='urn:a'/><b xmlns='urn:b'/>"))
        assert error(two) == ("modify", "bad-request")
        own = await a.raw_iq(query("get", "<a xmlns='urn:a'/>", to=alice))
        assert own["type"] == "result"


async def test_private_storage_limits(tmp_path: Path) -> None:
    """The ``private_*`` limits of the configuration (``[limits]`` in the file)."""
    limits = {"private_max_element_bytes": 100, "private_max_elements": 2}
    async with running_server(tmp_path, limits=limits) as server:
        (alice,) = await add_users(server, "alice")
        await _check_private_limits(alice, server_port(server))


async def _check_private_limits(alice: str, port: int) -> None:
    async with connected(alice, PASSWORD, port) as a:
        big = await a.raw_iq(query("set", f"<big xmlns='urn:big'>{'x' * 200}</big>"))
        assert error(big) == ("modify", "not-acceptable")
        assert "100 bytes" in big["error"]["text"]
        assert (await a.raw_iq(query("set", "<a xmlns='urn:a'/><b xmlns='urn:b'/>")))[
            "type"
        ] == "result"
        third = await a.raw_iq(query("set", "<c xmlns='urn:c'/>"))
        assert error(third) == ("cancel", "not-allowed")
        assert "2 private XML elements" in third["error"]["text"]
        # Replacing an element already stored is not a new one.
        assert (await a.raw_iq(query("set", "<a xmlns='urn:a'><v>2</v></a>")))["type"] == "result"


async def test_private_storage_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "server"
    async with running_server(data) as server:
        (alice,) = await add_users(server, "alice")
        async with connected(alice, PASSWORD, server_port(server)) as a:
            element = (
                "<storage xmlns='storage:bookmarks'><conference jid='room@muc.example'/></storage>"
            )
            assert (await a.raw_iq(query("set", element)))["type"] == "result"
    async with running_server(data) as server, connected(alice, PASSWORD, server_port(server)) as a:
        result = await _get(a, "<storage xmlns='storage:bookmarks'/>")
        conference = result.xml.find(
            f"{{{PRIVATE}}}query/{{storage:bookmarks}}storage/{{storage:bookmarks}}conference"
        )
        assert conference.get("jid") == "room@muc.example"

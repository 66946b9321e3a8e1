"""XEP-0163 PEP on XEP-0060 pubsub, and XEP-0223 on top: slixmpp clients against the real server.

Clients advertise ``+notify`` through real XEP-0115 caps (slixmpp's xep_0115); the
server learns them by asking each client, so a test waits until the server knows a
client's interests before asserting that a notification did not arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ironwall.proto.jid import JID
from ironwall.server.app import Server
from ironwall.server.modules.pep.caps import verification_hash
from ironwall.server.roster_model import RosterItem
from ironwall.xml import parse_document
from support.client import XMPPClient
from support.server import running_server, server_port
from support.users import PASSWORD, add_users

PUBSUB = "http://jabber.org/protocol/pubsub"
OWNER = PUBSUB + "#owner"
EVENT = PUBSUB + "#event"
ERRORS = PUBSUB + "#errors"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NODE = "urn:example:mood"
QUIET = 0.3


class PepClient(XMPPClient):
    """A slixmpp client that advertises ``+notify`` for some nodes and queues PEP events."""

    def __init__(self, jid: str) -> None:
        super().__init__(jid, PASSWORD, send_presence=False)
        self.register_plugin("xep_0115")
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        matcher = MatchXPath(f"{{jabber:client}}message/{{{EVENT}}}event")
        self.register_handler(Callback("pep events", matcher, self.events.put_nowait))

    async def next_event(self, timeout: float = 10.0) -> Element:
        """The ``<event/>`` of the next notification."""
        message = await asyncio.wait_for(self.events.get(), timeout)
        assert message["type"] == "headline"
        event: Element = message.xml.find(f"{{{EVENT}}}event")
        return event

    async def assert_no_event(self) -> None:
        await asyncio.sleep(QUIET)
        assert self.events.empty(), self.events.get_nowait()


@contextlib.asynccontextmanager
async def online(
    server: Server, jid: str, *, notify: Sequence[str] = (), wait_caps: bool = True
) -> AsyncIterator[PepClient]:
    """A client with initial presence sent; with ``notify``, once the server knows its caps."""
    client = PepClient(jid)
    try:
        await client.start(server_port(server))
        # After binding: slixmpp keys disco features by the full JID it has when adding them.
        for node in notify:
            client.plugin["xep_0030"].add_feature(f"{node}+notify")
        await client.plugin["xep_0115"].update_caps(broadcast=False)
        client.send_presence()
        if notify and wait_caps:
            await _server_knows_caps(server, client, notify)
        yield client
    finally:
        await client.stop()


async def _server_knows_caps(server: Server, client: PepClient, nodes: Sequence[str]) -> None:
    caps = server.module("pep").notifier.caps  # type: ignore[attr-defined]
    full = JID.parse(str(client.boundjid))
    async with asyncio.timeout(10):
        while True:
            session = server.router.session(full)
            if session is not None and set(nodes) <= caps.notify_nodes(session):
                return
            await asyncio.sleep(0.02)


async def share_presence(
    server: Server, owner: str, contact: str, state: str = "both", groups: Sequence[str] = ()
) -> None:
    """Give ``owner``'s roster ``contact`` in ``state`` (and the contact the mirror item)."""
    roster = server.module("roster")
    mirror = {"both": "both", "from": "to", "to": "from"}[state]
    owner_jid, contact_jid = JID.parse(owner), JID.parse(contact)
    item = RosterItem(contact_jid, state, groups=tuple(groups))
    await roster.save(owner_jid, item)  # type: ignore[attr-defined]
    await roster.save(contact_jid, RosterItem(owner_jid, mirror))  # type: ignore[attr-defined]


def form(form_type: str, **fields: str | Sequence[str]) -> str:
    parts = [f"<field var='FORM_TYPE' type='hidden'><value>{PUBSUB}#{form_type}</value></field>"]
    for name, value in fields.items():
        values = [value] if isinstance(value, str) else value
        parts.append(
            f"<field var='pubsub#{name}'>"
            + "".join(f"<value>{v}</value>" for v in values)
            + "</field>"
        )
    return f"<x xmlns='jabber:x:data' type='submit'>{''.join(parts)}</x>"


def publish(node: str, item_id: str, text: str, to: str = "", **options: str) -> str:
    extra = (
        f"<publish-options>{form('publish-options', **options)}</publish-options>"
        if options
        else ""
    )
    to_attr = f" to='{to}'" if to else ""
    return (
        f"<iq type='set'{to_attr}><pubsub xmlns='{PUBSUB}'><publish node='{node}'>"
        f"<item id='{item_id}'><mood xmlns='urn:example:mood'>{text}</mood></item>"
        f"</publish>{extra}</pubsub></iq>"
    )


def items(node: str, to: str = "", *, max_items: int | None = None, ids: Sequence[str] = ()) -> str:
    to_attr = f" to='{to}'" if to else ""
    max_attr = f" max_items='{max_items}'" if max_items is not None else ""
    wanted = "".join(f"<item id='{i}'/>" for i in ids)
    return (
        f"<iq type='get'{to_attr}><pubsub xmlns='{PUBSUB}'>"
        f"<items node='{node}'{max_attr}>{wanted}</items></pubsub></iq>"
    )


def pubsub_iq(kind: str, body: str, to: str = "", namespace: str = PUBSUB) -> str:
    to_attr = f" to='{to}'" if to else ""
    return f"<iq type='{kind}'{to_attr}><pubsub xmlns='{namespace}'>{body}</pubsub></iq>"


def owner_iq(kind: str, body: str, to: str = "") -> str:
    return pubsub_iq(kind, body, to, OWNER)


def texts(iq: Any) -> list[tuple[str, str]]:
    """(id, payload text) of each item in an items result."""
    assert iq["type"] == "result", iq
    found = iq.xml.findall(f"{{{PUBSUB}}}pubsub/{{{PUBSUB}}}items/{{{PUBSUB}}}item")
    return [(i.get("id"), i[0].text) for i in found]


def event_texts(event: Element) -> list[tuple[str, str | None]]:
    return [(i.get("id"), i[0].text if len(i) else None) for i in event.iter(f"{{{EVENT}}}item")]


def error(iq: Any) -> tuple[str, str, str | None]:
    """(error type, stanza condition, pubsub#errors condition) of an error reply."""
    assert iq["type"] == "error", iq
    element = iq.xml.find("{jabber:client}error")
    conditions = [c.tag.partition("}")[2] for c in element if c.tag.startswith(f"{{{STANZAS}}}")]
    apps = [c.tag.partition("}")[2] for c in element if c.tag.startswith(f"{{{ERRORS}}}")]
    condition = next(c for c in conditions if c != "text")
    return element.get("type"), condition, apps[0] if apps else None


NOT_ON_WHITELIST = ("cancel", "not-allowed", "closed-node")
NEEDS_PRESENCE = ("auth", "not-authorized", "presence-subscription-required")


# ----------------------------------------------------------------------------- discovery


async def test_disco_shows_pep_identity_features_and_readable_nodes(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    async with online(server, alice) as a, online(server, bob) as b:
        info = await b.raw_iq(f"<iq type='get' to='{alice}'><query xmlns='{DISCO_INFO}'/></iq>")
        identities = {
            (i.get("category"), i.get("type")) for i in info.xml.iter(f"{{{DISCO_INFO}}}identity")
        }
        assert ("pubsub", "pep") in identities
        features = {f.get("var") for f in info.xml.iter(f"{{{DISCO_INFO}}}feature")}
        for name in (
            "publish-options",
            "access-whitelist",
            "auto-create",
            "persistent-items",
            "last-published",
        ):
            assert f"{PUBSUB}#{name}" in features
        assert f"{PUBSUB}#access-authorize" not in features
        assert (await a.raw_iq(publish("open-node", "1", "x", access_model="open")))[
            "type"
        ] == "result"
        assert (await a.raw_iq(publish("secret-node", "1", "x", access_model="whitelist")))[
            "type"
        ] == "result"
        listing = await b.raw_iq(f"<iq type='get' to='{alice}'><query xmlns='{DISCO_ITEMS}'/></iq>")
        assert [i.get("node") for i in listing.xml.iter(f"{{{DISCO_ITEMS}}}item")] == ["open-node"]
        own = await a.raw_iq(f"<iq type='get'><query xmlns='{DISCO_ITEMS}'/></iq>")
        assert sorted(i.get("node") for i in own.xml.iter(f"{{{DISCO_ITEMS}}}item")) == [
            "open-node",
            "secret-node",
        ]
        refused = await b.raw_iq(
            f"<iq type='get' to='{alice}'><query xmlns='{DISCO_INFO}' node='secret-node'/></iq>"
        )
        assert error(refused) == NOT_ON_WHITELIST


# ------------------------------------------------------------------ publish and retrieve


async def test_publish_autocreates_and_items_are_retrieved_all_by_id_and_most_recent(
    server: Server,
) -> None:
    (alice,) = await add_users(server, "alice")
    async with online(server, alice) as a:
        missing = await a.raw_iq(items(NODE))
        assert error(missing) == ("cancel", "item-not-found", None)
        for n in (1, 2, 3):
            result = await a.raw_iq(publish(NODE, f"i{n}", f"text {n}", max_items="3"))
            published = result.xml.find(f"{{{PUBSUB}}}pubsub/{{{PUBSUB}}}publish/{{{PUBSUB}}}item")
            assert published.get("id") == f"i{n}"
        assert texts(await a.raw_iq(items(NODE))) == [
            ("i1", "text 1"),
            ("i2", "text 2"),
            ("i3", "text 3"),
        ]
        assert texts(await a.raw_iq(items(NODE, max_items=2))) == [
            ("i2", "text 2"),
            ("i3", "text 3"),
        ]
        assert texts(await a.raw_iq(items(NODE, ids=["i3", "i1", "nope"]))) == [
            ("i1", "text 1"),
            ("i3", "text 3"),
        ]
        # Republishing an id replaces the item and makes it the newest; a 4th evicts the oldest.
        await a.raw_iq(publish(NODE, "i1", "text 1 again", max_items="3"))
        await a.raw_iq(publish(NODE, "i4", "text 4", max_items="3"))
        assert texts(await a.raw_iq(items(NODE))) == [
            ("i3", "text 3"),
            ("i1", "text 1 again"),
            ("i4", "text 4"),
        ]
        retract = pubsub_iq("set", f"<retract node='{NODE}'><item id='i3'/></retract>")
        assert (await a.raw_iq(retract))["type"] == "result"
        assert error(await a.raw_iq(retract)) == ("cancel", "item-not-found", None)
        assert [i for i, _ in texts(await a.raw_iq(items(NODE)))] == ["i1", "i4"]
        generated = await a.raw_iq(
            f"<iq type='set'><pubsub xmlns='{PUBSUB}'><publish node='auto'><item>"
            "<x xmlns='urn:example:x'/></item></publish></pubsub></iq>"
        )
        item_id = generated.xml.find(f".//{{{PUBSUB}}}item").get("id")
        assert item_id
        assert [i for i, _ in texts(await a.raw_iq(items("auto")))] == [item_id]
        assert error(await a.raw_iq(items(NODE, max_items=0))) == ("modify", "bad-request", None)


async def test_bad_publish_requests_get_the_xep_0060_errors(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    async with online(server, alice) as a, online(server, bob) as b:

        def raw(body: str) -> str:
            return f"<iq type='set'><pubsub xmlns='{PUBSUB}'>{body}</pubsub></iq>"

        no_item = await a.raw_iq(raw(f"<publish node='{NODE}'/>"))
        assert error(no_item) == ("modify", "bad-request", "item-required")
        no_payload = await a.raw_iq(raw(f"<publish node='{NODE}'><item id='1'/></publish>"))
        assert error(no_payload) == ("modify", "bad-request", "payload-required")
        two = await a.raw_iq(
            raw(f"<publish node='{NODE}'><item><a xmlns='x:a'/><b xmlns='x:b'/></item></publish>")
        )
        assert error(two) == ("modify", "bad-request", "invalid-payload")
        no_node = await a.raw_iq(raw("<publish><item><a xmlns='x:a'/></item></publish>"))
        assert error(no_node) == ("modify", "bad-request", "nodeid-required")
        foreign = await b.raw_iq(publish(NODE, "1", "not mine", to=alice))
        assert error(foreign) == ("auth", "forbidden", None)
        affiliations = await a.raw_iq(
            f"<iq type='get'><pubsub xmlns='{PUBSUB}'><affiliations/></pubsub></iq>"
        )
        assert error(affiliations) == ("cancel", "feature-not-implemented", "unsupported")
        nobody = await a.raw_iq(items(NODE, to="nobody@localhost"))
        assert error(nobody) == ("cancel", "service-unavailable", None)


# ------------------------------------------------------------------------ access models


async def test_whitelist_node_is_readable_by_its_owner_only(server: Server) -> None:
    alice, bob, carol = await add_users(server, "alice", "bob", "carol")
    await share_presence(server, alice, bob, "both")
    async with online(server, alice) as a, online(server, bob) as b, online(server, carol) as c:
        assert (await a.raw_iq(publish("secret", "1", "mine", access_model="whitelist")))[
            "type"
        ] == "result"
        assert texts(await a.raw_iq(items("secret"))) == [("1", "mine")]
        assert texts(await a.raw_iq(items("secret", to=alice))) == [("1", "mine")]
        for reader in (b, c):
            assert error(await reader.raw_iq(items("secret", to=alice))) == NOT_ON_WHITELIST
            assert (
                error(await reader.raw_iq(items("secret", to=alice, ids=["1"]))) == NOT_ON_WHITELIST
            )
            subscribe = (
                f"<iq type='set' to='{alice}'><pubsub xmlns='{PUBSUB}'>"
                f"<subscribe node='secret' jid='{reader.boundjid.bare}'/></pubsub></iq>"
            )
            assert error(await reader.raw_iq(subscribe)) == NOT_ON_WHITELIST


async def test_open_node_is_readable_by_anyone(server: Server) -> None:
    alice, carol = await add_users(server, "alice", "carol")
    async with online(server, alice) as a, online(server, carol) as c:
        await a.raw_iq(publish("public", "k", "for all", access_model="open"))
        assert texts(await c.raw_iq(items("public", to=alice))) == [("k", "for all")]


async def test_presence_node_is_readable_only_by_contacts_subscribed_to_the_owner(
    server: Server,
) -> None:
    alice, bob, carol, dave = await add_users(server, "alice", "bob", "carol", "dave")
    # dave only sees the other direction: alice receives his presence, he does not receive hers.
    await share_presence(server, alice, dave, "to")
    async with (
        online(server, alice) as a,
        online(server, bob) as b,
        online(server, carol) as c,
        online(server, dave) as d,
    ):
        # A real subscription handshake: bob asks, alice's client approves automatically.
        b.send_presence(pto=alice, ptype="subscribe")
        await b.next_presence(kind="subscribed", sender=alice)
        await a.raw_iq(publish(NODE, "1", "happy"))
        config = await a.raw_iq(owner_iq("get", f"<configure node='{NODE}'/>"))
        assert _field(config, "pubsub#access_model") == ["presence"]
        assert texts(await b.raw_iq(items(NODE, to=alice))) == [("1", "happy")]
        assert error(await c.raw_iq(items(NODE, to=alice))) == NEEDS_PRESENCE
        assert error(await d.raw_iq(items(NODE, to=alice))) == NEEDS_PRESENCE


async def test_roster_node_is_readable_by_allowed_groups(server: Server) -> None:
    alice, bob, dave = await add_users(server, "alice", "bob", "dave")
    await share_presence(server, alice, bob, "both", groups=["Friends"])
    await share_presence(server, alice, dave, "both", groups=["Work"])
    async with online(server, alice) as a, online(server, bob) as b, online(server, dave) as d:
        result = await a.raw_iq(
            publish("plans", "1", "party", access_model="roster", roster_groups_allowed="Friends")
        )
        assert result["type"] == "result"
        assert texts(await b.raw_iq(items("plans", to=alice))) == [("1", "party")]
        assert error(await d.raw_iq(items("plans", to=alice))) == (
            "auth",
            "not-authorized",
            "not-in-roster-group",
        )


def _field(iq: Any, var: str) -> list[str]:
    for field in iq.xml.iter("{jabber:x:data}field"):
        if field.get("var") == var:
            return [v.text or "" for v in field.findall("{jabber:x:data}value")]
    raise AssertionError(f"no field {var}")


# ------------------------------------------------------------------------ notifications


async def test_notify_contacts_get_notifications_others_do_not(server: Server) -> None:
    alice, bob, carol, dave = await add_users(server, "alice", "bob", "carol", "dave")
    await share_presence(server, alice, bob, "both")
    await share_presence(server, alice, carol, "both")
    async with (
        online(server, f"{alice}/phone", notify=[NODE]) as a_notify,
        online(server, f"{alice}/laptop") as a_plain,
        online(server, bob, notify=[NODE]) as b,
        online(server, carol) as c,
        online(server, dave, notify=[NODE]) as d,
    ):
        await a_plain.raw_iq(publish(NODE, "1", "sunny"))
        for client in (a_notify, b):
            event = await client.next_event()
            assert event_texts(event) == [("1", "sunny")]
            assert event.find(f"{{{EVENT}}}items").get("node") == NODE
        for client in (a_plain, c, d):
            await client.assert_no_event()
        await a_plain.raw_iq(publish("private-mood", "1", "grumpy", access_model="whitelist"))
        await a_plain.raw_iq(publish(NODE, "2", "rainy"))
        assert event_texts(await b.next_event()) == [("2", "rainy")]
        await b.assert_no_event()


async def test_whitelist_node_notifies_only_the_owners_resources(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    await share_presence(server, alice, bob, "both")
    async with (
        online(server, f"{alice}/a", notify=["secret"]) as a,
        online(server, bob, notify=["secret"]) as b,
    ):
        await a.raw_iq(publish("secret", "1", "only me", access_model="whitelist"))
        assert event_texts(await a.next_event()) == [("1", "only me")]
        await b.assert_no_event()


async def test_last_published_item_is_sent_when_a_contact_comes_online(server: Server) -> None:
    alice, bob, carol = await add_users(server, "alice", "bob", "carol")
    await share_presence(server, alice, bob, "both")
    async with online(server, alice) as a:
        await a.raw_iq(publish(NODE, "old", "earlier", max_items="2"))
        await a.raw_iq(publish(NODE, "new", "latest", max_items="2"))
        async with online(server, bob, notify=[NODE], wait_caps=False) as b:
            assert event_texts(await b.next_event()) == [("new", "latest")]
        async with online(server, carol, notify=[NODE]) as c:
            await c.assert_no_event()
        async with online(server, f"{alice}/second", notify=[NODE], wait_caps=False) as a2:
            assert event_texts(await a2.next_event()) == [("new", "latest")]


async def test_interest_announced_later_brings_the_last_item(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    await share_presence(server, alice, bob, "both")
    async with online(server, alice) as a, online(server, bob) as b:
        await a.raw_iq(publish(NODE, "1", "calm"))
        await b.assert_no_event()
        b.plugin["xep_0030"].add_feature(f"{NODE}+notify")
        await b.plugin["xep_0115"].update_caps(broadcast=False)
        b.send_presence(pstatus="now interested")
        assert event_texts(await b.next_event()) == [("1", "calm")]
        b.send_presence(pstatus="same caps, nothing new")
        await b.assert_no_event()


async def test_explicit_subscription_by_a_non_contact_to_an_open_node(server: Server) -> None:
    alice, carol = await add_users(server, "alice", "carol")
    async with online(server, alice) as a, online(server, carol) as c:
        await a.raw_iq(publish("devices", "current", "device list v1", access_model="open"))

        def subscription(kind: str, jid: str) -> str:
            return (
                f"<iq type='set' to='{alice}'><pubsub xmlns='{PUBSUB}'>"
                f"<{kind} node='devices' jid='{jid}'/></pubsub></iq>"
            )

        result = await c.raw_iq(subscription("subscribe", carol))
        sub = result.xml.find(f"{{{PUBSUB}}}pubsub/{{{PUBSUB}}}subscription")
        assert (sub.get("node"), sub.get("jid"), sub.get("subscription")) == (
            "devices",
            carol,
            "subscribed",
        )
        assert event_texts(await c.next_event()) == [("current", "device list v1")]
        await a.raw_iq(publish("devices", "current", "device list v2"))
        assert event_texts(await c.next_event()) == [("current", "device list v2")]
        listed = await c.raw_iq(
            f"<iq type='get' to='{alice}'><pubsub xmlns='{PUBSUB}'><subscriptions/></pubsub></iq>"
        )
        assert [s.get("node") for s in listed.xml.iter(f"{{{PUBSUB}}}subscription")] == ["devices"]
        others = await c.raw_iq(subscription("subscribe", alice))
        assert error(others) == ("modify", "bad-request", "invalid-jid")
        # Tightening the access model stops notifications to subscribers it no longer admits.
        configure = owner_iq(
            "set",
            f"<configure node='devices'>{form('node_config', access_model='presence')}</configure>",
        )
        assert (await a.raw_iq(configure))["type"] == "result"
        await a.raw_iq(publish("devices", "current", "device list v3"))
        await c.assert_no_event()
        assert error(await c.raw_iq(items("devices", to=alice))) == NEEDS_PRESENCE
        assert (await c.raw_iq(subscription("unsubscribe", carol)))["type"] == "result"
        again = await c.raw_iq(subscription("unsubscribe", carol))
        assert error(again) == ("cancel", "unexpected-request", "not-subscribed")
        missing = await c.raw_iq(
            subscription("subscribe", carol).replace("devices", "nothing-here")
        )
        assert error(missing) == ("cancel", "item-not-found", None)


async def test_retract_delete_and_purge_notify_subscribers(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    await share_presence(server, alice, bob, "both")
    async with online(server, alice) as a, online(server, bob, notify=[NODE]) as b:
        await a.raw_iq(publish(NODE, "1", "one", max_items="5"))
        await a.raw_iq(publish(NODE, "2", "two", max_items="5"))
        assert [event_texts(await b.next_event()) for _ in range(2)] == [
            [("1", "one")],
            [("2", "two")],
        ]
        retract = pubsub_iq("set", f"<retract node='{NODE}' notify='true'><item id='1'/></retract>")
        await a.raw_iq(retract)
        retracted = (await b.next_event()).find(f"{{{EVENT}}}items/{{{EVENT}}}retract")
        assert retracted.get("id") == "1"
        await a.raw_iq(owner_iq("set", f"<purge node='{NODE}'/>"))
        assert (await b.next_event()).find(f"{{{EVENT}}}purge").get("node") == NODE
        assert texts(await a.raw_iq(items(NODE))) == []
        assert error(await b.raw_iq(owner_iq("set", f"<delete node='{NODE}'/>", to=alice))) == (
            "auth",
            "forbidden",
            None,
        )
        assert (await a.raw_iq(owner_iq("set", f"<delete node='{NODE}'/>")))["type"] == "result"
        assert (await b.next_event()).find(f"{{{EVENT}}}delete").get("node") == NODE
        assert error(await a.raw_iq(items(NODE))) == ("cancel", "item-not-found", None)
        assert error(await a.raw_iq(owner_iq("set", f"<delete node='{NODE}'/>"))) == (
            "cancel",
            "item-not-found",
            None,
        )


# ---------------------------------------------------------- publish-options and configuration


async def test_publish_options_preconditions_are_enforced(server: Server) -> None:
    alice, carol = await add_users(server, "alice", "carol")
    async with online(server, alice) as a, online(server, carol) as c:
        created = await a.raw_iq(publish("keys", "1", "v1", access_model="open", max_items="max"))
        assert created["type"] == "result"
        mismatch = await a.raw_iq(publish("keys", "2", "v2", access_model="whitelist"))
        assert error(mismatch) == ("cancel", "conflict", "precondition-not-met")
        assert texts(await c.raw_iq(items("keys", to=alice))) == [("1", "v1")]
        assert (await a.raw_iq(publish("keys", "2", "v2", access_model="open", max_items="max")))[
            "type"
        ] == "result"
        assert error(await a.raw_iq(publish("keys", "3", "v3", max_items="5"))) == (
            "cancel",
            "conflict",
            "precondition-not-met",
        )
        assert error(await a.raw_iq(publish("keys", "3", "v3", persist_items="false"))) == (
            "cancel",
            "conflict",
            "precondition-not-met",
        )
        unknown = await a.raw_iq(publish("keys", "3", "v3", itemreply="owner"))
        assert error(unknown) == ("cancel", "conflict", "precondition-not-met")
        bad_model = await a.raw_iq(publish("fresh", "1", "x", access_model="authorize"))
        assert error(bad_model) == ("modify", "not-acceptable", "unsupported-access-model")
        assert error(await a.raw_iq(items("fresh"))) == ("cancel", "item-not-found", None)
        # What slixmpp-omemo does on precondition-not-met: reconfigure the node, publish again.
        configure = owner_iq(
            "set",
            f"<configure node='keys'>{form('node_config', access_model='whitelist')}</configure>",
        )
        assert (await a.raw_iq(configure))["type"] == "result"
        assert (await a.raw_iq(publish("keys", "3", "v3", access_model="whitelist")))[
            "type"
        ] == "result"
        assert error(await c.raw_iq(items("keys", to=alice))) == NOT_ON_WHITELIST
        other_send_last = await a.raw_iq(
            publish("keys", "4", "v4", send_last_published_item="never")
        )
        assert error(other_send_last) == ("cancel", "conflict", "precondition-not-met")
        other_payloads = await a.raw_iq(publish("keys", "4", "v4", deliver_payloads="false"))
        assert error(other_payloads) == ("cancel", "conflict", "precondition-not-met")


async def test_owner_configures_nodes(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    await share_presence(server, alice, bob, "both")
    async with online(server, alice) as a, online(server, bob, notify=[NODE]) as b:
        for n in range(4):
            await a.raw_iq(publish(NODE, f"i{n}", f"t{n}", max_items="max"))
        for _ in range(4):
            await b.next_event()
        current = await a.raw_iq(owner_iq("get", f"<configure node='{NODE}'/>"))
        assert _field(current, "FORM_TYPE") == [f"{PUBSUB}#node_config"]
        assert _field(current, "pubsub#max_items") == ["max"]
        assert _field(current, "pubsub#send_last_published_item") == ["on_sub_and_presence"]
        change = form("node_config", max_items="2", deliver_payloads="0", title="Mood")
        assert (await a.raw_iq(owner_iq("set", f"<configure node='{NODE}'>{change}</configure>")))[
            "type"
        ] == "result"
        assert [i for i, _ in texts(await a.raw_iq(items(NODE)))] == ["i2", "i3"]
        await a.raw_iq(publish(NODE, "i4", "t4"))
        assert event_texts(await b.next_event()) == [("i4", None)]
        listing = await b.raw_iq(f"<iq type='get' to='{alice}'><query xmlns='{DISCO_ITEMS}'/></iq>")
        assert [
            (i.get("node"), i.get("name")) for i in listing.xml.iter(f"{{{DISCO_ITEMS}}}item")
        ] == [(NODE, "Mood")]
        forbidden = await b.raw_iq(owner_iq("get", f"<configure node='{NODE}'/>", to=alice))
        assert error(forbidden) == ("auth", "forbidden", None)
        unknown = form("node_config", itemreply="owner")
        assert (
            error(
                await a.raw_iq(owner_iq("set", f"<configure node='{NODE}'>{unknown}</configure>"))
            )[1]
            == "not-acceptable"
        )
        too_many = form("node_config", max_items="100000")
        assert (
            error(
                await a.raw_iq(owner_iq("set", f"<configure node='{NODE}'>{too_many}</configure>"))
            )[1]
            == "not-acceptable"
        )
        default = await a.raw_iq(owner_iq("get", "<default/>"))
        assert _field(default, "pubsub#access_model") == ["presence"]
        assert _field(default, "pubsub#max_items") == ["1"]
        configure = f"<configure>{form('node_config', access_model='open')}</configure>"
        create = pubsub_iq("set", f"<create node='made'/>{configure}")
        assert (await a.raw_iq(create))["type"] == "result"
        assert error(await a.raw_iq(create)) == ("cancel", "conflict", None)
        made = await a.raw_iq(owner_iq("get", "<configure node='made'/>"))
        assert _field(made, "pubsub#access_model") == ["open"]


# ------------------------------------------------------------------------------- limits


async def test_limits_on_item_size_items_and_nodes_have_clear_errors(tmp_path: Path) -> None:
    """The ``pep_*`` limits of the configuration (``[limits]`` in the file)."""
    limits = {
        "pep_max_item_bytes": 200,
        "pep_max_items_per_node": 3,
        "pep_max_items_per_account": 5,
        "pep_max_nodes_per_account": 3,
    }
    async with running_server(tmp_path, limits=limits) as server:
        (alice,) = await add_users(server, "alice")
        async with online(server, alice) as a:
            too_big = await a.raw_iq(publish(NODE, "1", "x" * 300))
            assert error(too_big) == ("modify", "not-acceptable", "payload-too-big")
            beyond = await a.raw_iq(publish(NODE, "1", "x", max_items="4"))
            assert error(beyond)[:2] == ("modify", "not-acceptable")
            for n in range(5):
                assert (await a.raw_iq(publish("many", f"i{n}", "x", max_items="max")))[
                    "type"
                ] == "result"
            assert [i for i, _ in texts(await a.raw_iq(items("many")))] == ["i2", "i3", "i4"]
            for n in range(2):
                assert (await a.raw_iq(publish("other", f"i{n}", "x", max_items="max")))[
                    "type"
                ] == "result"
            full = await a.raw_iq(publish("other", "i2", "x", max_items="max"))
            assert error(full) == ("cancel", "not-allowed", "max-items-exceeded")
            assert "5" in full["error"]["text"]
            assert (await a.raw_iq(publish("other", "i1", "replaced", max_items="max")))[
                "type"
            ] == "result"
            assert (await a.raw_iq(publish("third", "1", "x", persist_items="false")))[
                "type"
            ] == "result"
            fourth = await a.raw_iq(publish("fourth", "1", "x"))
            assert error(fourth) == ("cancel", "not-allowed", "max-nodes-exceeded")


# ------------------------------------------------------------------ durability and XEP-0223


async def test_pep_nodes_items_and_subscriptions_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "server"
    async with running_server(data) as server:
        alice, carol = await add_users(server, "alice", "carol")
        async with online(server, alice) as a, online(server, carol) as c:
            await a.raw_iq(publish("keys", "k1", "key one", access_model="open", max_items="max"))
            await a.raw_iq(publish("keys", "k2", "key two", access_model="open", max_items="max"))
            await a.raw_iq(
                publish("storage:bookmarks", "current", "rooms", access_model="whitelist")
            )
            subscribe = pubsub_iq("set", f"<subscribe node='keys' jid='{carol}'/>", to=alice)
            assert (await c.raw_iq(subscribe))["type"] == "result"
    async with (
        running_server(data) as server,
        online(server, alice) as a,
        online(server, carol) as c,
    ):
        assert texts(await c.raw_iq(items("keys", to=alice))) == [
            ("k1", "key one"),
            ("k2", "key two"),
        ]
        assert texts(await a.raw_iq(items("storage:bookmarks"))) == [("current", "rooms")]
        assert error(await c.raw_iq(items("storage:bookmarks", to=alice))) == NOT_ON_WHITELIST
        await a.raw_iq(publish("keys", "k3", "key three"))
        assert event_texts(await c.next_event()) == [("k3", "key three")]


async def test_xep_0223_private_data_in_a_whitelist_node(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    await share_presence(server, alice, bob, "both")
    async with online(server, alice) as a, online(server, bob, notify=["storage:bookmarks"]) as b:
        result = await a.raw_iq(
            publish(
                "storage:bookmarks",
                "current",
                "my rooms",
                persist_items="true",
                access_model="whitelist",
            )
        )
        assert result["type"] == "result"
        assert texts(await a.raw_iq(items("storage:bookmarks"))) == [("current", "my rooms")]
        assert error(await b.raw_iq(items("storage:bookmarks", to=alice))) == NOT_ON_WHITELIST
        await b.assert_no_event()


async def test_deleting_an_account_deletes_its_nodes(server: Server) -> None:
    (alice,) = await add_users(server, "alice")
    async with online(server, alice) as a:
        await a.raw_iq(publish(NODE, "1", "x"))
    await server.accounts.delete(JID.parse(alice))
    await add_users(server, "alice")
    async with online(server, alice) as a:
        assert error(await a.raw_iq(items(NODE))) == ("cancel", "item-not-found", None)


# ------------------------------------------------------------------------- XEP-0115 hashes


def test_caps_verification_string_matches_xep_0115_examples() -> None:
    simple = parse_document(
        b"<query xmlns='http://jabber.org/protocol/disco#info'>"
        b"<identity category='client' name='Exodus 0.9.1' type='pc'/>"
        b"<feature var='http://jabber.org/protocol/caps'/>"
        b"<feature var='http://jabber.org/protocol/disco#info'/>"
        b"<feature var='http://jabber.org/protocol/disco#items'/>"
        b"<feature var='http://jabber.org/protocol/muc'/></query>"
    )
    assert verification_hash(simple, "sha-1") == "QgayPKawpkPSDYmwT/WM94uAlu0="
    complex_ = parse_document(
        "<query xmlns='http://jabber.org/protocol/disco#info'>"
        "<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>"
        "<identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>"
        "<feature var='http://jabber.org/protocol/caps'/>"
        "<feature var='http://jabber.org/protocol/disco#info'/>"
        "<feature var='http://jabber.org/protocol/disco#items'/>"
        "<feature var='http://jabber.org/protocol/muc'/>"
        "<x xmlns='jabber:x:data' type='result'>"
        "<field var='FORM_TYPE' type='hidden'>"
        "<value>urn:xmpp:dataforms:softwareinfo</value></field>"
        "<field var='ip_version'><value>ipv4</value><value>ipv6</value></field>"
        "<field var='os'><value>Mac</value></field>"
        "<field var='os_version'><value>10.5.1</value></field>"
        "<field var='software'><value>Psi</value></field>"
        "<field var='software_version'><value>0.11</value></field></x></query>".encode()
    )
    assert verification_hash(complex_, "sha-1") == "q07IKJEyjvHSyhy//CH0CxmKi8w="
    assert verification_hash(simple, "md5") is None
    doubled = parse_document(
        b"<query xmlns='http://jabber.org/protocol/disco#info'>"
        b"<feature var='urn:x'/><feature var='urn:x'/></query>"
    )
    assert verification_hash(doubled, "sha-1") is None


def _block(kind: str, jid: str) -> str:
    return f"<iq type='set'><{kind} xmlns='urn:xmpp:blocking'><item jid='{jid}'/></{kind}></iq>"


async def test_no_notification_crosses_a_block_either_way(server: Server) -> None:
    """XEP-0191: a blocked contact neither sends nor receives PEP events."""
    alice, bob = await add_users(server, "alice", "bob")
    await share_presence(server, alice, bob, "both")
    async with (
        online(server, f"{alice}/phone", notify=[NODE]) as a,
        online(server, bob, notify=[NODE]) as b,
    ):
        await b.raw_iq(_block("block", alice))
        await a.raw_iq(publish(NODE, "1", "from alice, blocked by bob"))
        assert event_texts(await a.next_event()) == [("1", "from alice, blocked by bob")]
        await b.assert_no_event()
        await b.raw_iq(publish(NODE, "1", "from bob, who blocks alice"))
        await a.assert_no_event()
        await b.raw_iq(_block("unblock", alice))
        await a.raw_iq(publish(NODE, "2", "after the unblock"))
        for client in (a, b):
            # The unblock's presence exchange may bring the last items first.
            seen = [event_texts(await client.next_event())]
            while seen[-1] != [("2", "after the unblock")]:
                seen.append(event_texts(await client.next_event()))

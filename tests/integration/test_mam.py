"""XEP-0313 Message Archive Management against the real server: storage, paging, filters,
preferences, retention, and the proof that the archive holds only what was routed."""

from __future__ import annotations

import asyncio
import base64
import datetime
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ironwall.proto.jid import JID
from ironwall.server.app import Server
from ironwall.server.roster_model import RosterItem
from ironwall.xml import parse_document
from support.client import TIMEOUT, XMPPClient, connected
from support.server import running_server, server_port
from support.users import PASSWORD, add_users, befriend

MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
FORWARD = "urn:xmpp:forward:0"
SID = "urn:xmpp:sid:0"
CLIENT = "jabber:client"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
OX = "urn:xmpp:openpgp:0"


@dataclass
class Page:
    """What one archive query returned."""

    ids: list[str]
    bodies: list[str | None]
    messages: list[Element]
    complete: bool
    first: str | None
    last: str | None
    count: int | None


def _form(**fields: str) -> str:
    values = "".join(
        f"<field var='{var}'><value>{value}</value></field>" for var, value in fields.items()
    )
    return (
        "<x xmlns='jabber:x:data' type='submit'>"
        f"<field var='FORM_TYPE' type='hidden'><value>{MAM}</value></field>{values}</x>"
    )


def _rsm(**parts: str) -> str:
    inner = "".join(
        f"<{name}>{text}</{name}>" if text else f"<{name}/>" for name, text in parts.items()
    )
    return f"<set xmlns='{RSM}'>{inner}</set>"


async def query(client: XMPPClient, inner: str = "", to: str = "") -> Page | Any:
    """Run one query; the Page, or the error iq when the server refused it."""
    query_id = secrets.token_hex(4)
    results: list[Element] = []

    def collect(message: Any) -> None:
        result = message.xml.find(f"{{{MAM}}}result")
        if result.get("queryid") == query_id:
            results.append(result)

    # slixmpp's own "message" event skips messages without a top-level body.
    matcher = MatchXPath(f"{{{CLIENT}}}message/{{{MAM}}}result")
    client.register_handler(Callback(f"mam-{query_id}", matcher, collect))
    to_attr = f" to='{to}'" if to else ""
    try:
        answer = await client.raw_iq(
            f"<iq type='set'{to_attr}><query xmlns='{MAM}' queryid='{query_id}'>{inner}</query></iq>"
        )
    finally:
        client.remove_handler(f"mam-{query_id}")
    if answer["type"] != "result":
        return answer
    fin = answer.xml.find(f"{{{MAM}}}fin")
    rsm = fin.find(f"{{{RSM}}}set")
    count = rsm.findtext(f"{{{RSM}}}count")
    messages = [r.find(f"{{{FORWARD}}}forwarded/{{{CLIENT}}}message") for r in results]
    return Page(
        ids=[r.get("id") for r in results],
        bodies=[m.findtext(f"{{{CLIENT}}}body") for m in messages],
        messages=messages,
        complete=fin.get("complete") == "true",
        first=rsm.findtext(f"{{{RSM}}}first"),
        last=rsm.findtext(f"{{{RSM}}}last"),
        count=None if count is None else int(count),
    )


async def _receive(client: XMPPClient, n: int) -> list[Any]:
    got = []
    async with asyncio.timeout(TIMEOUT):
        while len(got) < n:
            message = await client.next_message()
            if message["body"]:
                got.append(message)
    return got


def _shape(element: Element) -> tuple[Any, ...]:
    """An element as comparable data, without XEP-0359 stanza-ids."""
    children = [c for c in element if c.tag != f"{{{SID}}}stanza-id"]
    return (
        element.tag,
        sorted(element.attrib.items()),
        (element.text or "").strip(),
        [_shape(c) for c in children],
    )


def _error(answer: Any) -> str:
    assert answer["type"] == "error", answer
    return str(answer["error"]["condition"])


async def test_archive_holds_only_the_routed_ciphertext(server: Server, tmp_path: Path) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    secret = "meet me at the old mill at midnight"
    ciphertext = base64.b64encode(secrets.token_bytes(300)).decode()
    fallback = "This message is encrypted (OpenPGP for XMPP)."
    port = server_port(server)
    async with connected(alice, PASSWORD, port) as a, connected(bob, PASSWORD, port) as b:
        a.send_raw(
            f"<message to='{bob}' type='chat' id='ox1'><body>{fallback}</body>"
            f"<openpgp xmlns='{OX}'>{ciphertext}</openpgp>"
            "<encryption xmlns='urn:xmpp:eme:0' namespace='urn:xmpp:openpgp:0'/>"
            "<store xmlns='urn:xmpp:hints'/></message>"
        )
        (received,) = await _receive(b, 1)
    archive = server.storage.archive("mam")
    (in_bob,) = await archive.query(bob)
    (in_alice,) = await archive.query(alice)
    assert (in_bob.with_jid, in_alice.with_jid) == (alice, bob)
    for item in (in_bob, in_alice):
        assert secret not in item.payload
        stored = parse_document(item.payload.encode())
        assert stored.findtext(f"{{{OX}}}openpgp") == ciphertext
        assert stored.findtext(f"{{{CLIENT}}}body") == fallback
        # Exactly what was routed: what Bob's client got, less the stanza-id added for him.
        assert _shape(stored) == _shape(received.xml)
    (stanza_id,) = received.xml.findall(f"{{{SID}}}stanza-id")
    assert (stanza_id.get("by"), stanza_id.get("id")) == (bob, in_bob.id)
    # The database files themselves: the ciphertext is there, the plaintext nowhere.
    raw = b"".join(p.read_bytes() for p in (tmp_path / "server").glob("ironwall.db*"))
    assert ciphertext.encode() in raw
    assert secret.encode() not in raw


async def test_paging_25_messages_forward_and_backward(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    await befriend(server, alice, bob)  # 25 messages in a row are more than a stranger may send
    port = server_port(server)
    async with connected(alice, PASSWORD, port) as a, connected(bob, PASSWORD, port) as b:
        for n in range(25):
            a.send_message(mto=bob, mbody=f"m{n}", mtype="chat")
        await _receive(b, 25)
        expected = [f"m{n}" for n in range(25)]

        forward, after = [], ""
        for size, complete in ((10, False), (10, False), (5, True)):
            page = await query(b, _rsm(max="10", **({"after": after} if after else {})))
            assert (len(page.ids), page.complete, page.count) == (size, complete, 25)
            assert (page.first, page.last) == (page.ids[0], page.ids[-1])
            forward += page.bodies
            after = page.last
        assert forward == expected

        backward: list[str | None] = []
        before = ""
        for size, complete in ((10, False), (10, False), (5, True)):
            page = await query(b, _rsm(max="10", before=before))
            assert (len(page.ids), page.complete) == (size, complete)
            backward = page.bodies + backward
            before = page.first
        assert backward == expected

        flipped = await query(b, _rsm(max="3", before="") + "<flip-page/>")
        assert flipped.bodies == ["m24", "m23", "m22"]
        empty = await query(b, _rsm(max="0"))
        assert (empty.ids, empty.complete, empty.count) == ([], False, 25)
        # The sender's archive has the same 25; slixmpp's own MAM paging agrees, both ways.
        a.register_plugin("xep_0313")
        mam = a.plugin["xep_0313"]
        for reverse in (False, True):
            bodies = [
                m["mam_result"]["forwarded"]["stanza"]["body"]
                async for m in mam.iterate(rsm={"max": 10}, reverse=reverse)
            ]
            assert bodies == (expected[::-1] if reverse else expected)


async def test_filters_by_contact_and_time(server: Server) -> None:
    alice, bob, carol = await add_users(server, "alice", "bob", "carol")
    port = server_port(server)
    async with (
        connected(alice, PASSWORD, port) as a,
        connected(bob, PASSWORD, port) as b,
        connected(f"{carol}/phone", PASSWORD, port) as c,
    ):
        a.send_message(mto=bob, mbody="a1", mtype="chat")
        c.send_message(mto=bob, mbody="c1", mtype="chat")
        await _receive(b, 2)
        middle = datetime.datetime.now(datetime.UTC)
        await asyncio.sleep(0.01)
        a.send_message(mto=bob, mbody="a2", mtype="chat")
        await _receive(b, 1)
        b.send_message(mto=f"{carol}/phone", mbody="b1", mtype="chat")
        await _receive(c, 1)
        with_alice = await query(b, _form(**{"with": alice}))
        assert (with_alice.bodies, with_alice.count) == (["a1", "a2"], 2)
        with_carol_phone = await query(b, _form(**{"with": f"{carol}/phone"}))
        assert (with_carol_phone.bodies, with_carol_phone.count) == (["c1", "b1"], None)
        assert (await query(b, _form(**{"with": f"{carol}/laptop"}))).bodies == []
        since = await query(b, _form(start=middle.isoformat()))
        assert (since.bodies, since.count) == (["a2", "b1"], None)
        until = await query(b, _form(end=middle.strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
        assert until.bodies == ["a1", "c1"]
        both = await query(b, _form(start=middle.isoformat(), **{"with": alice}))
        assert both.bodies == ["a2"]


async def test_what_is_archived_and_forged_stanza_ids(server: Server) -> None:
    alice, bob = await add_users(server, "alice", "bob")
    port = server_port(server)
    async with connected(alice, PASSWORD, port) as a, connected(bob, PASSWORD, port) as b:
        omemo = (
            "<encrypted xmlns='eu.siacs.conversations.axolotl'><payload>AAAA</payload></encrypted>"
        )
        a.send_raw(f"<message to='{bob}' type='chat' id='omemo'>{omemo}</message>")
        a.send_raw(
            f"<message to='{bob}' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>"
        )
        a.send_raw(
            f"<message to='{bob}' type='chat'><body>off the record</body><no-store xmlns='urn:xmpp:hints'/></message>"
        )
        a.send_raw(f"<message to='{bob}' type='headline'><body>news</body></message>")
        a.send_raw(
            f"<message to='{bob}' type='chat' id='forged'><body>kept</body>"
            f"<stanza-id xmlns='{SID}' by='{bob}' id='forged-id'/></message>"
        )
        *_others, kept = await _receive(b, 3)
        assert kept["id"] == "forged"
        ids = kept.xml.findall(f"{{{SID}}}stanza-id")
        assert [i.get("id") for i in ids] != ["forged-id"]
        assert len(ids) == 1
        page = await query(b)
        assert [m.get("id") for m in page.messages] == ["omemo", "forged"]
        assert page.ids[1] == ids[0].get("id")


async def test_prefs_never_and_roster(server: Server) -> None:
    alice, bob, carol = await add_users(server, "alice", "bob", "carol")
    roster = server.module("roster")
    await roster.save(JID.parse(bob), RosterItem(JID.parse(carol), "both"))  # type: ignore[attr-defined]
    port = server_port(server)
    async with (
        connected(alice, PASSWORD, port) as a,
        connected(bob, PASSWORD, port) as b,
        connected(carol, PASSWORD, port) as c,
    ):
        never = await b.raw_iq(
            f"<iq type='set'><prefs xmlns='{MAM}' default='always'>"
            f"<always/><never><jid>{alice}/anything</jid></never></prefs></iq>"
        )
        assert never["type"] == "result"
        a.send_message(mto=bob, mbody="not for bob's archive", mtype="chat")
        (message,) = await _receive(b, 1)
        assert message.xml.find(f"{{{SID}}}stanza-id") is None
        assert (await query(b)).bodies == []
        assert (await query(a)).bodies == ["not for bob's archive"]
        stored = await b.raw_iq(f"<iq type='get'><prefs xmlns='{MAM}'/></iq>")
        prefs = stored.xml.find(f"{{{MAM}}}prefs")
        assert prefs.get("default") == "always"
        assert [j.text for j in prefs.iter(f"{{{MAM}}}jid")] == [alice]

        roster_only = await b.raw_iq(f"<iq type='set'><prefs xmlns='{MAM}' default='roster'/></iq>")
        assert roster_only["type"] == "result"
        a.send_message(mto=bob, mbody="alice is no contact", mtype="chat")
        c.send_message(mto=bob, mbody="carol is a contact", mtype="chat")
        await _receive(b, 2)
        assert (await query(b)).bodies == ["carol is a contact"]
        bad = await b.raw_iq(f"<iq type='set'><prefs xmlns='{MAM}' default='sometimes'/></iq>")
        assert _error(bad) == "bad-request"


async def test_errors_and_page_size_limit(tmp_path: Path) -> None:
    async with running_server(tmp_path / "d", limits={"mam_max_page": 5}) as server:
        alice, bob = await add_users(server, "alice", "bob")
        port = server_port(server)
        async with connected(alice, PASSWORD, port) as a, connected(bob, PASSWORD, port) as b:
            for n in range(7):
                a.send_message(mto=bob, mbody=f"m{n}", mtype="chat")
            await _receive(b, 7)
            capped = await query(b, _rsm(max="50"))
            assert (len(capped.ids), capped.complete) == (5, False)
            unknown = "0000000000000fff"
            assert _error(await query(b, _rsm(after=unknown))) == "item-not-found"
            assert _error(await query(b, _rsm(before="not an id"))) == "item-not-found"
            # Alice's archive ids are not Bob's.
            alice_id = (await query(a)).ids[0]
            bob_ids = (await query(b)).ids
            assert alice_id not in bob_ids
            assert _error(await query(b, _rsm(after=alice_id))) == "item-not-found"
            assert _error(await query(b, _form(start="yesterday"))) == "bad-request"
            assert _error(await query(b, _form(colour="blue"))) == "bad-request"
            assert _error(await query(b, _form(**{"with": "@@"}))) == "jid-malformed"
            assert _error(await query(b, to=alice)) == "forbidden"
            info = await b.raw_iq(f"<iq type='get' to='{bob}'><query xmlns='{DISCO_INFO}'/></iq>")
            features = {f.get("var") for f in info.xml.iter(f"{{{DISCO_INFO}}}feature")}
            assert {MAM, SID} <= features
            fields = await b.raw_iq(f"<iq type='get'><query xmlns='{MAM}'/></iq>")
            names = {f.get("var") for f in fields.xml.iter("{jabber:x:data}field")}
            assert names == {"FORM_TYPE", "with", "start", "end"}
            metadata = await b.raw_iq(f"<iq type='get'><metadata xmlns='{MAM}'/></iq>")
            start = metadata.xml.find(f"{{{MAM}}}metadata/{{{MAM}}}start")
            end = metadata.xml.find(f"{{{MAM}}}metadata/{{{MAM}}}end")
            newest = (await query(b, _rsm(max="1", before=""))).ids
            assert (start.get("id"), [end.get("id")]) == (bob_ids[0], newest)


async def test_retention_deletes_old_messages_at_start(tmp_path: Path) -> None:
    data = tmp_path / "d"
    old = time.time() - 3 * 86400
    async with running_server(data, limits={"mam_retention_days": 2}) as server:
        (alice,) = await add_users(server, "alice")
        archive = server.storage.archive("mam")
        for n in range(3):
            await archive.append(alice, f"<old n='{n}'/>", with_jid="bob@localhost", when=old)
        await archive.append(alice, "<recent/>", with_jid="bob@localhost")
    async with running_server(data, limits={"mam_retention_days": 2}) as server:
        archive = server.storage.archive("mam")
        # Expiry runs in the background from the start: wait for it, boundedly.
        for _ in range(250):
            if await archive.count(alice) == 1:
                break
            await asyncio.sleep(0.02)
        assert [i.payload for i in await archive.query(alice)] == ["<recent/>"]
    async with running_server(data, limits={"mam_retention_days": 0}) as server:
        archive = server.storage.archive("mam")
        await archive.append(alice, "<ancient/>", with_jid="bob@localhost", when=old)
        assert await server.module("mam").expire() == 0  # type: ignore[attr-defined]
        assert await archive.count(alice) == 2

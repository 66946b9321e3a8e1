"""XEP-0373 keys in PEP: publishing one's own, fetching contacts', and the sealed secret key.

Public keys use the XEP-0373 nodes, so other OX clients (go-sendxmpp, profanity)
find them: ``urn:xmpp:openpgp:0:public-keys`` lists the fingerprints, and
``urn:xmpp:openpgp:0:public-keys:FPR`` holds each key, both readable by anyone.
The passphrase-sealed secret key lives in an owner-only node of its own
(``urn:ironwall:sealed-secret-key:0``); its format is Ironwall's (spec/e2e.md), not the
XEP-0373 backup format, so it must not sit where other OX clients look for theirs. The
contacts the user verified live in another owner-only node, sealed to the account's own
key, so that every device of the account shows them verified.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from xml.etree import ElementTree as ET
from xml.sax.saxutils import quoteattr

from ironwall.client.xmpp import Connection, IqFailed
from ironwall.e2e import InvalidKey, PublicKey

__all__ = [
    "KEYS_NODE",
    "SEALED_KEY_NODE",
    "fetch_public_keys",
    "fetch_sealed_key",
    "fetch_verified_record",
    "key_node",
    "publish_public_key",
    "store_sealed_key",
    "store_verified_record",
]

OX = "urn:xmpp:openpgp:0"
KEYS_NODE = "urn:xmpp:openpgp:0:public-keys"
SEALED_KEY_NODE = "urn:ironwall:sealed-secret-key:0"
#: Owner-only node: the contacts this account verified, as a private record (spec/e2e.md §6.3).
VERIFIED_NODE = "urn:ironwall:verified-contacts:0"
_PUBSUB = "http://jabber.org/protocol/pubsub"
_MAX_KEYS = 8


def key_node(fingerprint: str) -> str:
    """The node that holds one public key."""
    return f"{KEYS_NODE}:{fingerprint}"


def _stamp(when: dt.datetime | None = None) -> str:
    return (when or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _publish_options(access_model: str) -> str:
    return (
        "<publish-options><x xmlns='jabber:x:data' type='submit'>"
        "<field var='FORM_TYPE' type='hidden'>"
        "<value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
        f"<field var='pubsub#access_model'><value>{access_model}</value></field>"
        "<field var='pubsub#persist_items'><value>true</value></field>"
        "</x></publish-options>"
    )


async def _publish(
    conn: Connection, node: str, item_id: str, payload: str, access_model: str
) -> None:
    await conn.request(
        f"<iq type='set'><pubsub xmlns='{_PUBSUB}'>"
        f"<publish node={quoteattr(node)}><item id={quoteattr(item_id)}>{payload}</item></publish>"
        f"{_publish_options(access_model)}</pubsub></iq>"
    )


async def _items(conn: Connection, jid: str | None, node: str) -> list[ET.Element]:
    to = f" to={quoteattr(jid)}" if jid else ""
    try:
        answer = await conn.request(
            f"<iq type='get'{to}><pubsub xmlns='{_PUBSUB}'>"
            f"<items node={quoteattr(node)} max_items='1'/></pubsub></iq>"
        )
    except IqFailed as exc:
        # Prosody answers "forbidden", not "item-not-found", for another account's node
        # that does not exist (or is closed to us): either way we can see no items.
        if exc.condition == "item-not-found" or (jid is not None and exc.condition == "forbidden"):
            return []
        raise
    return answer.findall(f".//{{{_PUBSUB}}}item")


async def publish_public_key(conn: Connection, key: PublicKey) -> None:
    """Publish ``key`` and make it the only key listed for the account."""
    stamp = _stamp()
    data = base64.b64encode(key.to_bytes()).decode()
    await _publish(
        conn,
        key_node(key.fingerprint),
        stamp,
        f"<pubkey xmlns='{OX}' date='{stamp}'><data>{data}</data></pubkey>",
        "open",
    )
    await _publish(
        conn,
        KEYS_NODE,
        "current",
        f"<public-keys-list xmlns='{OX}'>"
        f"<pubkey-metadata v4-fingerprint='{key.fingerprint}' date='{stamp}'/></public-keys-list>",
        "open",
    )


async def announced_fingerprints(conn: Connection, jid: str) -> list[str]:
    """The fingerprints ``jid`` lists in its metadata node (empty if none)."""
    items = await _items(conn, jid, KEYS_NODE)
    if not items:
        return []
    fingerprints = []
    for meta in items[0].iter(f"{{{OX}}}pubkey-metadata"):
        fingerprint = (meta.get("v4-fingerprint") or "").upper()
        if len(fingerprint) == 40 and all(c in "0123456789ABCDEF" for c in fingerprint):
            fingerprints.append(fingerprint)
    return fingerprints[:_MAX_KEYS]


async def fetch_key(conn: Connection, jid: str, fingerprint: str) -> PublicKey | None:
    """The key ``fingerprint`` of ``jid``, if published, valid and really that key."""
    for item in await _items(conn, jid, key_node(fingerprint)):
        data = item.find(f"{{{OX}}}pubkey/{{{OX}}}data")
        if data is None or not data.text:
            continue
        try:
            key = PublicKey.from_bytes(base64.b64decode(data.text.strip(), validate=True))
        except (InvalidKey, binascii.Error, ValueError):
            continue
        # The node name is only a claim: the key must be the one its name says.
        if key.fingerprint == fingerprint:
            return key
    return None


async def fetch_public_keys(conn: Connection, jid: str) -> tuple[list[str], list[PublicKey]]:
    """``jid``'s announced fingerprints, and the keys among them that could be fetched."""
    fingerprints = await announced_fingerprints(conn, jid)
    keys = []
    for fingerprint in fingerprints:
        key = await fetch_key(conn, jid, fingerprint)
        if key is not None:
            keys.append(key)
    return fingerprints, keys


async def store_sealed_key(conn: Connection, blob: bytes) -> None:
    """Store the sealed secret key in the owner-only node."""
    data = base64.b64encode(blob).decode()
    await _publish(
        conn,
        SEALED_KEY_NODE,
        "current",
        f"<sealed-key xmlns='urn:ironwall:0'>{data}</sealed-key>",
        "whitelist",
    )


async def fetch_sealed_key(conn: Connection) -> bytes | None:
    """The account's sealed secret key, or None if it has none."""
    for item in await _items(conn, None, SEALED_KEY_NODE):
        element = item.find("{urn:ironwall:0}sealed-key")
        if element is not None and element.text:
            try:
                return base64.b64decode(element.text.strip(), validate=True)
            except (binascii.Error, ValueError):
                return None
    return None


async def store_verified_record(conn: Connection, sealed: str) -> None:
    """Publish the sealed record of verified contacts (owner-only)."""
    await _publish(
        conn,
        VERIFIED_NODE,
        "current",
        f"<verified xmlns='urn:ironwall:0'>{sealed}</verified>",
        "whitelist",
    )


async def fetch_verified_record(conn: Connection) -> str | None:
    """The sealed record of verified contacts, or None if there is none."""
    for item in await _items(conn, None, VERIFIED_NODE):
        element = item.find("{urn:ironwall:0}verified")
        if element is not None and element.text:
            return element.text.strip()
    return None

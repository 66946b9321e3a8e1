"""Requests a client sends about its own account, as raw XML, and reading their answers.

For the attack tests: revocation (``urn:ironwall:account:0``), XEP-0077 password
changes, and publishing an OX public key in PEP (XEP-0373).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
from dataclasses import dataclass
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from support.raw import SASL, STREAM, RawClient, xml_text

ACCOUNT = "urn:ironwall:account:0"
CLIENT = "jabber:client"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
PUBSUB = "http://jabber.org/protocol/pubsub"
OWNER = PUBSUB + "#owner"
DATA = "jabber:x:data"
REGISTER = "jabber:iq:register"
OX = "urn:xmpp:openpgp:0"
PUBLIC_KEYS = "urn:xmpp:openpgp:0:public-keys"
FINGERPRINT = "0123456789ABCDEF0123456789ABCDEF01234567"
KEY_NODE = f"{PUBLIC_KEYS}:{FINGERPRINT}"

_ids = itertools.count()


def new_id() -> str:
    """A fresh stanza id."""
    return f"t{next(_ids)}"


@dataclass(frozen=True)
class Token:
    """A revocation token and what the server is told of it."""

    secret: bytes

    @classmethod
    def new(cls) -> Token:
        return cls(secrets.token_bytes(32))

    @property
    def verifier(self) -> str:
        return base64.b64encode(hashlib.sha256(self.secret).digest()).decode()

    @property
    def token(self) -> str:
        return base64.b64encode(self.secret).decode()


def register_verifier(verifier: str, stanza_id: str = "") -> str:
    return (
        f"<iq type='set' id='{stanza_id or new_id()}'><revocation xmlns='{ACCOUNT}'>"
        f"<verifier>{verifier}</verifier></revocation></iq>"
    )


def query_verifier(stanza_id: str = "") -> str:
    return f"<iq type='get' id='{stanza_id or new_id()}'><revocation xmlns='{ACCOUNT}'/></iq>"


def revoke(token: str, stanza_id: str = "") -> str:
    return (
        f"<iq type='set' id='{stanza_id or new_id()}'><revoke xmlns='{ACCOUNT}'>"
        f"<token>{token}</token></revoke></iq>"
    )


def publish_key(data: str, stanza_id: str = "", node: str = KEY_NODE) -> str:
    """Publish an OX public key item to ``node`` in an open node (XEP-0373 §4.1)."""
    return (
        f"<iq type='set' id='{stanza_id or new_id()}'><pubsub xmlns='{PUBSUB}'>"
        f"<publish node='{node}'><item id='2024-01-01T00:00:00Z'>"
        f"<pubkey xmlns='{OX}'><data>{data}</data></pubkey></item></publish>"
        f"<publish-options><x xmlns='{DATA}' type='submit'>"
        f"<field var='FORM_TYPE' type='hidden'><value>{PUBSUB}#publish-options</value></field>"
        "<field var='pubsub#access_model'><value>open</value></field>"
        "</x></publish-options></pubsub></iq>"
    )


def fetch_key(owner: str, stanza_id: str = "", node: str = KEY_NODE) -> str:
    return (
        f"<iq type='get' id='{stanza_id or new_id()}' to='{owner}'><pubsub xmlns='{PUBSUB}'>"
        f"<items node='{node}'/></pubsub></iq>"
    )


def change_password(username: str, password: str, stanza_id: str = "") -> str:
    """XEP-0077 §3.3's plain password change."""
    return (
        f"<iq type='set' id='{stanza_id or new_id()}' to='localhost'><query xmlns='{REGISTER}'>"
        f"<username>{escape(username)}</username><password>{escape(password)}</password>"
        "</query></iq>"
    )


def change_password_form(username: str, old: str, new: str, stanza_id: str = "") -> str:
    """XEP-0077 §3.3's password change with the old password, as a data form."""

    def field(var: str, value: str, kind: str = "text-private") -> str:
        return f"<field type='{kind}' var='{var}'><value>{escape(value)}</value></field>"

    return (
        f"<iq type='set' id='{stanza_id or new_id()}' to='localhost'><query xmlns='{REGISTER}'>"
        f"<x xmlns='{DATA}' type='submit'>"
        + field("FORM_TYPE", "jabber:iq:register:changepassword", "hidden")
        + field("username", username, "text-single")
        + field("old_password", old)
        + field("password", new)
        + "</x></query></iq>"
    )


def stanza_id_of(xml: str) -> str:
    start = xml.index("id='") + 4
    return xml[start : xml.index("'", start)]


async def answer(client: RawClient, stanza_id: str) -> Element:
    """The server's ``<iq>`` answer to ``stanza_id``, skipping everything else."""
    while True:
        element = await client.next_element()
        if element.tag == f"{{{CLIENT}}}iq" and element.get("id") == stanza_id:
            return element


async def ask(client: RawClient, xml: str) -> Element:
    """Send one iq and return its answer."""
    await client.send(xml.encode())
    return await answer(client, stanza_id_of(xml))


def stanza_error(iq: Element) -> tuple[str, str | None]:
    """The condition and text of an error answer."""
    assert iq.get("type") == "error", xml_text(iq)
    error = iq.find(f"{{{CLIENT}}}error")
    assert error is not None, xml_text(iq)
    (condition,) = [c.tag.split("}")[1] for c in error if c.tag != f"{{{STANZAS}}}text"]
    return condition, error.findtext(f"{{{STANZAS}}}text")


def sasl_failure_text(client: RawClient) -> str | None:
    """The ``<text/>`` of the last SASL failure the server sent on the current stream."""
    failures = [e for e in client.view.elements if e.tag == f"{{{SASL}}}failure"]
    assert failures, bytes(client.view.received)
    return failures[-1].findtext(f"{{{SASL}}}text")


def is_stream_error(element: Element) -> bool:
    return element.tag == f"{{{STREAM}}}error"

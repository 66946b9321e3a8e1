"""Small helpers for tests that speak raw XMPP (``raw.RawClient``): build, wait, read errors."""

from __future__ import annotations

from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

from support.raw import RawClient, xml_text
from support.users import PASSWORD

CLIENT = "jabber:client"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


async def online(port: int, name: str, resource: str | None = None) -> RawClient:
    """``name@localhost`` logged in and available (its presence echo already read)."""
    client = await RawClient.logged_in(port, name, PASSWORD, resource)
    await client.send(b"<presence/>")
    await next_of(client, "presence")
    return client


def message(to: str, body: str, stanza_id: str = "", kind: str = "chat") -> bytes:
    """A chat message as bytes."""
    sid = f" id={quoteattr(stanza_id)}" if stanza_id else ""
    return (
        f"<message to={quoteattr(to)} type='{kind}'{sid}><body>{escape(body)}</body></message>"
    ).encode()


async def next_of(client: RawClient, name: str, timeout: float = 10.0) -> Element:
    """The client's next ``<name>`` stanza (message, presence, iq), skipping others."""
    while True:
        element = await client.next_element(timeout)
        if element.tag == f"{{{CLIENT}}}{name}":
            return element


async def synced(client: RawClient) -> list[Element]:
    """Everything the server sent the client until it answered a ping sent now.

    A connection's stanzas are handled in order, so the answer comes after the server
    has dealt with everything the client sent before it.
    """
    await client.send(b"<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    seen = []
    while True:
        element = await client.next_element()
        if element.tag == f"{{{CLIENT}}}iq" and element.get("id") == "sync":
            assert element.get("type") == "result", xml_text(element)
            return seen
        seen.append(element)


def error_of(stanza: Element) -> tuple[str, str | None]:
    """The defined condition and the text of an error stanza."""
    assert stanza.get("type") == "error", xml_text(stanza)
    error = stanza.find(f"{{{CLIENT}}}error")
    assert error is not None, xml_text(stanza)
    conditions = [c.tag.split("}")[1] for c in error if c.tag != f"{{{STANZAS}}}text"]
    assert len(conditions) == 1, xml_text(stanza)
    return conditions[0], error.findtext(f"{{{STANZAS}}}text")


def body_of(stanza: Element) -> str | None:
    """The body of a message."""
    return stanza.findtext(f"{{{CLIENT}}}body")

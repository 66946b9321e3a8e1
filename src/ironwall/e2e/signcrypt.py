"""The XEP-0374 `<signcrypt>` element: the plaintext inside every OpenPGP message we seal.

Pure XML, no crypto. Built with `ironwall.xml.serialize` and read back with the hardened
`ironwall.xml.parse_document`, because decrypted content is attacker-controlled: anyone
holding a recipient's public key can encrypt arbitrary bytes to it.

    <signcrypt xmlns='urn:xmpp:openpgp:0'>
      <to jid='juliet@example.org'/>
      <time stamp='2025-01-01T12:00:00Z'/>
      <rpad>random-length padding</rpad>
      <payload>
        <body xmlns='jabber:client'>text</body>
        <origin-id xmlns='urn:xmpp:sid:0' id='...'/>
      </payload>
    </signcrypt>
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from ironwall.xml import XMLPolicyError, element, parse_document, serialize

__all__ = ["MalformedSigncrypt", "Signcrypt", "build_signcrypt", "parse_signcrypt"]

NS_OX = "urn:xmpp:openpgp:0"
NS_CLIENT = "jabber:client"
NS_SID = "urn:xmpp:sid:0"

MAX_SIGNCRYPT_BYTES = 1024 * 1024
"""Largest decrypted `<signcrypt>` read; well above the largest body a client may seal."""
MAX_ORIGIN_ID_CHARS = 256
"""Longest origin-id accepted; it is stored in the replay cache, so it is kept short."""
_MAX_DEPTH = 16

_SIGNCRYPT = f"{{{NS_OX}}}signcrypt"
_TO = f"{{{NS_OX}}}to"
_TIME = f"{{{NS_OX}}}time"
_RPAD = f"{{{NS_OX}}}rpad"
_PAYLOAD = f"{{{NS_OX}}}payload"
_BODY = f"{{{NS_CLIENT}}}body"
_ORIGIN_ID = f"{{{NS_SID}}}origin-id"
# XEP-0082 DateTime: CCYY-MM-DDThh:mm:ss[.sss]TZD
_STAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})", re.ASCII
)


class MalformedSigncrypt(ValueError):
    """The decrypted content is not a `<signcrypt>` element we can read."""


@dataclass(frozen=True, slots=True)
class Signcrypt:
    """The meaningful content of a `<signcrypt>` element (the padding is not kept)."""

    recipients: tuple[str, ...]
    timestamp: dt.datetime
    body: str
    origin_id: str | None


def build_signcrypt(content: Signcrypt, rpad: str) -> bytes:
    """Serialize `content` with `rpad` as padding. ValueError for text XML cannot hold."""
    payload = [element(_BODY, text=content.body)]
    if content.origin_id is not None:
        payload.append(element(_ORIGIN_ID, {"id": content.origin_id}))
    root = element(
        _SIGNCRYPT,
        None,
        *(element(_TO, {"jid": jid}) for jid in content.recipients),
        element(_TIME, {"stamp": format_stamp(content.timestamp)}),
        element(_RPAD, text=rpad),
        element(_PAYLOAD, None, *payload),
    )
    return serialize(root)


def parse_signcrypt(data: bytes) -> Signcrypt:
    """Read a decrypted `<signcrypt>`; raise `MalformedSigncrypt` if it is not one."""
    try:
        root = parse_document(data, max_bytes=MAX_SIGNCRYPT_BYTES, max_depth=_MAX_DEPTH)
    except XMLPolicyError as exc:
        raise MalformedSigncrypt("not well-formed or not allowed XML") from exc
    if root.tag != _SIGNCRYPT:
        raise MalformedSigncrypt("the root element is not <signcrypt>")
    recipients = tuple(to.get("jid", "") for to in root.findall(_TO))
    if not recipients or not all(recipients):
        raise MalformedSigncrypt("<signcrypt> names no recipient")
    stamp = _only(root, _TIME).get("stamp")
    if stamp is None:
        raise MalformedSigncrypt("<time> has no stamp")
    payload = _only(root, _PAYLOAD)
    body = _only(payload, _BODY)
    if len(body):
        raise MalformedSigncrypt("<body> holds elements")
    origin_ids = payload.findall(_ORIGIN_ID)
    if len(origin_ids) > 1:
        raise MalformedSigncrypt("more than one origin-id")
    origin_id = origin_ids[0].get("id") if origin_ids else None
    if origin_ids and (not origin_id or len(origin_id) > MAX_ORIGIN_ID_CHARS):
        raise MalformedSigncrypt("bad origin-id")
    return Signcrypt(recipients, parse_stamp(stamp), body.text or "", origin_id)


def format_stamp(when: dt.datetime) -> str:
    """XEP-0082 DateTime in UTC to the second, as go-sendxmpp writes it."""
    if when.tzinfo is None:
        raise ValueError("the time must be timezone-aware")
    # Not strftime: its %Y drops the leading zeros of a year before 1000 on glibc.
    return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def parse_stamp(text: str) -> dt.datetime:
    """Parse a XEP-0082 DateTime into an aware datetime; `MalformedSigncrypt` if it is not one."""
    match = _STAMP.fullmatch(text)
    if match is None:
        raise MalformedSigncrypt("the time stamp is not a XEP-0082 DateTime")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    offset = dt.timedelta(0)
    if zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        offset = sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    try:
        return dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=dt.timezone(offset),
        ).astimezone(dt.UTC)
    except (ValueError, OverflowError) as exc:
        raise MalformedSigncrypt("the time stamp is out of range") from exc


def _only(parent: Element, tag: str) -> Element:
    found = parent.findall(tag)
    if len(found) != 1:
        raise MalformedSigncrypt(f"expected exactly one {tag}")
    return found[0]

"""Top-level OpenPGP packet framing (RFC 9580 §4.2), read before anything is decrypted.

Hand-written because the check must not parse what is inside packets: pysequoia's packet
parser would inflate a compressed packet of a sign-only message, and the framing is all the
receiver needs to tell "encrypted to my key" from "signed only" or "not for me". It reads
headers and PKESK recipient fields only; everything cryptographic stays with pysequoia.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Framing", "FramingError", "read_packets"]

TAG_PKESK = 1
TAG_SIGNATURE = 2
TAG_ONE_PASS_SIGNATURE = 4
TAG_COMPRESSED = 8
TAG_SED = 9
TAG_LITERAL = 11
TAG_SEIP = 18
TAG_AED = 20
SIGNED_OR_PLAIN_TAGS = frozenset(
    {TAG_SIGNATURE, TAG_ONE_PASS_SIGNATURE, TAG_COMPRESSED, TAG_LITERAL}
)
# Only these packets may use partial body lengths (RFC 9580 §4.2.1.4).
_PARTIAL_OK = frozenset({TAG_COMPRESSED, TAG_SED, TAG_LITERAL, TAG_SEIP, TAG_AED})
_PKESK_V3 = 3
_PKESK_V6 = 6
_V3_KEY_ID_END = 9
_V4_KEY = 4


class FramingError(ValueError):
    """The bytes are not a sequence of well-framed OpenPGP packets."""


@dataclass(frozen=True, slots=True)
class Framing:
    """A top-level packet: its tag and, for a PKESK, the recipient it names."""

    tag: int
    recipient: str | None = None
    """Lower-case hex key ID (v3) or v4 fingerprint (v6); None for other packets and keys."""
    wildcard: bool = False
    """A PKESK that hides its recipient: any key may be the one."""


def read_packets(data: bytes) -> list[Framing]:
    """Frame `data` into its top-level packets. FramingError if it does not frame exactly."""
    packets: list[Framing] = []
    pos = 0
    while pos < len(data):
        tag, body, pos = _read_packet(data, pos)
        packets.append(_pkesk(body) if tag == TAG_PKESK else Framing(tag))
    if not packets:
        raise FramingError("no packets")
    return packets


def _read_packet(data: bytes, pos: int) -> tuple[int, bytes, int]:
    first = data[pos]
    pos += 1
    if not first & 0x80:
        raise FramingError("not a packet header")
    if not first & 0x40:
        return _read_legacy(data, pos, first)
    tag = first & 0x3F
    chunks: list[bytes] = []
    while True:
        length, partial, pos = _new_length(data, pos)
        if partial and tag not in _PARTIAL_OK:
            raise FramingError("partial length on a packet that cannot have one")
        chunks.append(_take(data, pos, length))
        pos += length
        if not partial:
            return tag, b"".join(chunks), pos


def _read_legacy(data: bytes, pos: int, first: int) -> tuple[int, bytes, int]:
    tag = (first >> 2) & 0x0F
    size_bytes = {0: 1, 1: 2, 2: 4}.get(first & 0x03)
    if size_bytes is None:
        return tag, data[pos:], len(data)
    length = int.from_bytes(_take(data, pos, size_bytes), "big")
    pos += size_bytes
    return tag, _take(data, pos, length), pos + length


def _new_length(data: bytes, pos: int) -> tuple[int, bool, int]:
    octet = _take(data, pos, 1)[0]
    if octet < 192:
        return octet, False, pos + 1
    if octet < 224:
        return ((octet - 192) << 8) + _take(data, pos + 1, 1)[0] + 192, False, pos + 2
    if octet == 255:
        return int.from_bytes(_take(data, pos + 1, 4), "big"), False, pos + 5
    return 1 << (octet & 0x1F), True, pos + 1


def _take(data: bytes, pos: int, length: int) -> bytes:
    if pos + length > len(data):
        raise FramingError("truncated packet")
    return data[pos : pos + length]


def _pkesk(body: bytes) -> Framing:
    version = body[0] if body else None
    if version == _PKESK_V3 and len(body) >= _V3_KEY_ID_END:
        key_id = body[1:_V3_KEY_ID_END]
        return Framing(TAG_PKESK, key_id.hex(), wildcard=not any(key_id))
    if version == _PKESK_V6 and len(body) >= 2:
        size = body[1]
        if size == 0:
            return Framing(TAG_PKESK, wildcard=True)
        # The key-version octet comes first, then the fingerprint; only v4 keys are ours.
        fingerprint = body[3 : 2 + size]
        if len(body) >= 2 + size and fingerprint:
            return Framing(TAG_PKESK, fingerprint.hex() if body[2] == _V4_KEY else None)
    raise FramingError("unreadable PKESK")

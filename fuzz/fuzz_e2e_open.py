"""Fuzz opening received messages (ironwall.e2e.open_message), the e2e trust boundary.

Input: one option byte, then the message. Option bit 1 set: the rest is the text of the
``<openpgp>`` element as UTF-8 (non-UTF-8 bytes become lone surrogates); clear: the rest is
the binary OpenPGP message, base64-encoded by the harness, so that mutations reach the
packets. The other bits pick who reads it from whom (``CONFIGS``, from the spec vectors,
whose fixed test identities the harness uses). The time is fixed, so runs repeat.

What must hold: ``UntrustedMessage`` is the only error, and a message is accepted only if
it is signed by a key pinned for its sender.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools

from fuzz_common import fuzz, instrumented, vectors

with instrumented(__name__):
    from ironwall.e2e import (
        Identity,
        MemoryReplayCache,
        PublicKey,
        UntrustedMessage,
        open_message,
    )

NOW = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
TEXT_MODE = 1
Config = tuple[str, str, str, tuple[str, ...]]
"""Who reads (``reader``), ``outer_from``, ``outer_to``, and the keys pinned for the sender."""


def _configs() -> list[Config]:
    seen: list[Config] = []
    for vector in vectors()["messages"]:
        config = (
            vector["reader"],
            vector["outer_from"],
            vector["outer_to"],
            tuple(vector["sender_keys"]),
        )
        if config not in seen:
            seen.append(config)
    return seen


CONFIGS = _configs()


@functools.cache
def identity(jid: str) -> Identity:
    """The fixed test identity of ``jid`` from the spec vectors."""
    return Identity.import_openpgp(vectors()["identities"][jid]["secret_key"].encode())


@functools.cache
def public_key(jid: str) -> PublicKey:
    """The fixed test public key of ``jid`` from the spec vectors."""
    return PublicKey.from_bytes(base64.b64decode(vectors()["identities"][jid]["public_key"]))


def option_for(config: Config) -> int:
    """The option byte that selects ``config`` with a binary message."""
    return CONFIGS.index(config) << 1


def test_one_input(data: bytes) -> None:
    """Open the message in ``data`` as the configuration its option byte names."""
    if not data:
        return
    options, rest = data[0], data[1:]
    reader, outer_from, outer_to, sender_jids = CONFIGS[(options >> 1) % len(CONFIGS)]
    binary = not options & TEXT_MODE
    text = base64.b64encode(rest).decode() if binary else rest.decode("utf-8", "surrogateescape")
    sender_keys = [public_key(jid) for jid in sender_jids]
    try:
        opened = open_message(
            identity(reader),
            text,
            outer_from=outer_from,
            outer_to=outer_to,
            sender_keys=sender_keys,
            replay_cache=MemoryReplayCache(),
            now=NOW,
        )
    except UntrustedMessage:
        return
    assert opened.signer_fingerprint in {key.fingerprint for key in sender_keys}, opened


if __name__ == "__main__":
    fuzz(test_one_input)

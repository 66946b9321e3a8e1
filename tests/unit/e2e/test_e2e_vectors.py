"""spec/vectors/e2e-v1.json: every vector gives the outcome it states.

The vectors were made once (tests/unit/e2e/make_e2e_vectors.py), two of them by gopenpgp as
go-sendxmpp uses it, so these tests pin the wire format across versions and implementations.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from ironwall.e2e import (
    Identity,
    MemoryReplayCache,
    PublicKey,
    Reason,
    UntrustedMessage,
    WrongPassphrase,
    open_message,
    open_secret_key,
)
from ironwall.e2e.signcrypt import parse_stamp

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "spec/vectors/e2e-v1.json").read_text())
IDENTITIES: dict[str, Any] = VECTORS["identities"]


def _identity(jid: str) -> Identity:
    return Identity.import_openpgp(IDENTITIES[jid]["secret_key"].encode())


def _public(jid: str) -> PublicKey:
    return PublicKey.from_bytes(base64.b64decode(IDENTITIES[jid]["public_key"]))


def test_identities_are_consistent() -> None:
    for jid, entry in IDENTITIES.items():
        key = _public(jid)
        assert key.fingerprint == entry["fingerprint"]
        assert key.user_jids == frozenset({jid})
        assert key.is_usable()
        assert _identity(jid).public_key.fingerprint == key.fingerprint


@pytest.mark.parametrize("vector", VECTORS["messages"], ids=lambda v: v["name"])
def test_message_vector(vector: dict[str, Any]) -> None:
    def open_it() -> Any:
        return open_message(
            _identity(vector["reader"]),
            vector["text"],
            outer_from=vector["outer_from"],
            outer_to=vector["outer_to"],
            sender_keys=[_public(jid) for jid in vector["sender_keys"]],
            replay_cache=MemoryReplayCache(),
            # Signed in 2025: opened as history, the way a client reads its archive.
            max_age=None,
        )

    if "reject" in vector:
        with pytest.raises(UntrustedMessage) as caught:
            open_it()
        assert caught.value.reason is Reason(vector["reject"])
        return
    opened = open_it()
    expect = vector["expect"]
    assert opened.body == expect["body"]
    assert opened.origin_id == expect["origin_id"]
    assert opened.sent_at == parse_stamp(expect["sent_at"])
    assert opened.signer_fingerprint == expect["signer_fingerprint"]
    assert opened.sent_at < dt.datetime.now(dt.UTC)


@pytest.mark.parametrize("vector", VECTORS["sealed_keys"], ids=lambda v: v["name"])
def test_sealed_key_vector(vector: dict[str, Any]) -> None:
    blob = base64.b64decode(vector["blob"])
    fingerprint = IDENTITIES[vector["identity"]]["fingerprint"]
    assert open_secret_key(blob, vector["passphrase"]).fingerprint == fingerprint
    assert open_secret_key(blob, vector["recovery_code"]).fingerprint == fingerprint
    with pytest.raises(WrongPassphrase):
        open_secret_key(blob, vector["wrong_passphrase"])

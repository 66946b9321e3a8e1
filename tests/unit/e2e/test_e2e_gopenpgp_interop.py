"""Acceptance 3, offline half: OX messages interoperate with gopenpgp 2.5.2 as go-sendxmpp
0.5.6 uses it (oxpeer reproduces go-sendxmpp's OX message flow). The live half, with the
go-sendxmpp binary over a real server, belongs to tests/interop."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import time
from pathlib import Path

import e2e_oxpeer
import pysequoia
import pytest

from ironwall.e2e import (
    Identity,
    MemoryReplayCache,
    PublicKey,
    Reason,
    UntrustedMessage,
    open_message,
    seal_message,
)
from ironwall.e2e.keys import identity_to_secret_bytes

pytestmark = pytest.mark.interop

GOPHER = "gopher@example.org"
VECTORS = Path(__file__).resolve().parents[3] / "spec/vectors/e2e-v1.json"


@pytest.fixture(scope="module")
def oxpeer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = e2e_oxpeer.missing()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(
                f"{reason} (CI=true: scripts/install-peers.sh installs them)", pytrace=False
            )
        pytest.skip(reason)
    return e2e_oxpeer.build(tmp_path_factory.mktemp("oxpeer"))


@pytest.fixture(scope="module")
def gopher(oxpeer: Path) -> dict[str, str]:
    """A go-sendxmpp-style key: `crypto.GenerateKey("xmpp:"+jid, "", "x25519", 0)`."""
    return e2e_oxpeer.run(oxpeer, "genkey", jid=GOPHER)


def _b64(key: PublicKey) -> str:
    return base64.b64encode(key.to_bytes()).decode()


def test_go_sendxmpp_key_is_a_usable_public_key(gopher: dict[str, str]) -> None:
    key = PublicKey.from_bytes(base64.b64decode(gopher["public"]))
    assert key.user_jids == frozenset({GOPHER})
    assert key.is_usable()
    assert key.expires_at is None


@pytest.mark.parametrize("body", ["hello from go", "ünïcode ☃ & <tags>\nsecond line"])
def test_message_from_go_sendxmpp_opens_and_verifies(
    oxpeer: Path, gopher: dict[str, str], alice: Identity, body: str
) -> None:
    sent = e2e_oxpeer.run(
        oxpeer,
        "encrypt",
        secret=gopher["secret"],
        recipient=_b64(alice.public_key),
        to=alice.jid,
        body=body,
    )
    gopher_key = PublicKey.from_bytes(base64.b64decode(gopher["public"]))

    opened = open_message(
        alice,
        sent["message"],
        outer_from=f"{GOPHER}/go-sendxmpp",
        outer_to=alice.jid,
        sender_keys=[gopher_key],
        replay_cache=MemoryReplayCache(),
    )

    assert opened.body == body
    assert opened.origin_id is None
    assert opened.signer_fingerprint == gopher_key.fingerprint
    assert abs(opened.sent_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_message_from_a_clock_hours_ahead_is_a_bad_timestamp(
    oxpeer: Path, gopher: dict[str, str], alice: Identity
) -> None:
    # pysequoia refuses the signature itself (over 30 minutes ahead); the reason must
    # still name the clock, not a forgery.
    ahead = int(time.time()) + 2 * 3600
    sent = e2e_oxpeer.run(
        oxpeer,
        "encrypt",
        unix_time=ahead,
        secret=gopher["secret"],
        recipient=_b64(alice.public_key),
        to=alice.jid,
        body="from the future",
    )
    with pytest.raises(UntrustedMessage) as caught:
        open_message(
            alice,
            sent["message"],
            outer_from=GOPHER,
            outer_to=alice.jid,
            sender_keys=[PublicKey.from_bytes(base64.b64decode(gopher["public"]))],
            replay_cache=MemoryReplayCache(),
        )
    assert caught.value.reason is Reason.BAD_TIMESTAMP


def test_go_sendxmpp_message_forwarded_to_someone_else_is_rejected(
    oxpeer: Path, gopher: dict[str, str], alice: Identity
) -> None:
    sent = e2e_oxpeer.run(
        oxpeer,
        "encrypt",
        secret=gopher["secret"],
        recipient=_b64(alice.public_key),
        to="carol@example.org",
        body="for carol",
    )
    with pytest.raises(UntrustedMessage) as caught:
        open_message(
            alice,
            sent["message"],
            outer_from=GOPHER,
            outer_to=alice.jid,
            sender_keys=[PublicKey.from_bytes(base64.b64decode(gopher["public"]))],
            replay_cache=MemoryReplayCache(),
        )
    assert caught.value.reason is Reason.WRONG_RECIPIENT


@pytest.mark.parametrize("body", ["hello gopher", "ünïcode ☃ & <tags>\r\nsecond line", ""])
def test_message_sealed_here_decrypts_and_verifies_in_gopenpgp(
    oxpeer: Path, gopher: dict[str, str], alice: Identity, body: str
) -> None:
    gopher_key = PublicKey.from_bytes(base64.b64decode(gopher["public"]))
    sealed = seal_message(alice, {GOPHER: [gopher_key]}, body)

    got = e2e_oxpeer.run(
        oxpeer,
        "decrypt",
        secret=gopher["secret"],
        sender=_b64(alice.public_key),
        user=GOPHER,
        message=sealed.text,
    )

    # etree, like every XML parser, reads a literal CR as LF; we escape it, so it survives.
    assert got["body"] == body
    stamp = dt.datetime.fromisoformat(got["stamp"])
    assert abs(stamp - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_gopenpgp_rejects_our_message_when_signed_by_another_key(
    oxpeer: Path, gopher: dict[str, str], alice: Identity, mallory: Identity
) -> None:
    gopher_key = PublicKey.from_bytes(base64.b64decode(gopher["public"]))
    sealed = seal_message(mallory, {GOPHER: [gopher_key]}, "forged")
    with pytest.raises(e2e_oxpeer.OxpeerError):
        e2e_oxpeer.run(
            oxpeer,
            "decrypt",
            secret=gopher["secret"],
            sender=_b64(alice.public_key),
            user=GOPHER,
            message=sealed.text,
        )


def test_go_sendxmpp_can_import_an_ironwall_identity(oxpeer: Path, bob: Identity) -> None:
    """go-sendxmpp --ox-import-privkey takes an existing key: ours must work as gopenpgp's."""
    armored = pysequoia.armor(identity_to_secret_bytes(bob), pysequoia.ArmorKind.SecretKey)
    gopher = Identity.generate(GOPHER)
    sent = e2e_oxpeer.run(
        oxpeer,
        "encrypt",
        secret=armored,
        recipient=_b64(gopher.public_key),
        to=GOPHER,
        body="from bob's key, via gopenpgp",
    )
    opened = open_message(
        gopher,
        sent["message"],
        outer_from=bob.jid,
        outer_to=GOPHER,
        sender_keys=[bob.public_key],
        replay_cache=MemoryReplayCache(),
    )
    assert opened.body == "from bob's key, via gopenpgp"


def test_vector_for_a_go_sendxmpp_user_decrypts_in_gopenpgp(oxpeer: Path) -> None:
    vectors = json.loads(VECTORS.read_text())
    vector = next(v for v in vectors["messages"] if v["outer_to"] == GOPHER)
    gopher, alice = vectors["identities"][GOPHER], vectors["identities"]["alice@example.org"]
    got = e2e_oxpeer.run(
        oxpeer,
        "decrypt",
        secret=gopher["secret_key"],
        sender=alice["public_key"],
        user=GOPHER,
        message=vector["text"],
    )
    assert got == {"body": vector["expect"]["body"], "stamp": vector["expect"]["sent_at"]}

"""Regenerate spec/vectors/e2e-v1.json, the shared test vectors of spec/e2e.md.

Run from the repository root with the clock fixed, so every key and signature is dated
2025-01-01 (older than any real clock that will read them):

    faketime '2025-01-01 12:00:00' .venv/bin/python tests/unit/e2e/make_e2e_vectors.py

Needs oxpeer's Debian packages for the go-sendxmpp (gopenpgp) vectors (see e2e_oxpeer.py).
The keys in the output are test keys, published on purpose: never use them for anything.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

import e2e_oxpeer
import pysequoia
from e2e_forge import encrypt, sign_only, signcrypt

from ironwall.e2e import Identity, PublicKey, Reason, seal_message, seal_secret_key
from ironwall.e2e.keys import identity_to_secret_bytes
from ironwall.e2e.signcrypt import format_stamp

OUTPUT = Path(__file__).resolve().parents[3] / "spec" / "vectors" / "e2e-v1.json"
WHEN = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
PASSPHRASE = "kettle umbrella vivid orbit"
RECOVERY_CODE = "V3CT-9RSX-ABCD-EFGH-JKLM-NPQR"
ALICE = "alice@example.org"
BOB = "bob@example.org"
CAROL = "carol@example.org"
MALLORY = "mallory@example.net"
GOPHER = "gopher@example.org"
_JIDS = (ALICE, BOB, CAROL, MALLORY)


def main() -> None:
    if abs(dt.datetime.now(dt.UTC) - WHEN) > dt.timedelta(minutes=5):
        sys.exit("run under faketime '2025-01-01 12:00:00' (see the docstring)")
    reason = e2e_oxpeer.missing()
    if reason is not None:
        sys.exit(reason)
    with tempfile.TemporaryDirectory() as workdir:
        oxpeer = e2e_oxpeer.build(Path(workdir))
        vectors = _vectors(oxpeer)
    OUTPUT.write_text(json.dumps(vectors, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {OUTPUT}")


def _vectors(oxpeer: Path) -> dict[str, object]:
    people = {jid: Identity.generate(jid, valid_for=None) for jid in _JIDS}
    alice, bob, carol, mallory = (people[jid] for jid in _JIDS)
    unix = int(WHEN.timestamp())
    gopher = e2e_oxpeer.run(oxpeer, "genkey", unix_time=unix, jid=GOPHER)
    gopher_key = PublicKey.from_bytes(base64.b64decode(gopher["public"]))

    identities = {jid: _identity_entry(identity) for jid, identity in people.items()}
    identities[GOPHER] = {
        "secret_key": gopher["secret"],
        "public_key": gopher["public"],
        "fingerprint": gopher_key.fingerprint,
        "made_by": "gopenpgp 2.5.2 GenerateKey('xmpp:'+jid, '', 'x25519', 0), as go-sendxmpp",
    }

    to_bob = seal_message(
        alice,
        {bob.jid: [bob.public_key]},
        "Hello Bob! ünïcode ☃ <&>\r\n2nd line",
        origin_id="vector-1",
        now=WHEN,
    )
    to_two = seal_message(
        alice,
        {bob.jid: [bob.public_key], carol.jid: [carol.public_key]},
        "To Bob and Carol",
        origin_id="vector-2",
        now=WHEN,
    )
    to_gopher = seal_message(
        alice, {GOPHER: [gopher_key]}, "Hello gopher", origin_id="vector-3", now=WHEN
    )
    from_gopher = e2e_oxpeer.run(
        oxpeer,
        "encrypt",
        unix_time=unix,
        secret=gopher["secret"],
        recipient=base64.b64encode(alice.public_key.to_bytes()).decode(),
        to=alice.jid,
        body="Hello from go-sendxmpp",
    )["message"]
    for_bob = signcrypt(bob.jid, body="I love you", origin_id="vector-4", when=WHEN)
    flipped = bytearray(base64.b64decode(to_bob.text))
    flipped[-20] ^= 0x10

    def accepted(
        name: str, text: str, sender: str, reader: str, outer_to: str, body: str, origin: str | None
    ) -> dict[str, object]:
        signer = identities[sender]["fingerprint"]
        return {
            "name": name,
            "text": text,
            "reader": reader,
            "outer_from": sender,
            "outer_to": outer_to,
            "sender_keys": [sender],
            "expect": {
                "body": body,
                "origin_id": origin,
                "sent_at": format_stamp(WHEN),
                "signer_fingerprint": signer,
            },
        }

    def rejected(
        name: str, text: str, reader: str, reason: Reason, sender: str = ALICE
    ) -> dict[str, object]:
        return {
            "name": name,
            "text": text,
            "reader": reader,
            "outer_from": sender,
            "outer_to": reader,
            "sender_keys": [sender],
            "reject": reason.value,
        }

    body = "Hello Bob! ünïcode ☃ <&>\r\n2nd line"
    messages = [
        accepted("alice to bob", to_bob.text, ALICE, BOB, BOB, body, "vector-1"),
        accepted(
            "alice's own copy (carbon, archive)", to_bob.text, ALICE, ALICE, BOB, body, "vector-1"
        ),
        accepted(
            "two recipients, read by bob",
            to_two.text,
            ALICE,
            BOB,
            BOB,
            "To Bob and Carol",
            "vector-2",
        ),
        accepted(
            "two recipients, read by carol",
            to_two.text,
            ALICE,
            CAROL,
            CAROL,
            "To Bob and Carol",
            "vector-2",
        ),
        accepted(
            "alice to a go-sendxmpp user, alice's copy",
            to_gopher.text,
            ALICE,
            ALICE,
            GOPHER,
            "Hello gopher",
            "vector-3",
        ),
        accepted(
            "go-sendxmpp (gopenpgp) to alice, no origin-id",
            from_gopher,
            GOPHER,
            ALICE,
            ALICE,
            "Hello from go-sendxmpp",
            None,
        ),
        rejected(
            "surreptitious forwarding: alice's signcrypt for bob, encrypted to carol",
            encrypt(for_bob, [carol.public_key], signer=alice),
            CAROL,
            Reason.WRONG_RECIPIENT,
        ),
        rejected("not encrypted to the reader", to_bob.text, CAROL, Reason.NOT_FOR_ME),
        rejected(
            "one bit flipped in the encrypted data",
            base64.b64encode(flipped).decode(),
            BOB,
            Reason.CORRUPTED,
        ),
        rejected(
            "encrypted but unsigned",
            encrypt(signcrypt(BOB, when=WHEN), [bob.public_key]),
            BOB,
            Reason.NOT_SIGNED,
        ),
        rejected(
            "signed but not encrypted",
            sign_only(signcrypt(BOB, when=WHEN), alice),
            BOB,
            Reason.NOT_ENCRYPTED,
        ),
        rejected(
            "signed by mallory, claiming to be alice",
            encrypt(signcrypt(BOB, when=WHEN), [bob.public_key], signer=mallory),
            BOB,
            Reason.UNKNOWN_SENDER_KEY,
        ),
    ]
    blob = seal_secret_key(
        alice, PASSPHRASE, recovery_code=RECOVERY_CODE, insecure_fast_kdf_for_tests=True
    )
    return {
        "description": (
            "Test vectors for spec/e2e.md (Ironwall e2e, format v1). TEST KEYS ONLY. Each "
            "message is opened by `reader` with `sender_keys` pinned for `outer_from`, a fresh "
            "replay cache and the current time; `expect` or `reject` gives the outcome."
        ),
        "identities": identities,
        "messages": messages,
        "sealed_keys": [
            {
                "name": "alice, passphrase and recovery code slots (test KDF cost)",
                "identity": ALICE,
                "blob": base64.b64encode(blob).decode(),
                "passphrase": PASSPHRASE,
                "recovery_code": RECOVERY_CODE,
                "wrong_passphrase": "kettle umbrella vivid orbits",
            }
        ],
    }


def _identity_entry(identity: Identity) -> dict[str, str]:
    secret = pysequoia.armor(identity_to_secret_bytes(identity), pysequoia.ArmorKind.SecretKey)
    return {
        "secret_key": secret,
        "public_key": base64.b64encode(identity.public_key.to_bytes()).decode(),
        "fingerprint": identity.fingerprint,
        "made_by": "ironwall.e2e Identity.generate(jid, valid_for=None)",
    }


if __name__ == "__main__":
    main()

"""What the fuzzers found stays fixed, and every harness still runs on its seeds.

The harnesses live in fuzz/ (``fuzz/run.py`` runs them). Here each one's target function
runs, as plain Python, on its seed corpus and on every input that once crashed it (kept
under ``regressions/<target>/``), and each fix is also pinned by a direct test. No fuzzing
happens here, so this is fast and repeatable; test_fuzz_smoke.py fuzzes.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest
import scramp

from ironwall.e2e import (
    Identity,
    InvalidKey,
    MemoryReplayCache,
    PublicKey,
    Reason,
    UntrustedMessage,
    open_message,
)
from ironwall.e2e.signcrypt import Signcrypt, build_signcrypt, format_stamp, parse_signcrypt
from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.sasl import (
    SASLChallenge,
    SASLFailure,
    SASLServer,
    SASLSuccess,
    make_verifiers,
    mechanisms_for,
)
from ironwall.xml import StanzaReceived, StreamParser, XMLPolicyError, parse_document

FUZZ_DIR = Path(__file__).resolve().parents[3] / "fuzz"
REGRESSIONS = Path(__file__).resolve().parent / "regressions"
sys.path.insert(0, str(FUZZ_DIR))
TARGETS: tuple[str, ...] = importlib.import_module("run").TARGETS
SEEDS = [
    (target, path)
    for target in TARGETS
    for path in sorted((FUZZ_DIR / "corpus" / target).iterdir())
]
FOUND = sorted((path.parent.name, path) for path in REGRESSIONS.glob("*/*"))


def harness(target: str) -> ModuleType:
    """The harness module of ``target`` (imported without instrumentation)."""
    return importlib.import_module(f"fuzz_{target}")


def test_every_target_has_seeds_and_a_harness() -> None:
    assert {target for target, _ in SEEDS} == set(TARGETS)
    assert {target for target, _ in FOUND} <= set(TARGETS)
    for target in TARGETS:
        assert callable(harness(target).test_one_input)


@pytest.mark.parametrize(("target", "path"), SEEDS, ids=lambda v: getattr(v, "name", v))
def test_harness_accepts_its_seed(target: str, path: Path) -> None:
    harness(target).test_one_input(path.read_bytes())


@pytest.mark.parametrize(("target", "path"), FOUND, ids=lambda v: getattr(v, "name", v))
def test_fuzzer_finding_stays_fixed(target: str, path: Path) -> None:
    harness(target).test_one_input(path.read_bytes())


# ------------------------------------------------------------- the fixes, pinned


def test_jid_with_undecodable_bytes_is_invalid() -> None:
    # Found by fuzz_jid: surrogateescape'd bytes (as in argv) raised UnicodeEncodeError.
    text = (
        (REGRESSIONS / "jid/surrogate-in-domainpart")
        .read_bytes()
        .decode("utf-8", "surrogateescape")
    )
    assert text.startswith("alice@exa\udc93")
    with pytest.raises(InvalidJID, match=r"^the domainpart is not valid Unicode$"):
        JID.parse(text)
    for text in ("\udc80@example.org", "alice@example.org/\ud800"):
        with pytest.raises(InvalidJID, match="is not valid Unicode"):
            JID.parse(text)


def test_open_message_refuses_non_ascii_text_as_malformed() -> None:
    # Found by fuzz_e2e_open: base64 of non-ASCII text raised a bare ValueError.
    me = Identity.generate("bob@example.org")
    with pytest.raises(UntrustedMessage) as caught:
        open_message(
            me,
            "\xb5\xb5\n\n",
            outer_from="alice@example.org",
            outer_to="bob@example.org",
            sender_keys=[],
            replay_cache=MemoryReplayCache(),
        )
    assert caught.value.reason is Reason.MALFORMED


def test_time_stamps_before_the_year_1000_keep_four_digits() -> None:
    # Found by fuzz_signcrypt: strftime wrote "904-11-26...", which no one can read back.
    when = dt.datetime(904, 11, 26, 12, 0, 59, 999, tzinfo=dt.UTC)
    assert format_stamp(when) == "0904-11-26T12:00:59Z"
    content = Signcrypt(("bob@example.org",), when.replace(microsecond=0), "hi", None)
    assert parse_signcrypt(build_signcrypt(content, rpad="")) == content
    stamp = format_stamp(
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    )
    assert stamp == "2026-01-02T01:04:05Z"


def test_certificate_without_a_valid_binding_signature_is_an_invalid_key() -> None:
    # Found by fuzz_pubkey: reading its expiry raised pysequoia's RuntimeError.
    data = (REGRESSIONS / "pubkey/no-binding-signature").read_bytes()
    with pytest.raises(InvalidKey, match=r"^not a usable OpenPGP certificate$"):
        PublicKey.from_bytes(data)
    good = base64.b64decode(
        harness("e2e_open").vectors()["identities"]["alice@example.org"]["public_key"]
    )
    assert PublicKey.from_bytes(good).user_jids == frozenset({"alice@example.org"})


def test_elements_in_the_xml_namespace_are_refused() -> None:
    # Found by fuzz_xml and fuzz_stream: "<xml:x/>" parsed, then could not be serialized
    # (ValueError), so routing such a stanza failed in the server.
    parser = StreamParser()
    header = (
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    )
    parser.feed(header)
    with pytest.raises(XMLPolicyError) as caught:
        parser.feed(b"<message><body>hi</body></message><message><xml:x/></message>")
    assert (caught.value.condition, caught.value.text) == (
        "bad-format",
        "elements cannot be in the xml namespace",
    )
    assert [type(event) for event in caught.value.events] == [StanzaReceived]
    with pytest.raises(XMLPolicyError, match=r"^bad-format: "):
        parse_document(b"<signcrypt xmlns='urn:xmpp:openpgp:0'><xml:to/></signcrypt>")
    assert parse_document(b"<a xml:lang='en'/>").attrib == {
        "{http://www.w3.org/XML/1998/namespace}lang": "en"
    }


@pytest.mark.parametrize(
    ("client_binding", "gs2"),
    [(("tls-server-end-point", bytes(32)), "y,,"), (None, "n,,")],
    ids=["binding client", "client without binding"],
)
def test_scram_sha_1_cannot_dodge_channel_binding(
    client_binding: tuple[str, bytes] | None, gs2: str
) -> None:
    # Found by fuzz_sasl: with SCRAM-SHA-256-PLUS offered, a client's 'y' flag ("I can
    # bind, but saw no -PLUS offer": the offer was stripped) was refused for SCRAM-SHA-256
    # but accepted for SCRAM-SHA-1, so a man in the middle could relay a SCRAM-SHA-1 login.
    password = "correct horse battery"
    client = scramp.ScramClient(["SCRAM-SHA-1"], "alice", password, channel_binding=client_binding)
    first = client.get_client_first()
    assert first.startswith(gs2)
    offered = mechanisms_for(tls=True, channel_binding=True)
    assert "SCRAM-SHA-256-PLUS" in offered
    server = SASLServer("SCRAM-SHA-1", offered=offered, channel_binding=bytes(range(32)))
    assert server.begin(first.encode()) == "alice"
    step = server.continue_with(make_verifiers(password), authzid_ok=True)
    if gs2 == "y,,":
        assert step == SASLFailure("malformed-request")
        return
    assert isinstance(step, SASLChallenge)
    client.set_server_first(step.data.decode())
    final = server.respond(client.get_client_final().encode())
    assert isinstance(final, SASLSuccess)
    assert final.username == "alice"

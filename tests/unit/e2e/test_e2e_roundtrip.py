"""Acceptance 1: what is sealed opens, unchanged, for every recipient and for the sender."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from e2e_forge import unb64
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ironwall.e2e import (
    MAX_BODY_BYTES,
    Identity,
    MemoryReplayCache,
    OpenedMessage,
    open_message,
    open_secret_key,
    seal_message,
    seal_secret_key,
)
from ironwall.e2e._packets import TAG_PKESK, read_packets

PASSPHRASE = "kettle umbrella vivid orbit"

XML_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff")
).filter(lambda s: not re.search("[\x01-\x08\x0b\x0c\x0e-\x1f]", s))


_PEOPLE = [Identity.generate(f"user{i}@example.org") for i in range(4)]


def _open(me: Identity, text: str, sender: Identity, to: str) -> OpenedMessage:
    return open_message(
        me,
        text,
        outer_from=sender.jid,
        outer_to=to,
        sender_keys=[sender.public_key],
        replay_cache=MemoryReplayCache(),
    )


def test_sealed_message_opens_with_every_field(alice: Identity, bob: Identity) -> None:
    when = dt.datetime(2025, 3, 1, 12, 30, 15, tzinfo=dt.UTC)
    sealed = seal_message(alice, {bob.jid: [bob.public_key]}, "Hi Bob", origin_id="id-1", now=when)

    opened = open_message(
        bob,
        sealed.text,
        outer_from="alice@example.org/laptop",
        outer_to="bob@example.org/phone",
        sender_keys=[alice.public_key],
        replay_cache=MemoryReplayCache(),
        now=when,
    )

    assert sealed.origin_id == "id-1"
    assert opened == OpenedMessage("Hi Bob", "id-1", when, alice.fingerprint)


def test_text_is_base64_without_line_breaks(alice: Identity, bob: Identity) -> None:
    sealed = seal_message(alice, {bob.jid: [bob.public_key]}, "x" * 5000)
    assert re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", sealed.text)


def test_origin_id_defaults_to_a_fresh_uuid(alice: Identity, bob: Identity) -> None:
    first = seal_message(alice, {bob.jid: [bob.public_key]}, "a")
    second = seal_message(alice, {bob.jid: [bob.public_key]}, "a")
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first.origin_id
    )
    assert first.origin_id != second.origin_id
    assert first.text != second.text


def test_same_body_gets_different_lengths_from_padding(alice: Identity, bob: Identity) -> None:
    lengths = {
        len(seal_message(alice, {bob.jid: [bob.public_key]}, "same").text) for _ in range(20)
    }
    assert len(lengths) > 5


@pytest.mark.parametrize("body", ["", "x" * 100_000, "a\r\nb\rc\td ]]> <&'\"", "😀 ünï ☃ 中文"])
def test_edge_bodies_round_trip(alice: Identity, bob: Identity, body: str) -> None:
    sealed = seal_message(alice, {bob.jid: [bob.public_key]}, body)
    assert _open(bob, sealed.text, alice, bob.jid).body == body


def test_largest_body_round_trips_and_one_more_byte_is_refused(
    alice: Identity, bob: Identity
) -> None:
    body = "é" * (MAX_BODY_BYTES // 2)
    sealed = seal_message(alice, {bob.jid: [bob.public_key]}, body)
    assert _open(bob, sealed.text, alice, bob.jid).body == body
    with pytest.raises(ValueError, match="longer than"):
        seal_message(alice, {bob.jid: [bob.public_key]}, body + "x")


def test_sender_reads_own_message_on_a_second_device(alice: Identity, bob: Identity) -> None:
    # The second device restored the identity from the sealed blob on the server.
    blob = seal_secret_key(alice, PASSPHRASE, insecure_fast_kdf_for_tests=True)
    second_device = open_secret_key(blob, PASSPHRASE)
    sealed = seal_message(alice, {bob.jid: [bob.public_key]}, "sent from my laptop")

    # The carbon copy / archive copy keeps the outer to='bob'.
    opened = open_message(
        second_device,
        sealed.text,
        outer_from=alice.jid,
        outer_to=bob.jid,
        sender_keys=[alice.public_key],
        replay_cache=MemoryReplayCache(),
    )
    assert opened.body == "sent from my laptop"


def test_every_key_of_a_recipient_can_open(alice: Identity) -> None:
    # A contact with two keys (two OX clients): both decrypt.
    phone = Identity.generate("dave@example.org")
    desktop = Identity.generate("dave@example.org")
    sealed = seal_message(alice, {"dave@example.org": [phone.public_key, desktop.public_key]}, "hi")
    assert _open(phone, sealed.text, alice, "dave@example.org").body == "hi"
    assert _open(desktop, sealed.text, alice, "dave@example.org").body == "hi"


def _pkesk_recipients(text: str) -> list[str | None]:
    return [p.recipient for p in read_packets(unb64(text)) if p.tag == TAG_PKESK]


def test_encrypted_to_each_key_once_and_to_the_sender(alice: Identity, bob: Identity) -> None:
    for keys in ([bob.public_key], [bob.public_key, bob.public_key]):
        sealed = seal_message(alice, {bob.jid: keys}, "x")
        recipients = _pkesk_recipients(sealed.text)
        assert len(recipients) == 2
        assert all(r in bob.public_key._ids or r in alice.public_key._ids for r in recipients)
        assert {r in alice.public_key._ids for r in recipients} == {True, False}


def test_sender_among_recipients_is_encrypted_to_once(alice: Identity, bob: Identity) -> None:
    sealed = seal_message(alice, {bob.jid: [bob.public_key], alice.jid: [alice.public_key]}, "x")
    assert len(_pkesk_recipients(sealed.text)) == 2


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(recipient_count=st.integers(1, 4), body=XML_TEXT, data=st.data())
def test_property_every_recipient_and_the_sender_open_the_same_body(
    alice: Identity, recipient_count: int, body: str, data: st.DataObject
) -> None:
    recipients = [_PEOPLE[i] for i in range(recipient_count)]
    sealed = seal_message(alice, {p.jid: [p.public_key] for p in recipients}, body)

    for person in recipients:
        assert _open(person, sealed.text, alice, person.jid).body == body
    # The sender's own copy opens too (for the conversation with any of them).
    chosen = data.draw(st.sampled_from(recipients))
    assert _open(alice, sealed.text, alice, chosen.jid).body == body

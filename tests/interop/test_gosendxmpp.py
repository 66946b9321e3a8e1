"""go-sendxmpp talks to each server kind: plain messages and OX (XEP-0373/0374)."""

from __future__ import annotations

import re
import secrets

import pytest

from .gosendxmpp import GoSendxmppFactory, ReceivedMessage
from .procs import PeerError
from .xmpp_server import XmppServer

pytestmark = pytest.mark.interop

WAIT = 20.0


def _text(label: str) -> str:
    # A fresh token keeps a message from one test (say, left in the offline store)
    # from satisfying another test's wait.
    return f"{label} {secrets.token_hex(4)}"


def test_plain_message_reaches_listening_peer(
    xmpp_server: XmppServer, go_sendxmpp: GoSendxmppFactory
) -> None:
    alice = go_sendxmpp(xmpp_server, "alice")
    bob = go_sendxmpp(xmpp_server, "bob")
    listener = bob.start_listening()
    text = _text("hello bob, plain")

    alice.send(xmpp_server.jid("bob"), text)

    got = listener.wait_for(text, WAIT)
    assert got == ReceivedMessage(
        stamp=got.stamp, sender=xmpp_server.jid("alice"), body=text, ox=False
    )
    assert listener.errors() == []


def test_multiline_body_arrives_unchanged(
    xmpp_server: XmppServer, go_sendxmpp: GoSendxmppFactory
) -> None:
    alice = go_sendxmpp(xmpp_server, "alice")
    bob = go_sendxmpp(xmpp_server, "bob")
    listener = bob.start_listening()
    text = _text("first line") + "\nsecond line\n\nlast line: with a colon"

    alice.send(xmpp_server.jid("bob"), text)

    assert listener.wait_for(text, WAIT).body == text


def test_ox_message_is_decrypted_by_listening_peer(
    xmpp_server: XmppServer, go_sendxmpp: GoSendxmppFactory
) -> None:
    alice = go_sendxmpp(xmpp_server, "alice")
    bob = go_sendxmpp(xmpp_server, "bob")
    alice_fpr = alice.ox_generate_key()
    bob_fpr = bob.ox_generate_key(passphrase="correct horse battery staple")
    assert len(alice_fpr) == len(bob_fpr) == 40
    assert alice_fpr != bob_fpr
    listener = bob.start_listening(ox=True)
    text = _text("hello bob, encrypted")

    alice.send(xmpp_server.jid("bob"), text, ox=True)

    got = listener.wait_for(text, WAIT)
    assert got == ReceivedMessage(
        stamp=got.stamp, sender=xmpp_server.jid("alice"), body=text, ox=True
    )
    wire = listener.received_xml()
    assert re.search(r"<openpgp xmlns=['\"]urn:xmpp:openpgp:0['\"]>[A-Za-z0-9+/=]+</openpgp>", wire)
    assert text not in wire
    assert listener.errors() == []


def test_ox_send_to_account_without_key_fails(
    xmpp_server: XmppServer, go_sendxmpp: GoSendxmppFactory
) -> None:
    alice = go_sendxmpp(xmpp_server, "alice")
    alice.ox_generate_key()

    # carol never publishes a key; go-sendxmpp exits 0 here, the harness must still fail
    with pytest.raises(PeerError, match="error fetching key for carol@"):
        alice.send(xmpp_server.jid("carol"), _text("nobody can read this"), ox=True)

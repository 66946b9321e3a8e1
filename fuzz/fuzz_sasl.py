"""Fuzz the server side of SASL (ironwall.proto.sasl.SASLServer).

Input: one option byte, the mechanism name, the initial response, then any number of
``<response>`` payloads, separated by ``0xFF`` (never in UTF-8). Option bits:

    1 inside TLS   2 with channel binding (inside TLS)   4 no such account   8 authzid refused
    16 a real client   32 the account has no SCRAM-SHA-1 verifier
    64 the real client binds to another TLS channel (a man in the middle)

With bit 16 a real client (scramp's, or PLAIN) speaks first: the initial response field
is then ``username 0x00 password`` for it, and the response fields follow its exchange.
The account is ``alice`` with password ``PASSWORD``.

What must hold: every step is a challenge, a success or a failure with an RFC 6120 §6.5
condition; success only for the right password of an existing account with an acceptable
authzid, and then the client accepts the server's proof; nothing succeeds after the end.
"""

from __future__ import annotations

import functools
from typing import Any

from fuzz_common import SEPARATOR, fuzz, instrumented

with instrumented(__name__, "scramp"):
    import scramp

    from ironwall.proto.sasl import (
        SASLChallenge,
        SASLFailure,
        SASLServer,
        SASLStep,
        SASLSuccess,
        make_verifiers,
        mechanisms_for,
    )

PASSWORD = "correct horse battery"  # noqa: S105 - the test account's
CHANNEL_BINDING = bytes(range(32))
MECHANISMS = ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "PLAIN")
CONDITIONS = {
    "aborted",
    "account-disabled",
    "credentials-expired",
    "encryption-required",
    "incorrect-encoding",
    "invalid-authzid",
    "invalid-mechanism",
    "malformed-request",
    "mechanism-too-weak",
    "not-authorized",
    "temporary-auth-failure",
}
TLS, BINDING, NO_ACCOUNT, AUTHZID_REFUSED, REAL_CLIENT, NO_SHA1, OTHER_CHANNEL = (
    1 << bit for bit in range(7)
)


@functools.cache
def alice_record() -> dict[str, Any]:
    """Alice's verifiers (made once: deriving them is slow on purpose)."""
    return make_verifiers(PASSWORD)


def _record(options: int) -> dict[str, Any] | None:
    if options & NO_ACCOUNT:
        return None
    if options & NO_SHA1:
        return {"SCRAM-SHA-256": alice_record()["SCRAM-SHA-256"]}
    return alice_record()


def _checked(step: SASLStep) -> SASLStep:
    if isinstance(step, SASLFailure):
        assert step.condition in CONDITIONS, step
    else:
        assert isinstance(step, SASLChallenge | SASLSuccess), step
    return step


class _Client:
    """A real client for the mechanism: scramp's for SCRAM, the RFC 4616 message for PLAIN."""

    def __init__(self, mechanism: str, credentials: bytes, binding: bytes | None) -> None:
        username, _, password = credentials.decode("utf-8", "replace").partition("\x00")
        self.username = username or "alice"
        self.password = password or PASSWORD
        self.scram: Any = None
        if mechanism.startswith("SCRAM-"):
            cb = None if binding is None else ("tls-server-end-point", binding)
            self.scram = scramp.ScramClient(
                [mechanism], self.username, self.password, channel_binding=cb, c_nonce="fuzz"
            )

    def first(self) -> bytes:
        if self.scram is None:
            return f"\x00{self.username}\x00{self.password}".encode()
        return str(self.scram.get_client_first()).encode()

    def final(self, challenge: bytes) -> bytes:
        self.scram.set_server_first(challenge.decode())
        return str(self.scram.get_client_final()).encode()


def test_one_input(data: bytes) -> None:
    """Run one SASL negotiation from ``data``."""
    if not data:
        return
    options = data[0]
    name, initial, rest = _fields(data[1:])
    mechanism = MECHANISMS[name[0] % len(MECHANISMS)] if len(name) == 1 else name.decode("latin-1")
    # As on a stream: channel binding data exists only inside TLS.
    binding = CHANNEL_BINDING if options & TLS and options & BINDING else None
    offered = mechanisms_for(tls=bool(options & TLS), channel_binding=binding is not None)
    server = SASLServer(mechanism, offered=offered, channel_binding=binding)
    client = None
    if options & REAL_CLIENT and mechanism in offered and mechanism in MECHANISMS:
        try:
            client_binding = bytes(32) if options & OTHER_CHANNEL else binding
            client = _Client(mechanism, initial, client_binding)
        except scramp.ScramException:
            return  # scramp's client refuses this username or password (SASLprep)
        initial = client.first()
    username = server.begin(initial)
    if isinstance(username, SASLFailure):
        _checked(username)
        assert server.respond(b"x") == SASLFailure("malformed-request")
        return
    assert username
    assert server.username == username
    record = _record(options)
    authzid_ok = not options & AUTHZID_REFUSED
    step = _checked(server.continue_with(record, authzid_ok=authzid_ok))
    responses = rest.split(SEPARATOR) if rest else []
    if client is not None and client.scram is not None and isinstance(step, SASLChallenge):
        step = _checked(server.respond(client.final(step.data)))
        if isinstance(step, SASLSuccess):
            client.scram.set_server_final(step.data.decode())  # the client checks our proof
    elif client is None and mechanism != "PLAIN":
        # A fuzzed client cannot know the server's nonce, let alone the proof.
        for response in responses:
            assert not isinstance(_checked(server.respond(response)), SASLSuccess)
        return
    if isinstance(step, SASLSuccess):
        assert record is not None, "success without an account"
        assert authzid_ok, "success for a refused authzid"
        assert step.username == username
        if mechanism == "PLAIN":
            assert initial.split(b"\x00")[2] == PASSWORD.encode(), "PLAIN with a wrong password"
        else:
            assert client is not None
            assert client.password == PASSWORD, "SCRAM with a wrong password"
            # The server binds (or, offering -PLUS, refuses the client's "y"): never across
            # another TLS channel.
            assert binding is None or not options & OTHER_CHANNEL, "channel binding bypassed"
    for response in responses:
        # The negotiation is over: nothing more may succeed or be challenged.
        assert isinstance(_checked(server.respond(response)), SASLFailure)


def _fields(data: bytes) -> tuple[bytes, bytes, bytes]:
    name, _, rest = data.partition(SEPARATOR)
    initial, _, rest = rest.partition(SEPARATOR)
    return name, initial, rest


if __name__ == "__main__":
    fuzz(test_one_input)

"""The SASL server: what an account record holds, password checks, saslnames, and bad
input, which must end in a SASL failure condition and never in an exception."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from typing import Any

import pytest
import scramp
from hypothesis import given, settings
from hypothesis import strategies as st

from ironwall.proto.sasl import (
    DEFAULT_ITERATIONS,
    SASLChallenge,
    SASLFailure,
    SASLServer,
    SASLSuccess,
    check_password,
    make_verifiers,
    mechanisms_for,
)

PASSWORD = "correct horse battery"
CB = b"\x07" * 32
ALL = mechanisms_for(tls=True, channel_binding=True)


@functools.cache
def record() -> dict[str, Any]:
    return make_verifiers(PASSWORD)


def scram_server(mechanism: str = "SCRAM-SHA-256", first: str = "") -> SASLServer:
    server = SASLServer(mechanism, offered=ALL, channel_binding=CB)
    assert server.begin(first.encode()) == "alice"
    return server


def challenge_of(server: SASLServer, account: dict[str, Any] | None) -> dict[str, str]:
    step = server.continue_with(account, authzid_ok=True)
    assert isinstance(step, SASLChallenge)
    return dict(part.split("=", 1) for part in step.data.decode().split(","))


# ----------------------------------------------------------------- the record


@pytest.mark.parametrize(
    ("family", "hash_name"), [("SCRAM-SHA-256", "sha256"), ("SCRAM-SHA-1", "sha1")]
)
def test_record_holds_verifiers_not_the_password_nor_a_password_equivalent(
    family: str, hash_name: str
) -> None:
    made = make_verifiers(PASSWORD)
    text = json.dumps(made)
    entry = made[family]
    assert set(entry) == {"salt", "stored_key", "server_key", "iterations"}
    assert entry["iterations"] == DEFAULT_ITERATIONS >= 4096
    salt = base64.b64decode(entry["salt"])
    assert len(salt) >= 16
    # RFC 5802 §3, computed here independently of scramp.
    salted = hashlib.pbkdf2_hmac(hash_name, PASSWORD.encode(), salt, entry["iterations"])
    client_key = hmac.digest(salted, b"Client Key", hash_name)
    assert base64.b64decode(entry["stored_key"]) == hashlib.new(hash_name, client_key).digest()
    assert base64.b64decode(entry["server_key"]) == hmac.digest(salted, b"Server Key", hash_name)
    # The password, and the salted password and client key (either one logs in), in no form.
    for secret in (PASSWORD.encode(), PASSWORD.encode()[::-1], salted, client_key):
        for form in (
            secret,
            secret.hex().encode(),
            base64.b64encode(secret),
            base64.urlsafe_b64encode(secret),
        ):
            assert form.decode("latin-1") not in text


def test_every_record_has_its_own_salt() -> None:
    first, second = make_verifiers(PASSWORD), make_verifiers(PASSWORD)
    for family in ("SCRAM-SHA-256", "SCRAM-SHA-1"):
        assert first[family]["salt"] != second[family]["salt"]
        assert first[family]["stored_key"] != second[family]["stored_key"]


def test_iterations_can_be_raised() -> None:
    assert make_verifiers(PASSWORD, iterations=5000)["SCRAM-SHA-256"]["iterations"] == 5000


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (PASSWORD, True),
        ("correct horse battery ", False),
        ("Correct horse battery", False),
        ("", False),
        # SASLprep (RFC 4013) maps the soft hyphen to nothing.
        ("correct horse batt\u00adery", True),
    ],
)
def test_check_password(candidate: str, expected: bool) -> None:
    assert check_password(record(), candidate) is expected


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"SCRAM-SHA-1": {"salt": "AAAA", "stored_key": "", "server_key": "", "iterations": 4096}},
        {"SCRAM-SHA-256": {"salt": "!!", "stored_key": "", "server_key": "", "iterations": 4096}},
        {
            "SCRAM-SHA-256": {
                "salt": "c2FsdHNhbHRzYWx0",
                "stored_key": "",
                "server_key": "",
                "iterations": "x",
            }
        },
        {"SCRAM-SHA-256": {"salt": "c2FsdHNhbHRzYWx0"}},
    ],
    ids=["empty", "no sha-256", "salt not base64", "iterations not a number", "fields missing"],
)
def test_check_password_on_a_broken_record_is_false(broken: dict[str, Any]) -> None:
    assert check_password(broken, PASSWORD) is False


def test_mechanisms_offered() -> None:
    assert mechanisms_for(tls=False, channel_binding=False) == ["SCRAM-SHA-256", "SCRAM-SHA-1"]
    assert mechanisms_for(tls=True, channel_binding=False) == [
        "SCRAM-SHA-256",
        "SCRAM-SHA-1",
        "PLAIN",
    ]
    assert ALL == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]


# ----------------------------------------------------------------- exchanges


@pytest.mark.parametrize("username", ["alice", "a,b", "a=b", "=,=", "ålice"])
def test_saslname_escapes_are_decoded(username: str) -> None:
    client = scramp.ScramClient(["SCRAM-SHA-256"], username, PASSWORD)
    first = client.get_client_first()
    server = SASLServer("SCRAM-SHA-256", offered=ALL, channel_binding=None)
    assert server.begin(first.encode()) == username
    step = server.continue_with(record(), authzid_ok=True)
    assert isinstance(step, SASLChallenge)
    client.set_server_first(step.data.decode())
    final = server.respond(client.get_client_final().encode())
    assert isinstance(final, SASLSuccess)
    assert final.username == username
    client.set_server_final(final.data.decode())


@pytest.mark.parametrize("name", ["al=2cice", "alice=", "al=2", "al=ZZice", "=3"])
def test_invalid_saslname_escape_is_malformed(name: str) -> None:
    server = SASLServer("SCRAM-SHA-256", offered=ALL, channel_binding=None)
    assert server.begin(f"n,,n={name},r=abc".encode()) == SASLFailure("malformed-request")


def test_unknown_accounts_show_a_stable_salt_of_their_own() -> None:
    def salt(username: str, mechanism: str = "SCRAM-SHA-256") -> str:
        server = SASLServer(mechanism, offered=ALL, channel_binding=None)
        assert server.begin(f"n,,n={username},r=abc".encode()) == username
        return challenge_of(server, None)["s"]

    assert salt("nobody") == salt("nobody")
    assert salt("nobody") != salt("somebody")
    assert salt("nobody") != salt("nobody", "SCRAM-SHA-1")
    real = challenge_of(scram_server(first="n,,n=alice,r=abc"), record())
    assert len(base64.b64decode(salt("nobody"))) == len(base64.b64decode(real["s"]))


def test_unknown_account_fails_even_with_a_proof_for_the_decoy() -> None:
    server = SASLServer("SCRAM-SHA-256", offered=ALL, channel_binding=None)
    server.begin(b"n,,n=nobody,r=abc")
    challenge = challenge_of(server, None)
    final = f"c=biws,r={challenge['r']},p={base64.b64encode(bytes(32)).decode()}"
    assert server.respond(final.encode()) == SASLFailure("not-authorized")


def test_authorization_identity_refused_by_the_caller() -> None:
    plain = SASLServer("PLAIN", offered=ALL, channel_binding=None)
    assert plain.begin(b"bob@localhost\0alice\0" + PASSWORD.encode()) == "alice"
    assert plain.requested_authzid == "bob@localhost"
    assert plain.continue_with(record(), authzid_ok=False) == SASLFailure("invalid-authzid")
    scram = scram_server(first="n,a=b=2Cob,n=alice,r=abc")
    assert scram.requested_authzid == "b,ob"
    assert scram.continue_with(record(), authzid_ok=False) == SASLFailure("invalid-authzid")


def test_mechanism_not_offered_is_invalid() -> None:
    for mechanism in ("DIGEST-MD5", "SCRAM-SHA-512", "PLAIN"):
        server = SASLServer(mechanism, offered=["SCRAM-SHA-256"], channel_binding=None)
        assert server.begin(b"\0alice\0pw") == SASLFailure("invalid-mechanism")


_BAD_SCRAM_FIRST = [
    b"",
    b"n",
    b"n,,",
    b"n,,n=alice",
    b",,,,",
    b"\xff\xfe",
    b"n,,r=abc",
]
_REFUSED_AFTER_LOOKUP = [
    b"n,,n=alice,r=",
    b"x,,n=alice,r=abc",
    b"p=tls-unique,,n=alice,r=abc",
    b"n,,m=ext,n=alice,r=abc",
    b"n,,r=abc,n=alice",
]


@pytest.mark.parametrize("first", _BAD_SCRAM_FIRST)
def test_malformed_scram_first_message(first: bytes) -> None:
    server = SASLServer("SCRAM-SHA-256", offered=ALL, channel_binding=CB)
    assert server.begin(first) == SASLFailure("malformed-request")


@pytest.mark.parametrize("first", _REFUSED_AFTER_LOOKUP)
def test_scram_first_message_scramp_refuses(first: bytes) -> None:
    server = SASLServer("SCRAM-SHA-256", offered=ALL, channel_binding=CB)
    assert server.begin(first) == "alice"
    assert server.continue_with(record(), authzid_ok=True) == SASLFailure("malformed-request")


@pytest.mark.parametrize(
    "initial",
    [b"", b"alice", b"a\0b", b"\0\0pw", b"\0alice\0", b"\0alice\0pw\0x", b"\xff\0a\0b"],
)
def test_malformed_plain_message(initial: bytes) -> None:
    server = SASLServer("PLAIN", offered=ALL, channel_binding=None)
    assert server.begin(initial) == SASLFailure("malformed-request")


@pytest.mark.parametrize(
    "final",
    [b"", b"\xff", b"garbage", b"c=biws", b"c=biws,r=wrong,p=AAAA", b"c=eSws,r={r},p=AAAA"],
)
def test_bad_final_message_is_not_authorized(final: bytes) -> None:
    server = scram_server(first="n,,n=alice,r=abc")
    nonce = challenge_of(server, record())["r"]
    assert server.respond(final.replace(b"{r}", nonce.encode())) == SASLFailure("not-authorized")


def test_response_out_of_turn_is_malformed() -> None:
    server = scram_server(first="n,,n=alice,r=abc")
    assert server.respond(b"c=biws,r=abc,p=AAAA") == SASLFailure("malformed-request")


@settings(max_examples=200, deadline=None)
@given(
    mechanism=st.sampled_from(ALL),
    first=st.one_of(st.binary(max_size=80), st.text(max_size=80).map(str.encode)),
    final=st.binary(max_size=80),
)
def test_arbitrary_input_ends_in_a_step_never_an_exception(
    mechanism: str, first: bytes, final: bytes
) -> None:
    server = SASLServer(mechanism, offered=ALL, channel_binding=CB)
    began = server.begin(first)
    if isinstance(began, SASLFailure):
        return
    step = server.continue_with(record(), authzid_ok=True)
    assert isinstance(step, SASLChallenge | SASLFailure | SASLSuccess)
    if isinstance(step, SASLChallenge):
        assert isinstance(server.respond(final), SASLFailure)

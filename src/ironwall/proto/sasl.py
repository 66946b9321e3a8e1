"""SASL for the server side of an XMPP stream (RFC 6120 §6), sans-IO.

Mechanisms: SCRAM-SHA-256-PLUS, SCRAM-SHA-256, SCRAM-SHA-1 (RFC 5802/7677, through
scramp) and PLAIN (RFC 4616, offered only inside TLS). Passwords are never stored:
an account holds SCRAM verifiers (salt, iterations, StoredKey, ServerKey) from which
the password cannot be recovered; PLAIN is checked by deriving the verifier again.

Looking up an account's verifiers is I/O, so a negotiation runs in two steps: ``begin``
parses the initial response and names the user; the caller fetches that user's
record and hands it to ``continue_with``.

Channel binding: RFC 9266 ``tls-exporter`` needs TLS keying-material export, which
Python's ``ssl`` module does not expose, and scramp refuses it; so the ``-PLUS``
mechanism binds to ``tls-server-end-point`` (RFC 5929), which works on TLS 1.3 and is
advertised with XEP-0440.
"""

from __future__ import annotations

import base64
import functools
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from scramp import ScramException, ScramMechanism

__all__ = [
    "DEFAULT_ITERATIONS",
    "SASLChallenge",
    "SASLFailure",
    "SASLServer",
    "SASLSuccess",
    "check_password",
    "make_verifiers",
    "mechanisms_for",
]

DEFAULT_ITERATIONS = 4096
_SCRAM_FAMILIES = ("SCRAM-SHA-256", "SCRAM-SHA-1")
CHANNEL_BINDING_TYPE = "tls-server-end-point"


@dataclass(frozen=True, slots=True)
class SASLChallenge:
    """Send ``<challenge>`` with this payload and wait for a ``<response>``."""

    data: bytes


@dataclass(frozen=True, slots=True)
class SASLSuccess:
    """Authentication succeeded for ``username``; send ``<success>`` with ``data``."""

    username: str
    data: bytes


@dataclass(frozen=True, slots=True)
class SASLFailure:
    """Authentication failed; send ``<failure>`` with this RFC 6120 §6.5 condition."""

    condition: str
    text: str = ""


SASLStep = SASLChallenge | SASLSuccess | SASLFailure


def make_verifiers(password: str, iterations: int = DEFAULT_ITERATIONS) -> dict[str, Any]:
    """The account record for ``password``: one SCRAM verifier per hash, JSON-safe."""
    record: dict[str, Any] = {}
    for family in _SCRAM_FAMILIES:
        salt, stored_key, server_key, count = ScramMechanism(family).make_auth_info(
            password, iteration_count=iterations
        )
        record[family] = {
            "salt": base64.b64encode(salt).decode(),
            "stored_key": base64.b64encode(stored_key).decode(),
            "server_key": base64.b64encode(server_key).decode(),
            "iterations": count,
        }
    return record


@functools.cache
def _decoy_record() -> dict[str, Any]:
    return make_verifiers(secrets.token_urlsafe(16))


_DECOY_KEY = secrets.token_bytes(32)


def _decoy_verifier(family: str, username: str) -> tuple[bytes, bytes, bytes, int]:
    # The salt a challenge shows is derived from the name: a random salt would change on
    # every attempt, a shared one would repeat across names, and either would tell an
    # unknown account from a real one, whose salt is stable and its own.
    salt, stored_key, server_key, iterations = _verifier(_decoy_record(), family)
    name_salt = hmac.digest(_DECOY_KEY, f"{family}\x00{username}".encode(), "sha512")
    return name_salt[: len(salt)], stored_key, server_key, iterations


def _verifier(record: dict[str, Any], family: str) -> tuple[bytes, bytes, bytes, int]:
    entry = record[family]
    return (
        base64.b64decode(entry["salt"]),
        base64.b64decode(entry["stored_key"]),
        base64.b64decode(entry["server_key"]),
        int(entry["iterations"]),
    )


def check_password(record: dict[str, Any], password: str) -> bool:
    """True if ``password`` matches the verifiers in ``record`` (constant-time compare)."""
    family = "SCRAM-SHA-256"
    try:
        salt, stored_key, _server_key, iterations = _verifier(record, family)
        _s, candidate, _k, _i = ScramMechanism(family).make_auth_info(
            password, iteration_count=iterations, salt=salt
        )
    except (KeyError, ValueError, ScramException):
        return False
    return hmac.compare_digest(candidate, stored_key)


def mechanisms_for(*, tls: bool, channel_binding: bool) -> list[str]:
    """The mechanisms to offer on a stream, strongest first."""
    offered = []
    if tls and channel_binding:
        offered.append("SCRAM-SHA-256-PLUS")
    offered += ["SCRAM-SHA-256", "SCRAM-SHA-1"]
    if tls:
        offered.append("PLAIN")
    return offered


def _decode_saslname(name: str) -> str | None:
    # RFC 5802 §5.1: ',' and '=' are escaped as =2C and =3D; any other '=' is invalid.
    out = []
    i = 0
    while i < len(name):
        if name[i] == "=":
            code = name[i + 1 : i + 3]
            if code == "2C":
                out.append(",")
            elif code == "3D":
                out.append("=")
            else:
                return None
            i += 3
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


def _scram_username(client_first: str) -> str | None:
    parts = client_first.split(",")
    if len(parts) < 4:
        return None
    for attribute in parts[2:]:
        if attribute.startswith("n="):
            return _decode_saslname(attribute[2:])
    return None


class SASLServer:
    """One SASL negotiation on one stream.

    ``channel_binding`` is the ``tls-server-end-point`` data of the stream's TLS
    connection, or None when there is none.
    """

    def __init__(
        self, mechanism: str, *, offered: list[str], channel_binding: bytes | None
    ) -> None:
        self.mechanism = mechanism
        self._offered = offered
        self._channel_binding = channel_binding
        self._username: str | None = None
        self._initial = ""
        self._plain_password: str | None = None
        self._plain_authzid = ""
        self._scram: Any = None
        self._unknown_account = False
        self._done = False

    def begin(self, initial: bytes) -> str | SASLFailure:
        """Parse the initial response; return the username to look up, or a failure."""
        if self.mechanism not in self._offered:
            return SASLFailure("invalid-mechanism")
        try:
            text = initial.decode("utf-8")
        except UnicodeDecodeError:
            return SASLFailure("malformed-request")
        if self.mechanism == "PLAIN":
            fields = text.split("\x00")
            if len(fields) != 3 or not fields[1] or not fields[2]:
                return SASLFailure("malformed-request")
            self._plain_authzid, username, self._plain_password = fields
        else:
            name = _scram_username(text)
            if not name:
                return SASLFailure("malformed-request")
            username = name
        self._initial = text
        self._username = username
        return username

    def continue_with(self, record: dict[str, Any] | None, *, authzid_ok: bool) -> SASLStep:
        """Continue with the looked-up account record (None: no such account).

        ``authzid_ok`` says whether the authorization identity the client asked for
        (if any) is the account itself; anything else is refused.
        """
        assert self._username is not None
        if self.mechanism == "PLAIN":
            password, self._plain_password = self._plain_password, None
            if not authzid_ok:
                return SASLFailure("invalid-authzid")
            # Checked against a decoy when there is no account, to take the same time.
            matches = password is not None and check_password(record or _decoy_record(), password)
            if record is None or not matches:
                return SASLFailure("not-authorized")
            self._done = True
            return SASLSuccess(self._username, b"")
        return self._scram_first(record, authzid_ok=authzid_ok)

    @property
    def username(self) -> str | None:
        """The authentication identity the initial response named (None before ``begin``)."""
        return self._username

    @property
    def requested_authzid(self) -> str:
        """The authorization identity in the client's first message ('' if none)."""
        if self.mechanism == "PLAIN":
            return self._plain_authzid
        parts = self._initial.split(",")
        if len(parts) > 1 and parts[1].startswith("a="):
            return _decode_saslname(parts[1][2:]) or "\x00invalid"
        return ""

    def _scram_first(self, record: dict[str, Any] | None, *, authzid_ok: bool) -> SASLStep:
        if not authzid_ok:
            return SASLFailure("invalid-authzid")
        family = self.mechanism.removesuffix("-PLUS")
        assert self._username is not None
        if record is None or family not in record:
            # Go through the motions with a throw-away verifier so that an unknown user
            # looks like a wrong password (no account enumeration by timing or reply).
            verifier = _decoy_verifier(family, self._username)
            self._unknown_account = True
        else:
            verifier = _verifier(record, family)
        binding = None
        if self._channel_binding is not None and any(m.endswith("-PLUS") for m in self._offered):
            # Given to the plain mechanisms too: RFC 5802 §6 downgrade protection. A client
            # that could bind but saw no -PLUS offer says so with 'y', and scramp refuses
            # that flag when the server does bind, because the offer was stripped. Any -PLUS
            # offer counts, not only this family's: else stripping every SCRAM-SHA-256
            # offer would leave SCRAM-SHA-1, with its 'y' accepted, to a man in the middle.
            binding = (CHANNEL_BINDING_TYPE, self._channel_binding)
        elif self.mechanism.endswith("-PLUS"):
            return SASLFailure("invalid-mechanism")
        try:
            mechanism = ScramMechanism(self.mechanism)
            self._scram = mechanism.make_server(lambda _name: verifier, channel_binding=binding)
            self._scram.set_client_first(self._initial)
            return SASLChallenge(self._scram.get_server_first().encode())
        except ScramException:
            return SASLFailure("malformed-request")

    def respond(self, response: bytes) -> SASLStep:
        """Handle the client's ``<response>`` after a challenge."""
        if self._scram is None or self._done:
            return SASLFailure("malformed-request")
        try:
            self._scram.set_client_final(response.decode("utf-8"))
            final = self._scram.get_server_final().encode()
        except (ScramException, UnicodeDecodeError):
            return SASLFailure("not-authorized")
        if self._unknown_account or self._username is None:
            return SASLFailure("not-authorized")
        self._done = True
        return SASLSuccess(self._username, final)

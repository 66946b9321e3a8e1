"""Errors of the e2e layer.

Every message that must not be trusted raises one type, `UntrustedMessage`, whose `reason`
says why in words a user interface can show as they are. Errors never carry secrets: no
passphrase, key material or plaintext appears in a message or attribute.
"""

from __future__ import annotations

import enum

__all__ = [
    "E2EError",
    "InvalidKey",
    "KeyProblem",
    "KeyUnusable",
    "Reason",
    "SealedKeyError",
    "UntrustedMessage",
    "WeakPassphrase",
    "WrongPassphrase",
]


class E2EError(Exception):
    """Base class of every error raised by `ironwall.e2e`."""


class Reason(enum.Enum):
    """Why a received message is not trusted. The value is a stable identifier."""

    MALFORMED = "malformed"
    NOT_ENCRYPTED = "not-encrypted"
    NOT_FOR_ME = "not-for-me"
    CORRUPTED = "corrupted"
    NOT_SIGNED = "not-signed"
    BAD_SIGNATURE = "bad-signature"
    UNKNOWN_SENDER_KEY = "unknown-sender-key"
    SENDER_MISMATCH = "sender-mismatch"
    WRONG_RECIPIENT = "wrong-recipient"
    BAD_TIMESTAMP = "bad-timestamp"
    STALE = "stale"
    REPLAY = "replay"
    REVOKED_KEY = "revoked-key"
    EXPIRED_KEY = "expired-key"

    @property
    def description(self) -> str:
        """A sentence for the user saying what is wrong with the message."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Reason.MALFORMED: "The message is damaged or not in a format Ironwall understands.",
    Reason.NOT_ENCRYPTED: "The message was not encrypted, so anyone on the way could read it.",
    Reason.NOT_FOR_ME: "The message was not encrypted to your key.",
    Reason.CORRUPTED: "The encrypted message was altered or damaged on the way.",
    Reason.NOT_SIGNED: "The message carries no signature, so its sender is unknown.",
    Reason.BAD_SIGNATURE: "The message's signature is not valid.",
    Reason.UNKNOWN_SENDER_KEY: (
        "The message was signed by a key that is not the one you hold for this contact."
    ),
    Reason.SENDER_MISMATCH: "The signing key does not belong to the sender's address.",
    Reason.WRONG_RECIPIENT: (
        "The message was written for someone else and has been forwarded to you."
    ),
    Reason.BAD_TIMESTAMP: "The message claims a time in the future.",
    Reason.STALE: (
        "The message was signed more than 30 days ago and arrived as if new: it may be an "
        "old message replayed."
    ),
    Reason.REPLAY: "This message was received before; this copy is a replay.",
    Reason.REVOKED_KEY: "The sender's key has been revoked.",
    Reason.EXPIRED_KEY: "The sender's key has expired.",
}


class UntrustedMessage(E2EError):
    """A received message failed a check and must not be shown as trusted."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.description)
        self.reason = reason


class InvalidKey(E2EError):
    """Bytes given as a key are not a usable OpenPGP v4 certificate of the expected kind."""


class KeyProblem(enum.Enum):
    """Why a key cannot be used to seal a message."""

    REVOKED = "revoked"
    EXPIRED = "expired"
    WRONG_JID = "wrong-jid"
    CANNOT_ENCRYPT = "cannot-encrypt"
    CANNOT_SIGN = "cannot-sign"


class KeyUnusable(E2EError):
    """A key given for sealing (a recipient's or one's own) cannot be used.

    `jid` and `fingerprint` name the key; `problem` says what is wrong with it.
    """

    def __init__(self, jid: str, fingerprint: str, problem: KeyProblem) -> None:
        super().__init__(f"the key {fingerprint} of {jid} cannot be used: {problem.value}")
        self.jid = jid
        self.fingerprint = fingerprint
        self.problem = problem


class WrongPassphrase(E2EError):
    """Neither the passphrase nor a recovery code given unlocks the sealed secret key."""

    def __init__(self) -> None:
        super().__init__("wrong passphrase or recovery code")


class WeakPassphrase(E2EError):
    """A passphrase was refused as too easy to guess; `reason` tells the user what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SealedKeyError(E2EError):
    """A sealed secret key blob is damaged, tampered with, or of an unknown version."""

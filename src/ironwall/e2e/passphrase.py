"""Passphrase strength and recovery codes, the two secrets that unlock a sealed secret key.

The server stores the sealed key and can guess passphrases offline as fast as its hardware
runs Argon2id, so a passphrase must survive about 10^10 guesses (zxcvbn score 4). A
recovery code in the XEP-0373 backup-code format carries about 123 bits and needs no check.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from zxcvbn import zxcvbn

from ironwall.e2e.errors import WeakPassphrase

__all__ = [
    "RECOVERY_CODE_ALPHABET",
    "PassphraseStrength",
    "check_passphrase",
    "new_recovery_code",
    "normalize_passphrase",
    "parse_recovery_code",
    "passphrase_strength",
]

RECOVERY_CODE_ALPHABET = "123456789ABCDEFGHIJKLMNPQRSTUVWXYZ"
"""XEP-0373 §5.4 backup-code characters (no 0 and O, which read alike)."""
RECOVERY_CODE_LENGTH = 24
_GROUP = 4
MIN_SCORE = 4
"""zxcvbn score required: 4 means an estimated 10^10 guesses or more."""
_ZXCVBN_MAX_CHARS = 72  # zxcvbn refuses longer input; the first 72 characters bound the rest
_FALLBACK_ADVICE = "Too easy to guess. Use four or more random, uncommon words."


def normalize_passphrase(passphrase: str) -> bytes:
    """The bytes a passphrase is derived from: Unicode NFC, UTF-8.

    NFC makes the same typed passphrase give the same bytes on every keyboard and platform.
    """
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


@dataclass(frozen=True, slots=True)
class PassphraseStrength:
    """How hard a passphrase is to guess, for a live strength meter."""

    score: int
    """zxcvbn's score, 0 (guessed at once) to 4 (10^10 guesses or more)."""
    advice: str
    """Why it is refused and what to do instead; empty when it is strong enough."""

    @property
    def enough(self) -> bool:
        """Whether Ironwall accepts it."""
        return self.score >= MIN_SCORE


def passphrase_strength(passphrase: str, *, user_inputs: Sequence[str] = ()) -> PassphraseStrength:
    """Score ``passphrase`` (`user_inputs`: words an attacker would try first, such as the
    JID). The advice never quotes the passphrase."""
    if not passphrase.strip():
        return PassphraseStrength(0, "The passphrase is empty.")
    result = zxcvbn(passphrase[:_ZXCVBN_MAX_CHARS], user_inputs=list(user_inputs))
    score = int(result["score"])
    if score >= MIN_SCORE:
        return PassphraseStrength(score, "")
    feedback = result["feedback"]
    advice = " ".join(part for part in (feedback["warning"], *feedback["suggestions"]) if part)
    return PassphraseStrength(score, advice or _FALLBACK_ADVICE)


def check_passphrase(passphrase: str, *, user_inputs: Sequence[str] = ()) -> None:
    """Raise `WeakPassphrase` with advice if `passphrase` is too easy to guess.

    `user_inputs` are words an attacker would try first (the JID, the user's name). The
    reason never quotes the passphrase.
    """
    strength = passphrase_strength(passphrase, user_inputs=user_inputs)
    if not strength.enough:
        raise WeakPassphrase(strength.advice)


def new_recovery_code() -> str:
    """A fresh random recovery code: 24 characters in six groups, `XXXX-XXXX-...-XXXX`."""
    code = "".join(secrets.choice(RECOVERY_CODE_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
    return "-".join(code[i : i + _GROUP] for i in range(0, RECOVERY_CODE_LENGTH, _GROUP))


def parse_recovery_code(text: str) -> str | None:
    """The canonical 24 characters of a recovery code as typed, or None if it is not one.

    Case, spaces and dashes do not matter, so `abcd efgh-...` reads like `ABCD-EFGH-...`.
    """
    code = "".join(text.replace("-", " ").split()).upper()
    if len(code) != RECOVERY_CODE_LENGTH or any(c not in RECOVERY_CODE_ALPHABET for c in code):
        return None
    return code

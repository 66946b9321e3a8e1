"""Passphrase strength (zxcvbn) and the XEP-0373 backup-code format of recovery codes."""

from __future__ import annotations

import re

import pytest

from ironwall.e2e import WeakPassphrase, check_passphrase, new_recovery_code
from ironwall.e2e.passphrase import RECOVERY_CODE_ALPHABET, parse_recovery_code


@pytest.mark.parametrize(
    "passphrase",
    ["kettle umbrella vivid orbit", "correct horse battery staple", "x7#Lq!v9Zr@2mW" * 10],
)
def test_strong_passphrases_pass(passphrase: str) -> None:
    check_passphrase(passphrase)


@pytest.mark.parametrize("passphrase", ["", "   ", "password", "qwerty123", "alice2024!"])
def test_weak_passphrases_are_refused_with_advice(passphrase: str) -> None:
    with pytest.raises(WeakPassphrase) as caught:
        check_passphrase(passphrase)
    assert caught.value.reason
    assert str(caught.value) == caught.value.reason


@pytest.mark.parametrize("passphrase", ["qwerty123", "alice2024!", "Julia1987"])
def test_advice_never_quotes_the_passphrase(passphrase: str) -> None:
    with pytest.raises(WeakPassphrase) as caught:
        check_passphrase(passphrase)
    assert passphrase.lower() not in caught.value.reason.lower()


def test_user_inputs_weaken_a_passphrase() -> None:
    passphrase = "juliet@capulet.lit"
    check_passphrase(passphrase)
    with pytest.raises(WeakPassphrase):
        check_passphrase(passphrase, user_inputs=["juliet@capulet.lit", "juliet", "capulet.lit"])


def test_recovery_code_format() -> None:
    codes = {new_recovery_code() for _ in range(50)}
    assert len(codes) == 50
    pattern = f"[{RECOVERY_CODE_ALPHABET}]{{4}}(-[{RECOVERY_CODE_ALPHABET}]{{4}}){{5}}"
    assert all(re.fullmatch(pattern, code) for code in codes)
    assert RECOVERY_CODE_ALPHABET == "123456789ABCDEFGHIJKLMNPQRSTUVWXYZ"
    used = set("".join(codes).replace("-", ""))
    assert used <= set(RECOVERY_CODE_ALPHABET)
    assert len(used) > 30  # all 34 characters are in play


def test_parse_recovery_code() -> None:
    assert parse_recovery_code("abcd-efgh-1234-5678-9ABC-DEFG") == "ABCDEFGH123456789ABCDEFG"
    assert parse_recovery_code(" ABCD EFGH 1234 5678 9ABC DEFG ") == "ABCDEFGH123456789ABCDEFG"
    for bad in ("", "ABCD-EFGH", "0BCD-EFGH-1234-5678-9ABC-DEFG", "OBCD-EFGH-1234-5678-9ABC-DEFG"):
        assert parse_recovery_code(bad) is None

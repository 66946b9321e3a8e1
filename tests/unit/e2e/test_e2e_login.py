"""The account password derived from the passphrase (spec/e2e.md §5.5)."""

from __future__ import annotations

import re

import pytest

from ironwall.e2e import derive_login_password, derive_login_password_async

PASSPHRASE = "kettle umbrella vivid orbit"
FAST = {"insecure_fast_kdf_for_tests": True}
# Pins the derivation (label, salt, encoding); computed independently from the spec.
EXPECTED_ALICE = "OgUojSqzklbkdGp9UMkvxCbCwJTuXrd8LhowiDJ2XiY"


def test_derivation_matches_the_spec() -> None:
    assert derive_login_password(PASSPHRASE, "alice@example.org", **FAST) == EXPECTED_ALICE


def test_same_account_same_password_on_every_device() -> None:
    first = derive_login_password(PASSPHRASE, "alice@example.org", **FAST)
    assert derive_login_password(PASSPHRASE, "Alice@Example.org", **FAST) == first
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", first)


def test_other_account_or_passphrase_gives_another_password() -> None:
    alice = derive_login_password(PASSPHRASE, "alice@example.org", **FAST)
    assert derive_login_password(PASSPHRASE, "bob@example.org", **FAST) != alice
    assert derive_login_password(PASSPHRASE + "!", "alice@example.org", **FAST) != alice
    assert PASSPHRASE not in alice


def test_passphrase_is_normalized_like_for_the_seal() -> None:
    composed = derive_login_password("Café Gödel", "a@example.org", **FAST)
    assert derive_login_password("Cafe\u0301 Go\u0308del", "a@example.org", **FAST) == composed


def test_full_jid_is_refused() -> None:
    with pytest.raises(ValueError, match="bare JID"):
        derive_login_password(PASSPHRASE, "alice@example.org/phone", **FAST)


async def test_async_variant() -> None:
    password = await derive_login_password_async(PASSPHRASE, "alice@example.org", **FAST)
    assert password == EXPECTED_ALICE

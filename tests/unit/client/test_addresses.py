"""What the user types is checked before anything slow: ``ironwall.client.addresses``."""

from __future__ import annotations

import re

import pytest

from ironwall.client.addresses import account_address, check_body, contact_address
from ironwall.client.errors import InvalidAddress, InvalidMessage


def test_addresses_are_prepared_bare_jids() -> None:
    assert contact_address(" Bob@LocalHost ") == "bob@localhost"
    assert account_address("alice@example.org") == "alice@example.org"


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("alice", "is not a full address"),
        ("not a jid", "is not a full address"),
        ("bob@", "is not a valid address"),
        ("@@localhost", "is not a valid address"),
        ("@localhost", "is not a valid address"),
        ("bob@localhost/phone", "without the '/phone' part"),
    ],
)
def test_bad_addresses_say_how_to_write_them(typed: str, says: str) -> None:
    with pytest.raises(InvalidAddress, match=says):
        contact_address(typed)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("a\x1bb", "ESC"),
        ("a\x00b", "NUL"),
        ("\udc80", "U+DC80"),
        ("x" * (128 * 1024 + 1), "at most 128 KiB"),
    ],
)
def test_bodies_xmpp_cannot_carry_are_refused_with_a_reason(body: str, says: str) -> None:
    with pytest.raises(InvalidMessage, match=re.escape(says)):
        check_body(body)


def test_the_largest_body_is_accepted() -> None:
    body = "x" * (128 * 1024)
    assert check_body(body) == body

"""Identities shared by the e2e tests: key generation is cheap, but not free."""

from __future__ import annotations

import pytest

from ironwall.e2e import Identity, MemoryReplayCache


@pytest.fixture(scope="session")
def alice() -> Identity:
    return Identity.generate("alice@example.org")


@pytest.fixture(scope="session")
def bob() -> Identity:
    return Identity.generate("bob@example.org")


@pytest.fixture(scope="session")
def carol() -> Identity:
    return Identity.generate("carol@example.org")


@pytest.fixture(scope="session")
def mallory() -> Identity:
    return Identity.generate("mallory@example.net")


@pytest.fixture
def cache() -> MemoryReplayCache:
    return MemoryReplayCache()

"""KeyValueStore, run against every driver."""

from __future__ import annotations

import math

import pytest

from ironwall.storage import JSONValue, KeyValueStore, StorageDriver

RECORD: JSONValue = {
    "salt": "c2FsdA==",
    "iterations": 4096,
    "big": 2**62,
    "ratio": 0.25,
    "locked": False,
    "none": None,
    "tags": ["a", "ü", "雪", 1, [True]],
    "nested": {"x": {"y": []}},
}


async def test_missing_owner_reads_none(driver: StorageDriver) -> None:
    assert await driver.kv("accounts").get("alice@localhost") is None


@pytest.mark.parametrize("value", [RECORD, [1, "two", None], "text", 0, -7, 1.5, True, False])
async def test_value_round_trips(driver: StorageDriver, value: JSONValue) -> None:
    store = driver.kv("accounts")
    await store.set("alice@localhost", value)
    got = await store.get("alice@localhost")
    assert got == value
    assert type(got) is type(value)


async def test_set_replaces(driver: StorageDriver) -> None:
    store = driver.kv("accounts")
    await store.set("alice@localhost", {"v": 1})
    await store.set("alice@localhost", {"v": 2})
    assert await store.get("alice@localhost") == {"v": 2}
    assert await store.owners() == ["alice@localhost"]


async def test_none_deletes(driver: StorageDriver) -> None:
    store = driver.kv("accounts")
    await store.set("alice@localhost", {"v": 1})
    await store.set("alice@localhost", None)
    assert await store.get("alice@localhost") is None
    assert await store.owners() == []
    await store.set("alice@localhost", None)  # deleting nothing is fine
    assert await store.owners() == []


async def test_owners_sorted_and_case_sensitive(driver: StorageDriver) -> None:
    store = driver.kv("accounts")
    for owner in ["carol@localhost", "Alice@localhost", "alice@localhost", "bob@localhost"]:
        await store.set(owner, 1)
    await store.set("Alice@localhost", 2)
    assert await store.owners() == [
        "Alice@localhost",
        "alice@localhost",
        "bob@localhost",
        "carol@localhost",
    ]
    assert await store.get("Alice@localhost") == 2
    assert await store.get("alice@localhost") == 1


async def test_stores_are_separate(driver: StorageDriver) -> None:
    accounts, other = driver.kv("accounts"), driver.kv("vcard")
    await accounts.set("alice@localhost", "a")
    await other.set("bob@localhost", "b")
    assert await accounts.owners() == ["alice@localhost"]
    assert await other.owners() == ["bob@localhost"]
    assert await other.get("alice@localhost") is None
    # A map of the same name is another namespace.
    assert await driver.map("accounts").get_all("alice@localhost") == {}


async def test_unserialisable_value_is_refused_and_nothing_stored(driver: StorageDriver) -> None:
    store = driver.kv("accounts")
    await store.set("alice@localhost", "kept")
    with pytest.raises(TypeError):
        await store.set("alice@localhost", {"k": {1, 2}})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="JSON"):
        await store.set("alice@localhost", math.nan)
    assert await store.get("alice@localhost") == "kept"


async def test_empty_owner_is_refused(driver: StorageDriver) -> None:
    store = driver.kv("accounts")
    with pytest.raises(ValueError, match="owner"):
        await store.set("", 1)
    with pytest.raises(ValueError, match="owner"):
        await store.get("")


async def test_store_satisfies_protocol(driver: StorageDriver) -> None:
    assert isinstance(driver.kv("accounts"), KeyValueStore)

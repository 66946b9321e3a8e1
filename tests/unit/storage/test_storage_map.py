"""MapStore, run against every driver."""

from __future__ import annotations

from ironwall.storage import JSONValue, MapStore, StorageDriver

ITEM: JSONValue = {"name": "Bob", "subscription": "both", "groups": ["Friends"], "ask": None}


async def test_missing_key_reads_none(driver: StorageDriver) -> None:
    assert await driver.map("roster").get("alice@localhost", "bob@localhost") is None


async def test_set_get_replace(driver: StorageDriver) -> None:
    roster = driver.map("roster")
    await roster.set("alice@localhost", "bob@localhost", ITEM)
    assert await roster.get("alice@localhost", "bob@localhost") == ITEM
    await roster.set("alice@localhost", "bob@localhost", {"name": "Robert"})
    assert await roster.get("alice@localhost", "bob@localhost") == {"name": "Robert"}
    assert await roster.get_all("alice@localhost") == {"bob@localhost": {"name": "Robert"}}


async def test_none_deletes_one_key(driver: StorageDriver) -> None:
    roster = driver.map("roster")
    await roster.set("alice@localhost", "bob@localhost", ITEM)
    await roster.set("alice@localhost", "carol@localhost", 3)
    await roster.set("alice@localhost", "bob@localhost", None)
    assert await roster.get("alice@localhost", "bob@localhost") is None
    assert await roster.get_all("alice@localhost") == {"carol@localhost": 3}
    await roster.set("alice@localhost", "nobody@localhost", None)
    assert await roster.get_all("alice@localhost") == {"carol@localhost": 3}


async def test_get_all_is_sorted_by_key(driver: StorageDriver) -> None:
    roster = driver.map("roster")
    for key in ["zed@x", "Bob@x", "amy@x", ""]:
        await roster.set("alice@localhost", key, key.upper())
    everything = await roster.get_all("alice@localhost")
    assert list(everything) == ["", "Bob@x", "amy@x", "zed@x"]
    assert everything["amy@x"] == "AMY@X"


async def test_get_all_of_unknown_owner_is_empty(driver: StorageDriver) -> None:
    assert await driver.map("roster").get_all("nobody@localhost") == {}


async def test_clear_touches_only_that_owner_and_store(driver: StorageDriver) -> None:
    roster, private = driver.map("roster"), driver.map("private")
    await roster.set("alice@localhost", "bob@localhost", 1)
    await roster.set("alice@localhost", "carol@localhost", 2)
    await roster.set("bob@localhost", "alice@localhost", 3)
    await private.set("alice@localhost", "storage:bookmarks", "<storage/>")
    await roster.clear("alice@localhost")
    assert await roster.get_all("alice@localhost") == {}
    assert await roster.get_all("bob@localhost") == {"alice@localhost": 3}
    assert await private.get_all("alice@localhost") == {"storage:bookmarks": "<storage/>"}
    await roster.clear("alice@localhost")  # clearing nothing is fine


async def test_owners_and_keys_are_case_sensitive(driver: StorageDriver) -> None:
    roster = driver.map("roster")
    await roster.set("alice@localhost", "Bob@localhost", 1)
    await roster.set("Alice@localhost", "bob@localhost", 2)
    assert await roster.get("alice@localhost", "bob@localhost") is None
    assert await roster.get_all("alice@localhost") == {"Bob@localhost": 1}
    assert await roster.get_all("Alice@localhost") == {"bob@localhost": 2}


async def test_store_satisfies_protocol(driver: StorageDriver) -> None:
    assert isinstance(driver.map("roster"), MapStore)

"""OnlineMap: whole owners in memory while online, storage always written first."""

from __future__ import annotations

import asyncio

from ironwall.server.online_map import OnlineMap
from ironwall.storage import JSONValue, MapStore, StorageDriver

ALICE = "alice@localhost"
BOB = "bob@localhost"


async def test_an_online_owner_is_read_from_memory_until_a_write(driver: StorageDriver) -> None:
    store = driver.map("roster")
    online = {ALICE}
    cached = OnlineMap(store, online.__contains__)
    await store.set(ALICE, "carol@localhost", {"subscription": "both"})
    assert await cached.get_all(ALICE) == {"carol@localhost": {"subscription": "both"}}
    # Behind the cache's back (another writer it does not know of): memory still answers.
    await store.set(ALICE, "dave@localhost", {"subscription": "to"})
    assert list(await cached.get_all(ALICE)) == ["carol@localhost"]
    assert await cached.get(ALICE, "dave@localhost") is None
    # A write through the cache goes to storage and drops the memory copy.
    await cached.set(ALICE, "erin@localhost", {"subscription": "from"})
    assert await store.get(ALICE, "erin@localhost") == {"subscription": "from"}
    assert list(await cached.get_all(ALICE)) == [
        "carol@localhost",
        "dave@localhost",
        "erin@localhost",
    ]
    await cached.clear(ALICE)
    assert await store.get_all(ALICE) == {}
    assert await cached.get_all(ALICE) == {}


async def test_one_key_of_an_online_owner_loads_them_all(driver: StorageDriver) -> None:
    """The roster is looked up for every message: only the first lookup reads storage."""
    store = driver.map("roster")
    cached = OnlineMap(store, lambda owner: owner == ALICE)
    await store.set(ALICE, "carol@localhost", 1)
    assert await cached.get(ALICE, "dave@localhost") is None
    await store.set(ALICE, "dave@localhost", 2)  # behind the cache's back
    assert await cached.get(ALICE, "dave@localhost") is None
    assert await cached.get(ALICE, "carol@localhost") == 1
    await store.set(BOB, "carol@localhost", 3)
    assert await cached.get(BOB, "carol@localhost") == 3
    await store.set(BOB, "carol@localhost", 4)
    assert await cached.get(BOB, "carol@localhost") == 4


async def test_an_offline_owner_is_always_read_from_storage(driver: StorageDriver) -> None:
    store = driver.map("roster")
    cached = OnlineMap(store, lambda owner: owner == ALICE)
    assert await cached.get_all(BOB) == {}
    await store.set(BOB, "carol@localhost", {"subscription": "both"})
    assert await cached.get_all(BOB) == {"carol@localhost": {"subscription": "both"}}
    assert await cached.get(BOB, "carol@localhost") == {"subscription": "both"}


async def test_forget_and_copies(driver: StorageDriver) -> None:
    store = driver.map("roster")
    cached = OnlineMap(store, lambda owner: True)
    await store.set(ALICE, "carol@localhost", 1)
    first = await cached.get_all(ALICE)
    first["mallory@localhost"] = 2
    assert await cached.get_all(ALICE) == {"carol@localhost": 1}
    await store.set(ALICE, "dave@localhost", 3)
    cached.forget(ALICE)
    assert await cached.get_all(ALICE) == {"carol@localhost": 1, "dave@localhost": 3}


class _ReadsLateStore:
    """A map store whose reads answer late, as a driver with a connection pool may:
    the data is read first, handed back only when ``release`` is set."""

    def __init__(self, store: MapStore) -> None:
        self.store = store
        self.release = asyncio.Event()
        self.read_done = asyncio.Event()

    async def get(self, owner: str, key: str) -> JSONValue | None:
        return await self.store.get(owner, key)

    async def get_all(self, owner: str) -> dict[str, JSONValue]:
        data = await self.store.get_all(owner)
        self.read_done.set()
        await self.release.wait()
        return data

    async def set(self, owner: str, key: str, value: JSONValue | None) -> None:
        await self.store.set(owner, key, value)

    async def clear(self, owner: str) -> None:
        await self.store.clear(owner)


async def test_a_read_overlapping_a_write_is_not_kept(driver: StorageDriver) -> None:
    late = _ReadsLateStore(driver.map("roster"))
    cached = OnlineMap(late, lambda owner: True)
    await late.store.set(ALICE, "carol@localhost", 1)
    read = asyncio.create_task(cached.get_all(ALICE))
    await late.read_done.wait()  # the read has its (old) data and waits
    await cached.set(ALICE, "dave@localhost", 2)
    late.release.set()
    assert await read == {"carol@localhost": 1}
    # What that read saw is older than the write: it was not kept.
    assert await cached.get_all(ALICE) == {"carol@localhost": 1, "dave@localhost": 2}

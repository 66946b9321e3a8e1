"""StorageDriver: lifecycle, account deletion, persistence, sharing a database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from ironwall.storage import StorageDriver, StorageError

OpenDriver = Callable[[], Awaitable[StorageDriver]]
DriverFactory = Callable[[], StorageDriver]

ALICE = "alice@localhost"
BOB = "bob@localhost"


async def test_driver_satisfies_protocol(driver: StorageDriver) -> None:
    assert isinstance(driver, StorageDriver)


@pytest.mark.parametrize("name", ["", "Roster", "a b", "x/y", "ä", "roster\n", "a;b", "a.b"])
async def test_bad_store_names_are_refused(driver: StorageDriver, name: str) -> None:
    for kind in (driver.kv, driver.map, driver.archive):
        with pytest.raises(ValueError, match="store name"):
            kind(name)


@pytest.mark.parametrize("name", ["roster", "a", "0", "urn:xmpp:mam:2", "muc_log-1", "x:y_z-0"])
async def test_good_store_names_are_accepted(driver: StorageDriver, name: str) -> None:
    await driver.kv(name).set(ALICE, 1)
    await driver.map(name).set(ALICE, "k", 2)
    await driver.archive(name).append(ALICE, "p")
    assert await driver.kv(name).get(ALICE) == 1


async def test_delete_owner_wipes_every_kind_and_store(driver: StorageDriver) -> None:
    for owner in (ALICE, BOB):
        await driver.kv("accounts").set(owner, {"salt": "s"})
        await driver.kv("vcard").set(owner, "<vCard/>")
        await driver.map("roster").set(owner, "carol@localhost", {"name": "C"})
        await driver.map("private").set(owner, "ns", "<x/>")
        await driver.archive("offline").append(owner, "<message/>")
        await driver.archive("mam").append(owner, "<message/>", with_jid="carol@localhost")
    await driver.archive("mam").append("carol@localhost", "<message/>", with_jid=ALICE)

    await driver.delete_owner(ALICE)

    assert await driver.kv("accounts").owners() == [BOB]
    assert await driver.kv("vcard").owners() == [BOB]
    assert await driver.map("roster").get_all(ALICE) == {}
    assert await driver.map("private").get_all(ALICE) == {}
    assert await driver.archive("offline").count(ALICE) == 0
    assert await driver.archive("mam").count(ALICE) == 0
    # Everybody else keeps everything, including what they hold about Alice.
    assert await driver.map("roster").get_all(BOB) == {"carol@localhost": {"name": "C"}}
    assert await driver.map("private").get(BOB, "ns") == "<x/>"
    assert await driver.archive("offline").count(BOB) == 1
    assert await driver.archive("mam").count(BOB) == 1
    assert await driver.archive("mam").count("carol@localhost", with_jid=ALICE) == 1
    await driver.delete_owner(ALICE)  # nothing left is fine


async def test_everything_persists_across_close_and_reopen(new_driver: DriverFactory) -> None:
    first = new_driver()
    await first.open()
    await first.kv("accounts").set(ALICE, {"iterations": 4096})
    await first.map("roster").set(ALICE, BOB, {"subscription": "both"})
    item_id = await first.archive("offline").append(ALICE, "<m/>", with_jid=BOB, when=5.0)
    await first.close()

    second = new_driver()
    await second.open()
    try:
        assert await second.kv("accounts").get(ALICE) == {"iterations": 4096}
        assert await second.map("roster").get(ALICE, BOB) == {"subscription": "both"}
        [item] = await second.archive("offline").query(ALICE)
        assert (item.id, item.with_jid, item.when, item.payload) == (item_id, BOB, 5.0, "<m/>")
        # Ids are opaque: the reopened driver appends after the old item, under a new id.
        new_id = await second.archive("offline").append(ALICE, "<n/>")
        assert [i.id for i in await second.archive("offline").query(ALICE)] == [item_id, new_id]
    finally:
        await second.close()


async def test_second_driver_shares_the_database_live(open_new: OpenDriver) -> None:
    """The server and an `ironwall admin` process work on one database at once."""
    server, admin = await open_new(), await open_new()
    await server.kv("accounts").set(ALICE, "verifier")
    assert await admin.kv("accounts").get(ALICE) == "verifier"
    await admin.kv("accounts").set(BOB, "verifier-b")
    await admin.archive("offline").append(ALICE, "from admin")
    assert await server.kv("accounts").owners() == [ALICE, BOB]
    assert await server.archive("offline").count(ALICE) == 1

    async def write(driver: StorageDriver, tag: str) -> None:
        for i in range(50):
            await driver.map("roster").set(ALICE, f"{tag}{i}@x", i)
            await driver.archive("mam").append(ALICE, f"{tag}{i}")

    await asyncio.gather(write(server, "s"), write(admin, "a"))
    assert len(await server.map("roster").get_all(ALICE)) == 100
    assert await admin.archive("mam").count(ALICE) == 100
    await admin.delete_owner(ALICE)
    assert await server.kv("accounts").owners() == [BOB]


async def test_many_concurrent_operations_on_one_driver(driver: StorageDriver) -> None:
    mam, roster = driver.archive("mam"), driver.map("roster")

    async def one(i: int) -> str:
        await roster.set(ALICE, f"c{i}", i)
        return await mam.append(ALICE, f"m{i}", when=float(i))

    ids = await asyncio.gather(*(one(i) for i in range(200)))
    assert len(set(ids)) == 200
    assert await mam.count(ALICE) == 200
    assert len(await roster.get_all(ALICE)) == 200
    assert sorted(item.payload for item in await mam.pop_all(ALICE)) == sorted(
        f"m{i}" for i in range(200)
    )


async def test_open_and_close_are_idempotent(new_driver: DriverFactory) -> None:
    driver = new_driver()
    await driver.open()
    await driver.open()
    await driver.kv("accounts").set(ALICE, 1)
    await driver.close()
    await driver.close()


async def test_use_before_open_or_after_close_fails_clearly(new_driver: DriverFactory) -> None:
    driver = new_driver()
    with pytest.raises(StorageError, match=r"not open; call open\(\) first"):
        await driver.kv("accounts").get(ALICE)
    await driver.open()
    await driver.close()
    with pytest.raises(StorageError, match="not open"):
        await driver.archive("offline").append(ALICE, "x")
    with pytest.raises(StorageError, match="not open"):
        await driver.delete_owner(ALICE)


async def test_close_waits_for_running_operations(new_driver: DriverFactory) -> None:
    driver = new_driver()
    await driver.open()
    store = driver.archive("offline")
    appends = [asyncio.ensure_future(store.append(ALICE, f"m{i}")) for i in range(20)]
    await asyncio.sleep(0)
    await driver.close()
    results = await asyncio.gather(*appends, return_exceptions=True)
    done = [r for r in results if isinstance(r, str)]
    failed = [r for r in results if not isinstance(r, str)]
    assert all(isinstance(r, StorageError) for r in failed)
    reopened = new_driver()
    await reopened.open()
    try:
        assert await reopened.archive("offline").count(ALICE) == len(done)
    finally:
        await reopened.close()

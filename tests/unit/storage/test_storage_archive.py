"""ArchiveStore, run against every driver."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from ironwall.storage import (
    ArchiveItem,
    ArchiveStore,
    QuotaExceeded,
    StorageDriver,
    StorageError,
    UnknownItem,
    Usage,
)

OpenDriver = Callable[[], Awaitable[StorageDriver]]

ALICE = "alice@localhost"
BOB = "bob@localhost"
CAROL = "carol@localhost"


async def fill(store: ArchiveStore, count: int, *, owner: str = ALICE) -> list[str]:
    """Append ``count`` items at times 1000, 1001, ...; every third is with Carol."""
    return [
        await store.append(
            owner, f"<m>{i}</m>", with_jid=CAROL if i % 3 == 0 else BOB, when=1000.0 + i
        )
        for i in range(count)
    ]


def payloads(items: list[ArchiveItem]) -> list[str]:
    return [item.payload for item in items]


async def test_append_then_query_returns_items_in_order(driver: StorageDriver) -> None:
    store = driver.archive("offline")
    first = await store.append(ALICE, "<message/>", with_jid=BOB, when=1234.5)
    second = await store.append(ALICE, "<presence/>")
    one, two = await store.query(ALICE)
    assert one == ArchiveItem(
        id=first, owner=ALICE, with_jid=BOB, when=1234.5, payload="<message/>"
    )
    assert (two.id, two.owner, two.with_jid, two.payload) == (second, ALICE, "", "<presence/>")


async def test_ids_are_unique_and_items_come_in_insertion_order(driver: StorageDriver) -> None:
    store = driver.archive("mam")
    ids = await fill(store, 40)
    assert len(set(ids)) == 40
    assert [item.id for item in await store.query(ALICE)] == ids


async def test_ids_reveal_no_order_and_no_volume(driver: StorageDriver) -> None:
    """Ids are stanza-ids and RSM cursors users see: neither their order nor their values
    may tell how many items the server stored, for anyone, in between."""
    mam = driver.archive("mam")
    alice = [await mam.append(ALICE, f"a{i}") for i in range(30)]
    # Many items of others in between, as on a busy server.
    await asyncio.gather(*(mam.append(BOB, f"b{i}") for i in range(200)))
    alice += [await mam.append(ALICE, f"a{30 + i}") for i in range(30)]
    assert [item.id for item in await mam.query(ALICE)] == alice
    # Neither as text nor as numbers do the ids follow the order of the items (60 random
    # ids come out sorted with a chance of 1 in 60!), so their differences count nothing.
    assert sorted(alice) != alice
    assert sorted(alice, key=lambda item_id: (len(item_id), item_id)) != alice


async def test_ids_are_never_reused(driver: StorageDriver) -> None:
    store = driver.archive("offline")
    old = await store.append(ALICE, "a")
    await store.pop_all(ALICE)
    new = await store.append(ALICE, "b")
    assert new != old


async def test_default_time_is_now(driver: StorageDriver) -> None:
    store = driver.archive("offline")
    before = time.time()
    await store.append(ALICE, "x")
    after = time.time()
    [item] = await store.query(ALICE)
    assert before <= item.when <= after


async def test_owners_and_stores_are_separate(driver: StorageDriver) -> None:
    offline, mam = driver.archive("offline"), driver.archive("mam")
    await offline.append(ALICE, "to alice")
    await offline.append(BOB, "to bob")
    await mam.append(ALICE, "archived")
    assert payloads(await offline.query(ALICE)) == ["to alice"]
    assert payloads(await offline.query(BOB)) == ["to bob"]
    assert payloads(await mam.query(ALICE)) == ["archived"]
    assert await offline.query("Alice@localhost") == []


async def test_with_jid_filter_and_count(driver: StorageDriver) -> None:
    store = driver.archive("mam")
    await fill(store, 10)
    with_carol = await store.query(ALICE, with_jid=CAROL)
    assert payloads(with_carol) == ["<m>0</m>", "<m>3</m>", "<m>6</m>", "<m>9</m>"]
    assert all(item.with_jid == CAROL for item in with_carol)
    assert await store.count(ALICE) == 10
    assert await store.count(ALICE, with_jid=CAROL) == 4
    assert await store.count(ALICE, with_jid=BOB) == 6
    assert await store.count(ALICE, with_jid="nobody@x") == 0
    assert await store.count(BOB) == 0


async def test_concurrent_appends_each_get_the_id_of_their_own_item(
    driver: StorageDriver,
) -> None:
    """Appends made together are committed together; every id still names its own item."""
    mam = driver.archive("mam")
    owners = [ALICE, BOB, CAROL]
    ids = await asyncio.gather(
        *(mam.append(owners[i % 3], f"<m>{i}</m>", when=1000.0 + i) for i in range(300))
    )
    assert len(set(ids)) == 300
    for owner in owners:
        for item in await mam.query(owner):
            assert item.payload == f"<m>{ids.index(item.id)}</m>"
            assert owners[ids.index(item.id) % 3] == owner


async def test_owners_are_those_holding_items_in_this_store(driver: StorageDriver) -> None:
    offline, mam = driver.archive("offline"), driver.archive("mam")
    assert await offline.owners() == set()
    await fill(offline, 2, owner=ALICE)
    await fill(offline, 1, owner=BOB)
    await fill(mam, 1, owner=CAROL)
    assert await offline.owners() == {ALICE, BOB}
    await offline.delete(BOB)
    assert await offline.owners() == {ALICE}
    assert await mam.owners() == {CAROL}


async def test_time_filters_are_inclusive(driver: StorageDriver) -> None:
    store = driver.archive("mam")
    await fill(store, 10)  # times 1000..1009
    assert payloads(await store.query(ALICE, start=1003, end=1005)) == [
        "<m>3</m>",
        "<m>4</m>",
        "<m>5</m>",
    ]
    assert len(await store.query(ALICE, start=1008.5)) == 1
    assert len(await store.query(ALICE, end=999.9)) == 0
    assert payloads(await store.query(ALICE, with_jid=CAROL, start=1001, end=1009)) == [
        "<m>3</m>",
        "<m>6</m>",
        "<m>9</m>",
    ]


async def test_paging_forward_with_after_id(driver: StorageDriver) -> None:
    store = driver.archive("mam")
    ids = await fill(store, 10)
    pages: list[list[str]] = []
    after: str | None = None
    while page := await store.query(ALICE, after_id=after, limit=4):
        pages.append([item.id for item in page])
        after = page[-1].id
    assert pages == [ids[0:4], ids[4:8], ids[8:10]]


async def test_paging_backward_with_before_id_and_reverse(driver: StorageDriver) -> None:
    store = driver.archive("mam")
    ids = await fill(store, 10)
    last_page = await store.query(ALICE, limit=3, reverse=True)
    assert [item.id for item in last_page] == [ids[9], ids[8], ids[7]]
    previous = await store.query(ALICE, before_id=last_page[-1].id, limit=3, reverse=True)
    assert [item.id for item in previous] == [ids[6], ids[5], ids[4]]
    assert [item.id for item in await store.query(ALICE, before_id=ids[2])] == ids[:2]


async def test_after_and_before_together(driver: StorageDriver) -> None:
    store = driver.archive("mam")
    ids = await fill(store, 10)
    window = await store.query(ALICE, after_id=ids[2], before_id=ids[7])
    assert [item.id for item in window] == ids[3:7]
    window = await store.query(ALICE, after_id=ids[2], before_id=ids[7], reverse=True, limit=2)
    assert [item.id for item in window] == [ids[6], ids[5]]
    filtered = await store.query(ALICE, with_jid=CAROL, after_id=ids[0], limit=2)
    assert [item.id for item in filtered] == [ids[3], ids[6]]


async def test_paging_from_an_unknown_item_is_refused(driver: StorageDriver) -> None:
    """A cursor must name an item the owner holds: a deleted one, one of another owner or
    another store, or a made-up one would otherwise let a user probe positions."""
    store = driver.archive("mam")
    ids = await fill(store, 5)
    bobs = await fill(store, 2, owner=BOB)
    offline = await driver.archive("offline").append(ALICE, "x")
    assert await store.delete(ALICE, ids=[ids[2]]) == 1
    for unknown in (ids[2], bobs[0], offline, "0" * 16, "7" * 16):
        with pytest.raises(UnknownItem, match="names no item"):
            await store.query(ALICE, after_id=unknown)
        with pytest.raises(UnknownItem):
            await store.query(ALICE, before_id=unknown, reverse=True, limit=0)
        with pytest.raises(UnknownItem):
            await store.query(ALICE, after_id=ids[0], before_id=unknown)
    # An UnknownItem is a ValueError: the caller's cursor is wrong, the database is fine.
    assert issubclass(UnknownItem, ValueError)
    # Known cursors with nothing beyond them are an empty page, not an error.
    assert await store.query(ALICE, after_id=ids[4]) == []
    assert await store.query(ALICE, after_id=ids[1], before_id=ids[3]) == []
    assert await store.query(ALICE, with_jid="nobody@x", after_id=ids[0]) == []


async def test_limit_zero_and_negative(driver: StorageDriver) -> None:
    store = driver.archive("mam")
    await fill(store, 3)
    assert await store.query(ALICE, limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        await store.query(ALICE, limit=-1)


@pytest.mark.parametrize(
    "bad",
    ["", "zz", "1", "0000000000000001x", "GGGGGGGGGGGGGGGG", "A" * 32, "0" * 20, "0" * 31],
)
async def test_malformed_id_is_refused(driver: StorageDriver, bad: str) -> None:
    store = driver.archive("mam")
    await fill(store, 1)
    with pytest.raises(ValueError, match="not an archive item id"):
        await store.query(ALICE, after_id=bad)
    with pytest.raises(ValueError, match="not an archive item id"):
        await store.delete(ALICE, ids=[bad])
    assert await store.count(ALICE) == 1


async def test_bad_times_are_refused(driver: StorageDriver) -> None:
    store = driver.archive("mam")
    with pytest.raises(ValueError, match="when"):
        await store.append(ALICE, "x", when=float("nan"))
    with pytest.raises(ValueError, match="start"):
        await store.query(ALICE, start=float("inf"))
    assert await store.count(ALICE) == 0


async def test_quota_refuses_and_stores_nothing(driver: StorageDriver) -> None:
    store = driver.archive("offline")
    for i in range(3):
        await store.append(ALICE, f"m{i}", max_items=3)
    with pytest.raises(QuotaExceeded, match="limit of 3") as caught:
        await store.append(ALICE, "secret overflow", max_items=3)
    assert "secret overflow" not in str(caught.value)
    assert isinstance(caught.value, StorageError)
    assert payloads(await store.query(ALICE)) == ["m0", "m1", "m2"]
    # The limit is per owner and per store; without max_items there is none.
    await store.append(BOB, "b", max_items=3)
    await driver.archive("mam").append(ALICE, "a", max_items=3)
    await store.append(ALICE, "unlimited")
    assert await store.count(ALICE) == 4
    # Room again after a delivery.
    await store.pop_all(ALICE)
    await store.append(ALICE, "again", max_items=1)
    with pytest.raises(QuotaExceeded):
        await store.append(ALICE, "over", max_items=1)


async def test_quota_zero_and_negative(driver: StorageDriver) -> None:
    store = driver.archive("offline")
    with pytest.raises(QuotaExceeded):
        await store.append(ALICE, "x", max_items=0)
    with pytest.raises(ValueError, match="max_items"):
        await store.append(ALICE, "x", max_items=-1)
    assert await store.count(ALICE) == 0


async def test_delete_by_ids(driver: StorageDriver) -> None:
    store = driver.archive("mam")
    ids = await fill(store, 6)
    other = await fill(store, 2, owner=BOB)
    # Another owner's id in the list is not touched.
    assert await store.delete(ALICE, ids=[ids[1], ids[4], other[0]]) == 2
    assert [item.id for item in await store.query(ALICE)] == [ids[0], ids[2], ids[3], ids[5]]
    assert await store.count(BOB) == 2
    assert await store.delete(ALICE, ids=[]) == 0
    assert await store.delete(ALICE, ids=[ids[1]]) == 0
    assert await store.count(ALICE) == 4


async def test_delete_many_ids_at_once(driver: StorageDriver) -> None:
    store = driver.archive("mam")
    ids = await fill(store, 50)
    assert await store.delete(ALICE, ids=ids[::2] * 2) == 25
    assert [item.id for item in await store.query(ALICE)] == ids[1::2]


async def test_delete_before_and_combined(driver: StorageDriver) -> None:
    store = driver.archive("mam")
    ids = await fill(store, 10)  # times 1000..1009
    assert await store.delete(ALICE, before=1003) == 3  # strictly older
    assert [item.id for item in await store.query(ALICE)] == ids[3:]
    # Both filters must hold: only the listed ids that are also older.
    assert await store.delete(ALICE, ids=[ids[4], ids[8]], before=1006) == 1
    assert [item.id for item in await store.query(ALICE)] == [ids[3], *ids[5:]]


async def test_delete_everything_of_one_owner(driver: StorageDriver) -> None:
    store = driver.archive("mam")
    await fill(store, 4)
    await fill(store, 2, owner=BOB)
    await driver.archive("offline").append(ALICE, "kept")
    assert await store.delete(ALICE) == 4
    assert await store.count(ALICE) == 0
    assert await store.count(BOB) == 2
    assert await driver.archive("offline").count(ALICE) == 1
    assert await store.delete(ALICE) == 0


async def test_delete_refuses_a_string_as_ids(driver: StorageDriver) -> None:
    store = driver.archive("mam")
    [item_id] = await fill(store, 1)
    with pytest.raises(TypeError, match="ids"):
        await store.delete(ALICE, ids=item_id)
    assert await store.count(ALICE) == 1


async def test_pop_all_returns_everything_and_empties(driver: StorageDriver) -> None:
    store = driver.archive("offline")
    ids = await fill(store, 25)
    await fill(store, 1, owner=BOB)
    popped = await store.pop_all(ALICE)
    assert [item.id for item in popped] == ids
    assert popped[3] == ArchiveItem(
        id=ids[3], owner=ALICE, with_jid=CAROL, when=1003.0, payload="<m>3</m>"
    )
    assert await store.count(ALICE) == 0
    assert await store.pop_all(ALICE) == []
    assert await store.count(BOB) == 1


async def test_pop_all_is_atomic_against_other_processes(open_new: OpenDriver) -> None:
    """Writers and two poppers on separate connections: every item is delivered once."""
    writer, popper_a, popper_b = [await open_new() for _ in range(3)]
    sent = [f"<m>{i}</m>" for i in range(300)]
    delivered: list[str] = []
    writing = True

    async def write() -> None:
        nonlocal writing
        for payload in sent:
            await writer.archive("offline").append(ALICE, payload)
        writing = False

    async def pop(driver: StorageDriver) -> None:
        deadline = time.monotonic() + 30
        while writing and time.monotonic() < deadline:
            delivered.extend(payloads(await driver.archive("offline").pop_all(ALICE)))
            await asyncio.sleep(0)

    await asyncio.gather(write(), pop(popper_a), pop(popper_b))
    delivered.extend(payloads(await popper_a.archive("offline").pop_all(ALICE)))
    assert sorted(delivered) == sorted(sent)


async def test_quota_holds_across_processes(open_new: OpenDriver) -> None:
    first, second = await open_new(), await open_new()
    refused = 0

    async def send(driver: StorageDriver, tag: str) -> None:
        nonlocal refused
        for i in range(15):
            try:
                await driver.archive("offline").append(ALICE, f"{tag}{i}", max_items=10)
            except QuotaExceeded:
                refused += 1

    await asyncio.gather(send(first, "a"), send(second, "b"))
    assert await first.archive("offline").count(ALICE) == 10
    assert refused == 20


async def test_usage_counts_items_and_bytes_per_contact(driver: StorageDriver) -> None:
    store = driver.archive("offline")
    assert await store.usage(ALICE) == {}
    await store.append(ALICE, "abc", with_jid=BOB)
    await store.append(ALICE, "défg", with_jid=BOB)  # é is two bytes in UTF-8
    await store.append(ALICE, "x" * 100, with_jid=CAROL)
    await store.append(ALICE, "no contact")
    await store.append(BOB, "other owner", with_jid=ALICE)
    await driver.archive("mam").append(ALICE, "other store", with_jid=BOB)
    assert await store.usage(ALICE) == {
        BOB: Usage(items=2, bytes=8),
        CAROL: Usage(items=1, bytes=100),
        "": Usage(items=1, bytes=10),
    }
    await store.append(ALICE, "later", with_jid=BOB, when=time.time() + 3600)
    # What counted before a time: without the item appended "later".
    assert (await store.usage(ALICE, before=time.time() + 60))[BOB] == Usage(items=2, bytes=8)
    assert (await store.usage(ALICE))[BOB] == Usage(items=3, bytes=13)
    await store.delete(ALICE, ids=[(await store.query(ALICE, with_jid=BOB))[-1].id])
    await store.delete(ALICE, ids=[(await store.query(ALICE, with_jid=CAROL))[0].id])
    assert CAROL not in await store.usage(ALICE)
    await store.delete(ALICE, before=time.time() + 1, ids=[(await store.query(ALICE))[0].id])
    assert (await store.usage(ALICE))[BOB] == Usage(items=1, bytes=5)
    await store.pop_all(ALICE)
    assert await store.usage(ALICE) == {}
    assert await store.count(ALICE) == 0
    await driver.delete_owner(BOB)
    assert await store.usage(BOB) == {}


async def test_usage_is_exact_under_concurrent_appends(open_new: OpenDriver) -> None:
    """Group commits in one driver and appends from another process all count."""
    first, second = await open_new(), await open_new()
    payloads_ = [f"<m>{'x' * i}</m>" for i in range(100)]
    await asyncio.gather(
        *(first.archive("mam").append(ALICE, p, with_jid=BOB) for p in payloads_[::2]),
        *(second.archive("mam").append(ALICE, p, with_jid=BOB) for p in payloads_[1::2]),
    )
    expected = Usage(items=100, bytes=sum(len(p) for p in payloads_))
    assert await first.archive("mam").usage(ALICE) == {BOB: expected}
    assert await first.archive("mam").count(ALICE) == 100


async def test_store_satisfies_protocol(driver: StorageDriver) -> None:
    assert isinstance(driver.archive("offline"), ArchiveStore)

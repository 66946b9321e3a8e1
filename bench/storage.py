"""Storage hot-path figures: appends/s and query latency of the SQLite driver.

Run: .venv/bin/python bench/storage.py [--appends N] [--archive N]
Works in a temporary directory on the disk that holds $TMPDIR; every append is committed
and fsync'd (WAL, synchronous=FULL), as in the server.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from ironwall.storage import SQLiteDriver

ALICE = "alice@localhost"
CONTACTS = [f"contact{i}@example.org" for i in range(100)]
PAYLOAD = (
    "<message to='alice@localhost'><openpgp xmlns='urn:xmpp:openpgp:0'>"
    + "A" * 600
    + ("</openpgp></message>")
)


async def latency(label: str, call: Callable[[], Awaitable[object]], runs: int = 200) -> None:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p99 = samples[int(len(samples) * 0.99) - 1]
    print(f"  {label:<52} median {statistics.median(samples):7.3f} ms   p99 {p99:7.3f} ms")


def fill_archive(path: Path, items: int) -> None:
    """Bulk-load the archive in one transaction; appending one by one would take minutes."""
    start = time.time() - items
    rows = [
        (
            "mam",
            ALICE,
            CONTACTS[i % len(CONTACTS)] if i % 1000 else "rare@example.org",
            start + i,
            PAYLOAD,
        )
        for i in range(items)
    ]
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO archive (store, owner, with_jid, stamp, payload) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    conn.close()


async def main(appends: int, archive_items: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        driver = SQLiteDriver(path)
        await driver.open()
        offline = driver.archive("offline")
        print(f"SQLite {sqlite3.sqlite_version}, database in {tmp}")

        started = time.perf_counter()
        for i in range(appends):
            await offline.append(f"user{i % 50}@localhost", PAYLOAD, with_jid=CONTACTS[i % 7])
        elapsed = time.perf_counter() - started
        print(f"sequential append, each committed: {appends / elapsed:8.0f} appends/s")

        started = time.perf_counter()
        await asyncio.gather(
            *(
                offline.append(f"user{i % 50}@localhost", PAYLOAD, max_items=1000)
                for i in range(appends)
            )
        )
        elapsed = time.perf_counter() - started
        print(f"{appends} concurrent appends with quota:  {appends / elapsed:8.0f} appends/s")

        # What the archive does while a server is busy: appends share commits.
        mam = driver.archive("mam")
        started = time.perf_counter()
        await asyncio.gather(
            *(
                mam.append(f"user{i % 50}@localhost", PAYLOAD, with_jid=CONTACTS[i % 7])
                for i in range(appends * 5)
            )
        )
        elapsed = time.perf_counter() - started
        print(
            f"{appends * 5} concurrent appends, group commit: {appends * 5 / elapsed:8.0f} appends/s"
        )

        await driver.close()
        fill_archive(path, archive_items)
        driver = SQLiteDriver(path)
        await driver.open()
        mam, offline = driver.archive("mam"), driver.archive("offline")
        print(f"query latency, archive of {archive_items} items of one owner:")
        newest = (await mam.query(ALICE, limit=1, reverse=True))[0].when
        middle = (await mam.query(ALICE, start=newest - archive_items / 2, limit=1))[0].id
        await latency("last 50 (RSM <before/>)", lambda: mam.query(ALICE, limit=50, reverse=True))
        await latency(
            "50 before an id in the middle",
            lambda: mam.query(ALICE, before_id=middle, limit=50, reverse=True),
        )
        await latency(
            "last 50 with a contact (1% of items)",
            lambda: mam.query(ALICE, with_jid=CONTACTS[1], limit=50, reverse=True),
        )
        await latency(
            "last 50 with a rare contact (0.1% of items)",
            lambda: mam.query(ALICE, with_jid="rare@example.org", limit=50, reverse=True),
        )
        await latency(
            "since an hour ago, first 50",
            lambda: mam.query(ALICE, start=newest - 3600, limit=50),
        )
        await latency(
            "since the oldest item, first 50",
            lambda: mam.query(ALICE, start=newest - archive_items, limit=50),
            runs=20,
        )
        await latency("count with a contact", lambda: mam.count(ALICE, with_jid=CONTACTS[1]))
        await latency("count of all", lambda: mam.count(ALICE), runs=20)
        await latency("usage per contact (quota accounting)", lambda: mam.usage(ALICE), runs=5)

        roster = driver.map("roster")
        for contact in CONTACTS:
            await roster.set(ALICE, contact, {"name": contact, "subscription": "both"})
        await latency("roster get_all (100 items)", lambda: roster.get_all(ALICE))
        accounts = driver.kv("accounts")
        await latency("kv set (committed)", lambda: accounts.set(ALICE, {"salt": "x" * 24}))
        await latency("kv get", lambda: accounts.get(ALICE))

        async def offline_round() -> None:
            for _ in range(20):
                await offline.append("bob@localhost", PAYLOAD)
            await offline.pop_all("bob@localhost")

        await latency("20 offline appends + pop_all", offline_round, runs=20)
        await driver.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--archive", type=int, default=100_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.appends, arguments.archive))

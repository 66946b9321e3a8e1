"""Fixtures running the storage suite against every driver.

A second driver (PostgreSQL) joins by adding its name to ``DRIVERS`` and a branch in
``new_driver`` that returns factories for drivers reaching one fresh, empty database.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from ironwall.storage import SQLiteDriver, StorageDriver

DRIVERS = ["sqlite"]

DriverFactory = Callable[[], StorageDriver]
OpenDriver = Callable[[], Awaitable[StorageDriver]]


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    """Every driver a test opened must have stopped its worker thread by teardown.

    Collecting garbage here also turns an aiosqlite connection dropped unclosed into its
    ResourceWarning, which fails the test (warnings are errors).
    """
    before = set(threading.enumerate())
    yield
    gc.collect()
    deadline = time.monotonic() + 2.0
    while (extra := set(threading.enumerate()) - before) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not extra, f"threads left running: {extra}"


@pytest.fixture(params=DRIVERS)
def new_driver(request: pytest.FixtureRequest, tmp_path: Path) -> DriverFactory:
    """Make unopened drivers that all reach the same database, empty at first."""
    assert request.param == "sqlite"
    path = tmp_path / "ironwall.db"
    return lambda: SQLiteDriver(path)


@pytest.fixture
async def open_new(new_driver: DriverFactory) -> AsyncIterator[OpenDriver]:
    """Open another driver on the test's database; all are closed at teardown."""
    opened: list[StorageDriver] = []

    async def make() -> StorageDriver:
        driver = new_driver()
        await driver.open()
        opened.append(driver)
        return driver

    yield make
    for driver in opened:
        await driver.close()


@pytest.fixture
async def driver(open_new: OpenDriver) -> StorageDriver:
    """An open driver on a fresh database."""
    return await open_new()

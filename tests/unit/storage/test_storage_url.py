"""open_driver: from the configured URL to a driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from ironwall.storage import SQLiteDriver, StorageError, open_driver


def exists(path: Path) -> bool:
    return path.is_file()


async def assert_sqlite_at(url: str, path: Path) -> None:
    driver = open_driver(url)
    assert isinstance(driver, SQLiteDriver)
    assert not exists(path)  # building the driver touches nothing
    await driver.open()
    try:
        await driver.kv("accounts").set("alice@localhost", 1)
    finally:
        await driver.close()
    assert exists(path)


async def test_sqlite_url_with_absolute_path(tmp_path: Path) -> None:
    await assert_sqlite_at(f"sqlite://{tmp_path}/server.db", tmp_path / "server.db")


async def test_sqlite_url_is_percent_decoded(tmp_path: Path) -> None:
    await assert_sqlite_at(f"sqlite://{tmp_path}/my%20data.db", tmp_path / "my data.db")


async def test_plain_path(tmp_path: Path) -> None:
    await assert_sqlite_at(str(tmp_path / "plain.db"), tmp_path / "plain.db")


@pytest.mark.parametrize("url", ["postgresql://ironwall@db.example/ironwall", "postgres://h/d"])
def test_postgresql_says_what_to_do(url: str) -> None:
    with pytest.raises(StorageError, match=r"PostgreSQL .* not available yet .*\[postgres\]"):
        open_driver(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "no database configured"),
        ("sqlite://", "needs a file path"),
        ("sqlite:///var/x.db?mode=ro", "takes no options"),
        ("mysql://h/d", "unknown database URL scheme 'mysql': use one of sqlite://"),
    ],
)
def test_bad_urls_fail_clearly(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        open_driver(url)

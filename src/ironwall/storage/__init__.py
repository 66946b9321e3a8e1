"""Ironwall storage: three narrow store kinds (key-value, map, archive) behind a driver.

``open_driver(url)`` builds the configured driver; ``await driver.open()`` creates or
migrates the schema; ``driver.kv(name)``, ``driver.map(name)`` and ``driver.archive(name)``
give the stores. Only ``ironwall.server`` imports this package.
"""

from ironwall.storage.interface import (
    ArchiveItem,
    ArchiveStore,
    JSONValue,
    KeyValueStore,
    MapStore,
    QuotaExceeded,
    StorageDriver,
    StorageError,
    UnknownItem,
    Usage,
)
from ironwall.storage.sqlite import SQLiteDriver
from ironwall.storage.url import open_driver

__all__ = [
    "ArchiveItem",
    "ArchiveStore",
    "JSONValue",
    "KeyValueStore",
    "MapStore",
    "QuotaExceeded",
    "SQLiteDriver",
    "StorageDriver",
    "StorageError",
    "UnknownItem",
    "Usage",
    "open_driver",
]

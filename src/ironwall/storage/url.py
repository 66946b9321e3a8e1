"""Choose and build a storage driver from the configured database URL."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from ironwall.storage.interface import StorageDriver, StorageError
from ironwall.storage.sqlite import SQLiteDriver

__all__ = ["open_driver"]


def _sqlite(location: str) -> StorageDriver:
    if not location or "?" in location:
        raise StorageError(
            "an SQLite URL needs a file path and takes no options, "
            "e.g. sqlite:///var/lib/ironwall/ironwall.db"
        )
    return SQLiteDriver(unquote(location))


def _postgresql(location: str) -> StorageDriver:
    raise StorageError(
        "the PostgreSQL storage driver is not available yet in this version of Ironwall "
        "(it will need `pip install 'ironwall[postgres]'`); use an SQLite database for now, "
        "e.g. sqlite:///var/lib/ironwall/ironwall.db"
    )


# A new driver is one entry here: scheme -> factory taking the rest of the URL after "://".
_DRIVERS: dict[str, Callable[[str], StorageDriver]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,
    "postgres": _postgresql,
}


def open_driver(url: str) -> StorageDriver:
    """Return the driver for ``url``, not yet opened (call ``await driver.open()``).

    ``sqlite:///abs/path.db`` (percent-escapes decoded) or a plain file path gives an
    ``SQLiteDriver``; ``postgresql://...`` raises ``StorageError`` until that driver exists.
    """
    scheme, separator, location = url.partition("://")
    if not separator:
        if not url:
            raise StorageError("no database configured: give a file path or a sqlite:/// URL")
        return SQLiteDriver(url)
    factory = _DRIVERS.get(scheme.lower())
    if factory is None:
        known = ", ".join(f"{name}://" for name in _DRIVERS)
        raise StorageError(f"unknown database URL scheme {scheme!r}: use one of {known}")
    return factory(location)

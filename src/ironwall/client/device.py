"""What a device knows about an account before it is unlocked: ``device.json``.

Only what is needed to unlock and connect lives outside the encrypted local state: the
server's address and CA file, how the account password is obtained, and the sealed secret
key — the same passphrase-sealed blob the server holds, useless without the passphrase or
recovery code. The file is private to its user (0600 in a 0700 directory).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ironwall.client.errors import ClientError
from ironwall.client.xmpp import ServerAddress

__all__ = ["DEVICE_FILE", "DeviceFile", "make_private_dir"]

DEVICE_FILE = "device.json"


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) readable by its owner only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


@dataclass
class DeviceFile:
    """The unencrypted part of an account on this device."""

    directory: Path
    jid: str
    server_host: str | None = None
    server_port: int = 5222
    ca_file: str | None = None
    #: "derived" (from the passphrase, the default) or "given" (an existing account's).
    login_kind: str = "derived"
    sealed_key: bytes | None = None
    #: When the owner revoked the account from this device (ISO 8601), if they did.
    revoked_at: str | None = None

    @property
    def path(self) -> Path:
        """Where the file lives."""
        return self.directory / DEVICE_FILE

    @property
    def address(self) -> ServerAddress:
        """Where this device connects for the account."""
        ca = Path(self.ca_file) if self.ca_file else None
        return ServerAddress(self.server_host, self.server_port, ca)

    def set_address(self, address: ServerAddress) -> None:
        """Remember the server address and CA file."""
        self.server_host = address.host
        self.server_port = address.port
        self.ca_file = str(address.ca_file.resolve()) if address.ca_file else None

    @classmethod
    def load(cls, directory: Path, jid: str) -> DeviceFile | None:
        """The device file in ``directory``, or None if there is none."""
        path = directory / DEVICE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ClientError(f"cannot read {path}: {exc}; restore it or log in again") from None
        try:
            sealed = data.get("sealed_key")
            return cls(
                directory,
                str(data.get("jid", jid)),
                data.get("server_host"),
                int(data.get("server_port", 5222)),
                data.get("ca_file"),
                str(data.get("login_kind", "derived")),
                base64.b64decode(sealed, validate=True) if sealed else None,
                data.get("revoked_at"),
            )
        except (TypeError, ValueError, binascii.Error):
            raise ClientError(f"{path} is damaged; move it away and log in again") from None

    def save(self) -> None:
        """Write the file atomically, private from creation."""
        make_private_dir(self.directory)
        data: dict[str, Any] = {
            "jid": self.jid,
            "server_host": self.server_host,
            "server_port": self.server_port,
            "ca_file": self.ca_file,
            "login_kind": self.login_kind,
            "sealed_key": base64.b64encode(self.sealed_key).decode() if self.sealed_key else None,
            "revoked_at": self.revoked_at,
        }
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)

    def forget(self) -> None:
        """Delete everything this device holds for the account."""
        shutil.rmtree(self.directory, ignore_errors=True)

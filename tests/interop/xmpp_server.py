"""What every server kind of the interop harness hands to tests, and the test TLS material."""

from __future__ import annotations

import datetime
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import trustme

__all__ = ["ServerHandle", "TlsFiles", "XmppServer", "frozen_users", "make_tls"]


@dataclass(frozen=True)
class XmppServer:
    """A running XMPP server on loopback, as tests see it.

    ``users`` maps local part to password for the accounts created at start.
    """

    kind: str
    software: str
    domain: str
    host: str
    port: int
    ca_pem_path: Path
    log_path: Path
    users: Mapping[str, str] = field(repr=False)

    def jid(self, user: str) -> str:
        """Return the bare JID of one of the accounts created at start."""
        if user not in self.users:
            raise KeyError(f"no account {user!r} on this {self.kind} server")
        return f"{user}@{self.domain}"

    @property
    def address(self) -> str:
        """``host:port`` of the client-to-server listener."""
        return f"{self.host}:{self.port}"


class ServerHandle(Protocol):
    """A started server: its public description and a way to stop it (idempotent)."""

    @property
    def server(self) -> XmppServer:
        """The description handed to tests."""
        ...

    def stop(self) -> None:
        """Stop the server and every process it started; safe to call twice."""
        ...


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a throwaway CA and a server certificate issued by it."""

    ca_pem: Path
    cert_pem: Path
    key_pem: Path
    key_and_cert_pem: Path


def make_tls(directory: Path, domain: str) -> TlsFiles:
    """Issue a certificate for ``domain`` from a fresh test CA and write the PEM files.

    The validity is bounded to 30 days: trustme's default (until the year 3000)
    crashes ejabberd 23.01, whose expiry timer overflows Erlang's maximum, and
    ejabberd warns in its log about anything due within a week.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    now = datetime.datetime.now(datetime.UTC)
    leaf = ca.issue_cert(
        domain,
        not_before=now - datetime.timedelta(hours=1),
        not_after=now + datetime.timedelta(days=30),
    )
    files = TlsFiles(
        ca_pem=directory / "ca.pem",
        cert_pem=directory / "cert.pem",
        key_pem=directory / "key.pem",
        key_and_cert_pem=directory / "key-and-cert.pem",
    )
    ca.cert_pem.write_to_path(str(files.ca_pem))
    with files.cert_pem.open("wb") as fh:
        for blob in leaf.cert_chain_pems:
            fh.write(blob.bytes())
    leaf.private_key_pem.write_to_path(str(files.key_pem))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(files.key_and_cert_pem))
    for path in (files.key_pem, files.key_and_cert_pem):
        path.chmod(0o600)
    return files


def frozen_users(users: Mapping[str, str]) -> Mapping[str, str]:
    """Return a read-only copy of a username -> password mapping."""
    return types.MappingProxyType(dict(users))

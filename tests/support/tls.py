"""A test certificate authority and a server certificate for ``localhost``."""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class PKI:
    """Paths of the CA certificate and of the server's certificate chain and key."""

    ca_pem: Path
    cert_pem: Path
    key_pem: Path


@functools.cache
def test_pki() -> PKI:
    """One CA and one ``localhost`` certificate for the whole test run."""
    directory = Path(tempfile.mkdtemp(prefix="ironwall-pki-"))
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "example.test", "127.0.0.1")
    ca_pem = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    cert_pem = directory / "server.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_pem))
    key_pem = directory / "server.key"
    cert.private_key_pem.write_to_path(str(key_pem))
    return PKI(ca_pem, cert_pem, key_pem)


# Not a test, although its name starts with "test_".
test_pki.__test__ = False  # type: ignore[attr-defined]

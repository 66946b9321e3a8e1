"""TLS for client connections: the server's certificate and its SSL context.

This is transport security, not end-to-end crypto: it is the one place outside
``ironwall.e2e`` that touches key material (the server's own TLS key), and only
through ``cryptography.x509`` to make a self-signed certificate on first start.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["TLSMaterial", "ensure_self_signed", "load_tls"]


class TLSMaterial:
    """An SSL context for serving, and the ``tls-server-end-point`` binding data."""

    def __init__(self, context: ssl.SSLContext, certificate_der: bytes) -> None:
        self.context = context
        # RFC 5929 §4.1: hash the certificate with its signature hash, SHA-256 for MD5/SHA-1.
        cert = x509.load_der_x509_certificate(certificate_der)
        algorithm = cert.signature_hash_algorithm
        name = (
            "sha256" if algorithm is None or algorithm.name in ("md5", "sha1") else algorithm.name
        )
        self.channel_binding = hashlib.new(name, certificate_der).digest()


def ensure_self_signed(directory: Path, domains: tuple[str, ...]) -> tuple[Path, Path]:
    """Create (once) a self-signed certificate for ``domains`` in ``directory``."""
    cert_path = directory / "tls-cert.pem"
    key_path = directory / "tls-key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domains[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key_bytes)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def load_tls(certificate: Path, private_key: Path) -> TLSMaterial:
    """Build the server SSL context (TLS 1.2+) from PEM files."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certificate, private_key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"cannot load the TLS certificate {certificate} or its key: {exc.__class__.__name__}"
        ) from None
    pem = certificate.read_text(encoding="ascii")
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    start = pem.find(begin)
    if start < 0:
        raise ValueError(f"no certificate found in {certificate}")
    leaf = pem[start : pem.index(end, start) + len(end)]
    return TLSMaterial(context, ssl.PEM_cert_to_DER_cert(leaf))

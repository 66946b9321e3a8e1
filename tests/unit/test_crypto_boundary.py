"""Acceptance 5 of the e2e issue: crypto lives in `ironwall.e2e` and nowhere else.

No module of src/ironwall outside src/ironwall/e2e/ may import OpenPGP or a cryptographic
primitive library (encryption, signatures, key derivation): `pysequoia`, `cryptography`,
PyNaCl, PyCryptodome, argon2-cffi, python-gnupg, PGPy, and SQLCipher (the client's
encrypted local database). Dynamic imports by name count too.

Allowed on purpose:
- `ssl` (the transport's TLS, not message crypto) and `secrets` (random identifiers);
- `hashlib` / `hmac` for protocol digests that are not e2e crypto: SCRAM (RFC 5802, with
  scramp) and XEP-0115 entity-capabilities hashes;
- the listed exceptions below: the server's self-signed TLS certificate (`server/tls.py`)
  and the archive-id permutation (`storage/archive_ids.py`, one AES block over a row
  number, so ids hide message volume and order from users); neither touches message
  content.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ironwall"
CRYPTO_HOME = SRC / "e2e"
FORBIDDEN = (
    "pysequoia",
    "cryptography",
    "nacl",
    "Crypto",
    "Cryptodome",
    "argon2",
    "gnupg",
    "pgpy",
    "sqlcipher3",
)
EXCEPTIONS = {
    # Self-signed TLS certificate for the server's transport (cryptography.x509 and an EC
    # key for it): connection security, not end-to-end message crypto.
    SRC / "server" / "tls.py": {"cryptography"},
    # Archive ids as a keyed permutation of the row number (one AES-128 block), which hides
    # message volume and order from users: not end-to-end message crypto; no message
    # content is touched.
    SRC / "storage" / "archive_ids.py": {"cryptography"},
}


def forbidden_imports(source: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    """The forbidden modules `source` imports, statically or by name, as 'line: module'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and _called_name(node.func) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        for name in names:
            top = name.split(".")[0]
            if top in FORBIDDEN and top not in allowed:
                found.append(f"{node.lineno}: {name}")
    return found


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def test_no_crypto_outside_e2e() -> None:
    offenders = {}
    for path in sorted(SRC.rglob("*.py")):
        if CRYPTO_HOME in path.parents:
            continue
        allowed = frozenset(EXCEPTIONS.get(path, set()))
        found = forbidden_imports(path.read_text(encoding="utf-8"), allowed)
        if found:
            offenders[str(path.relative_to(SRC.parent))] = found
    assert offenders == {}


def test_the_exceptions_still_exist() -> None:
    # A stale exception would silently allow crypto back in under that name.
    for path in EXCEPTIONS:
        assert path.is_file(), path


def test_e2e_is_where_the_crypto_is() -> None:
    found = forbidden_imports((CRYPTO_HOME / "message.py").read_text(encoding="utf-8"))
    assert any(entry.endswith(": pysequoia") for entry in found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import pysequoia", ["1: pysequoia"]),
        ("import os, nacl.secret", ["1: nacl.secret"]),
        (
            "from cryptography.hazmat.primitives.ciphers.aead import AESGCM",
            ["1: cryptography.hazmat.primitives.ciphers.aead"],
        ),
        ("from Crypto.Cipher import AES", ["1: Crypto.Cipher"]),
        ("import importlib\nm = importlib.import_module('pysequoia')", ["2: pysequoia"]),
        ("x = __import__('argon2')", ["1: argon2"]),
        ("import hashlib, hmac, ssl, secrets", []),
        ("from . import cryptography", []),  # a sibling module that happens to be so named
        ("from ironwall.e2e import seal_message", []),
    ],
)
def test_scanner_finds_every_form(source: str, expected: list[str]) -> None:
    assert forbidden_imports(source) == expected


def test_exception_allows_only_its_own_modules() -> None:
    source = "from cryptography import x509\nimport pysequoia"
    assert forbidden_imports(source, frozenset({"cryptography"})) == ["2: pysequoia"]

"""Fuzz reading decrypted ``<signcrypt>`` content (ironwall.e2e.signcrypt.parse_signcrypt).

Anyone holding a recipient's public key can encrypt arbitrary bytes to it, so what comes
out of decryption is attacker-controlled. Input: those bytes.

What must hold: ``MalformedSigncrypt`` is the only error; what is read builds again and
reads back the same (the time to the second, as it is written).
"""

from __future__ import annotations

import dataclasses

from fuzz_common import fuzz, instrumented

with instrumented(__name__):
    from ironwall.e2e.signcrypt import MalformedSigncrypt, build_signcrypt, parse_signcrypt


def test_one_input(data: bytes) -> None:
    """Parse ``data`` as a ``<signcrypt>`` and round-trip what it holds."""
    try:
        content = parse_signcrypt(data)
    except MalformedSigncrypt:
        return
    again = parse_signcrypt(build_signcrypt(content, rpad=""))
    expected = dataclasses.replace(content, timestamp=content.timestamp.replace(microsecond=0))
    assert again == expected, (content, again)


if __name__ == "__main__":
    fuzz(test_one_input)

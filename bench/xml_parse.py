"""Throughput of ironwall.xml: stanzas parsed per second and stanzas serialised per second.

Parses ~200-byte <message/> stanzas fed in 4 KiB chunks, the way the server reads them.
Run: .venv/bin/python bench/xml_parse.py [--stanzas N]
"""

from __future__ import annotations

import argparse
import time

from ironwall.xml import StanzaReceived, StreamParser, serialize

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>"
)
STANZA = (
    b"<message to='juliet@example.org/balcony' from='romeo@example.net/orchard' "
    b"type='chat' id='a1b2c3d4e5'><body>Art thou not Romeo, and a Montague? &amp; more"
    b"</body><store xmlns='urn:xmpp:hints'/></message>"
)
CHUNK = 4096


def bench_parse(count: int) -> tuple[float, list[StanzaReceived]]:
    """Return (stanzas per second, the parsed stanzas)."""
    data = HEADER + STANZA * count
    parser = StreamParser()
    stanzas: list[StanzaReceived] = []
    start = time.perf_counter()
    for offset in range(0, len(data), CHUNK):
        for event in parser.feed(data[offset : offset + CHUNK]):
            if isinstance(event, StanzaReceived):
                stanzas.append(event)
    elapsed = time.perf_counter() - start
    assert len(stanzas) == count
    return count / elapsed, stanzas


def bench_serialize(stanzas: list[StanzaReceived]) -> float:
    """Return stanzas serialised per second."""
    start = time.perf_counter()
    for event in stanzas:
        serialize(event.element, "jabber:client")
    return len(stanzas) / (time.perf_counter() - start)


def main() -> None:
    """Print the figures."""
    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("--stanzas", type=int, default=100_000)
    count = arguments.parse_args().stanzas
    print(f"stanza size: {len(STANZA)} bytes, chunk size: {CHUNK} bytes")
    parse_rate, stanzas = bench_parse(count)
    print(f"parse:     {parse_rate:>10,.0f} stanzas/s")
    print(f"serialize: {bench_serialize(stanzas):>10,.0f} stanzas/s")


if __name__ == "__main__":
    main()

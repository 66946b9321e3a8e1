"""End-to-end crypto figures: seals/s and opens/s of a 200-byte message to one recipient,
and the time to unlock a sealed secret key at the default Argon2id cost.

Goal (issue 4): at least 3,000 seals/s and 3,000 opens/s; unlocking about 0.5 s.
Run: .venv/bin/python bench/crypto.py [--seconds S] [--unlocks N]
Single-threaded, as a client runs them; each rate is the best of three rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from ironwall.e2e import (
    Identity,
    MemoryReplayCache,
    open_message,
    open_secret_key,
    seal_message,
    seal_secret_key,
)
from ironwall.e2e.secretkey import ARGON2_DEFAULT

BODY = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 3 + "x" * 29  # 200 bytes
PASSPHRASE = "kettle umbrella vivid orbit"
ROUNDS = 3


def rate(label: str, operation: Callable[[], object], seconds: float) -> float:
    """Run `operation` for about `seconds` per round; print and return the best ops/s."""
    best = 0.0
    for _ in range(ROUNDS):
        count = 0
        started = time.perf_counter()
        deadline = started + seconds / ROUNDS
        while time.perf_counter() < deadline:
            operation()
            count += 1
        best = max(best, count / (time.perf_counter() - started))
    print(f"  {label:<44} {best:9,.0f} /s")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measured operation")
    parser.add_argument("--unlocks", type=int, default=5, help="sealed-key unlocks to time")
    args = parser.parse_args()
    assert len(BODY.encode()) == 200

    alice = Identity.generate("alice@example.org")
    bob = Identity.generate("bob@example.org")
    recipients = {bob.jid: [bob.public_key]}

    print("ironwall.e2e, 200-byte body, one recipient (+ the sender's own key):")
    rate("seal_message", lambda: seal_message(alice, recipients, BODY), args.seconds)

    # Opening consumes messages (the replay cache refuses a second open), so seal a stock
    # first, enough for the fastest plausible rate.
    stock = [seal_message(alice, recipients, BODY).text for _ in range(int(args.seconds * 8_000))]
    cache = MemoryReplayCache()
    texts = iter(stock)

    def open_next() -> object:
        return open_message(
            bob,
            next(texts),
            outer_from=alice.jid,
            outer_to=bob.jid,
            sender_keys=[alice.public_key],
            replay_cache=cache,
        )

    rate("open_message (all receiver checks)", open_next, args.seconds)

    blob = seal_secret_key(alice, PASSPHRASE)
    samples = []
    for _ in range(args.unlocks):
        started = time.perf_counter()
        open_secret_key(blob, PASSPHRASE)
        samples.append(time.perf_counter() - started)
    cost = ARGON2_DEFAULT
    print(
        f"  {'open_secret_key (unlock)':<44} median {statistics.median(samples):.3f} s"
        f"  (min {min(samples):.3f}, max {max(samples):.3f}; Argon2id "
        f"{cost.memory_kib // 1024} MiB, t={cost.iterations}, p={cost.lanes})"
    )


if __name__ == "__main__":
    main()

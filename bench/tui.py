"""Terminal chat figures: opening a 10,000-message conversation, showing a burst of 1,000
incoming messages, and the longest event-loop stall of ``ironwall chat`` while it does both.

Goals (issue acceptance): open under 0.5 s, no stall over 50 ms. They are printed as
PASS/MISS; the exit code is 0 either way (figures, not assertions).

What runs, all on loopback with real TLS and real accounts:

- a child process runs an Ironwall server (in its event loop) and the other side: it
  creates alice, bob and carol, makes bob and carol alice's contacts, and keeps bob
  online. Bob lives in another process as he lives on another machine: his sealing
  must not take the chat's event loop or its core;
- this process seeds alice's local state (the storage the chat reads) with ``--messages``
  messages with bob and as many with carol: both directions, bodies of varied length,
  over 90 days, so that day separators appear;
- it starts the chat (`ChatApp`, Textual's headless driver, 100x30) for alice, which
  unlocks and logs in itself, and times `MainScreen.open_conversation` for bob and carol
  in turn until the frame with the conversation is drawn;
- with bob's conversation open, bob sends ``--burst`` encrypted messages as fast as he
  can; timed from his first send until alice's message list holds all of them;
- a task in the chat's event loop sleeps 5 ms at a time and records how late it wakes:
  the longest and the 99th percentile lateness per phase are the stalls.

The accounts use the tests' fast passphrase KDF: unlocking is not what is measured here.

Run (about a minute on 2 cores): .venv/bin/python bench/tui.py [--messages N] [--burst N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from ironwall.client import Account, ClientSession
from ironwall.client.events import CHECK_NAMES, Delivery, Direction, MessageStatus
from ironwall.client.state import LocalState
from ironwall.client.xmpp import ServerAddress
from ironwall.server.app import Server
from ironwall.server.config import Config, Listener
from ironwall.tui.app import ChatApp
from ironwall.tui.main_screen import MainScreen
from ironwall.tui.message_list import FIRST_PAGE
from servers.common import make_tls

PASSPHRASE = "orbit lantern quietly seventeen marble"
ALICE, BOB, CAROL = "alice@localhost", "bob@localhost", "carol@localhost"
SIZE = (100, 30)
OPEN_ROUNDS = 5
OPEN_GOAL = 0.5
STALL_GOAL = 0.050
MONITOR_INTERVAL = 0.005
#: Bob's sends in flight at once: enough to keep his sealing threads busy.
SEND_WINDOW = 64
#: Longest wait for anything (a login, the burst) before the bench gives up on it.
TIMEOUT = 120.0

_VOCABULARY = (
    "the a to and of you it is that in we for on this be are have so not with just "
    "at can but tomorrow meeting train coffee later tonight thanks okay yes no maybe "
    "send file photo address keys verified lunch weekend call back soon sorry great "
    "sounds good see running late home office project draft review number door"
)
_WORDS = _VOCABULARY.split()


# ------------------------------------------------------------------ the other side


def _world_process(home: Path, conn: Connection) -> None:
    """The child: the server and bob, driven by the parent over ``conn``."""
    asyncio.run(_world(home, conn))


async def _world(home: Path, conn: Connection) -> None:
    tls = make_tls(home / "tls")
    config = Config(
        data_dir=home / "server",
        listeners=(Listener("127.0.0.1", 0),),
        certificate=tls.cert_pem,
        private_key=tls.key_pem,
        log_level="warning",
    )
    server = Server(config)
    await server.start()
    try:
        address = ServerAddress("127.0.0.1", server.addresses[0][1], tls.ca_pem)
        accounts = {}
        for jid in (ALICE, BOB, CAROL):
            account = Account(jid, home, insecure_fast_kdf_for_tests=True)
            account.remember_address(address)
            await account.create(PASSPHRASE)
            accounts[jid] = account
        for friend in (BOB, CAROL):
            await _befriend(accounts[ALICE], accounts[friend])
        async with accounts[BOB].open(PASSPHRASE, available=True) as bob:
            await bob.settled()
            conn.send(("ready",))
            while True:
                command = await asyncio.to_thread(conn.recv)
                if command[0] == "burst":
                    conn.send(await _burst(bob, command[1]))
                else:
                    break
    finally:
        await server.stop()


async def _befriend(first: Account, second: Account) -> None:
    async with first.open(PASSPHRASE) as session:
        await session.add_contact(second.jid)
        await session.settled()
    async with second.open(PASSPHRASE) as session:
        await session.accept_contact(first.jid)
        await session.settled()


async def _burst(bob: ClientSession, count: int) -> tuple[str, float, float]:
    """Send ``count`` messages to alice, at most `SEND_WINDOW` at a time."""
    window = asyncio.Semaphore(SEND_WINDOW)
    rng = random.Random(2)

    async def one(index: int) -> None:
        async with window:
            await bob.send(ALICE, f"burst {index}: {_body(rng)}")

    first = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(count)))
    return ("sent", first, time.monotonic())


# ------------------------------------------------------------------ seeding


def _body(rng: random.Random) -> str:
    """A chat message: mostly short, some long, a few over several lines."""
    words = rng.choice((2, 4, 6, 9, 14, 25, 60))
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    if rng.random() < 0.05:
        text += "\n" + " ".join(rng.choice(_WORDS) for _ in range(8))
    return text.capitalize()


def _seed(state: LocalState, peer: str, count: int, rng: random.Random) -> None:
    """``count`` messages with ``peer`` over the 90 days up to an hour ago, read."""
    now = time.time() - 3600
    stamps = sorted(now - rng.uniform(0, 90 * 86400) for _ in range(count))
    direction = Direction.IN
    checks = tuple((name, True) for name in CHECK_NAMES)
    with state.transaction():
        for stamp in stamps:
            # Turns of one to three messages, as people write.
            if rng.random() < 0.6:
                direction = Direction.OUT if direction is Direction.IN else Direction.IN
            out = direction is Direction.OUT
            state.add_message(
                peer,
                direction,
                _body(rng),
                stamp,
                MessageStatus.UNVERIFIED,
                origin_id=str(uuid.uuid4()),
                delivery=Delivery.READ if out else None,
                checks=() if out else checks,
            )


async def _seed_alice(home: Path, count: int) -> None:
    alice = Account(ALICE, home, insecure_fast_kdf_for_tests=True)
    _identity, state, _login = await alice.unlock(PASSPHRASE)
    try:
        rng = random.Random(1)
        for peer in (BOB, CAROL):
            _seed(state, peer, count, rng)
    finally:
        state.close()


# ------------------------------------------------------------------ measuring


class FullCollections:
    """The duration of each of CPython's full (oldest generation) garbage collections."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self.recording = False
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2 or not self.recording:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.durations.append(time.perf_counter() - self._started)


class StallMonitor:
    """How late a task in the event loop wakes from 5 ms sleeps: the loop's stalls."""

    def __init__(self) -> None:
        self._late: list[float] = []

    async def run(self) -> None:
        """Sleep and record lateness until cancelled."""
        while True:
            before = time.perf_counter()
            await asyncio.sleep(MONITOR_INTERVAL)
            self._late.append(max(0.0, time.perf_counter() - before - MONITOR_INTERVAL))

    def take(self) -> dict[str, float]:
        """The max and p99 lateness (s) since the last take, and start afresh."""
        late, self._late = sorted(self._late), []
        if not late:
            return {"max": 0.0, "p99": 0.0, "samples": 0}
        return {
            "max": late[-1],
            "p99": late[min(len(late) - 1, int(len(late) * 0.99))],
            "samples": len(late),
        }


async def _until(condition: Callable[[], object], what: str, *, every: float = 0.05) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(every)


async def _drawn(pilot: Pilot[Any]) -> None:
    """Until every message the screen has queued is handled and the next frame is drawn.

    What `Pilot.pause` does without its idle wait (at least 20 ms of sleeping, which would
    count as opening time); both are private steps of Textual's pilot and screen.
    """
    await pilot._wait_for_screen()
    pilot.app.screen._on_timer_update()


def _check_open(screen: MainScreen, peer: str, count: int) -> None:
    """The conversation shows its newest page, scrolled to the bottom (and no more)."""
    shown = screen.messages
    if (
        screen.peer != peer
        or len(shown.messages) != min(count, FIRST_PAGE)
        or shown.scroll_y < shown.max_scroll_y - 1
    ):
        raise RuntimeError(
            f"{peer}'s conversation shows {len(shown.messages)} messages at line "
            f"{shown.scroll_y:.0f} of {shown.max_scroll_y}: not its newest page at the bottom"
        )


def _shown(screen: MainScreen, peer: str) -> int:
    return sum(1 for m in screen.messages.messages if m.peer == peer)


@dataclasses.dataclass
class Results:
    """Every figure of one run (seconds unless said)."""

    messages: int
    burst: int
    quiet_gc: bool
    seed_s: float = 0.0
    opens_s: list[float] = dataclasses.field(default_factory=list)
    open_calls_s: list[float] = dataclasses.field(default_factory=list)
    burst_s: float = 0.0
    bob_sent_s: float = 0.0
    stalls: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    #: CPython's full collections while opening and in the burst (each one's seconds).
    full_collections_s: list[float] = dataclasses.field(default_factory=list)
    #: One full collection after the burst: what the quiet collector's run costs then.
    quiet_collection_s: float = 0.0

    @property
    def open_median(self) -> float:
        """Median time to open a conversation until drawn."""
        return statistics.median(self.opens_s)

    @property
    def open_max(self) -> float:
        """Longest time to open a conversation until drawn."""
        return max(self.opens_s)

    @property
    def burst_rate(self) -> float:
        """Messages shown per second during the burst."""
        return self.burst / self.burst_s if self.burst_s else 0.0

    def as_json(self) -> dict[str, Any]:
        """The results with the derived figures and verdicts."""
        return {
            **dataclasses.asdict(self),
            "open_median_s": self.open_median,
            "open_max_s": self.open_max,
            "burst_messages_per_s": self.burst_rate,
            "goals": {
                "open_under_s": OPEN_GOAL,
                "stall_under_s": STALL_GOAL,
                "open": self.open_max < OPEN_GOAL,
                "stall": self._stall_max < STALL_GOAL,
            },
        }

    @property
    def _stall_max(self) -> float:
        return max(self.stalls[phase]["max"] for phase in ("open", "burst"))


async def _chat(home: Path, conn: Connection, results: Results) -> None:
    alice = Account(ALICE, home, insecure_fast_kdf_for_tests=True)
    app = ChatApp(
        home,
        alice,
        passphrase=PASSPHRASE,
        fast_kdf=True,
        desktop_notifications=False,
        quiet_gc=results.quiet_gc,
    )
    monitor = StallMonitor()
    collections = FullCollections()
    async with app.run_test(size=SIZE) as pilot:
        watching = asyncio.create_task(monitor.run())
        try:
            await _until(lambda: app.main is not None and app.screen is app.main, "the chat")
            screen = app.main
            assert screen is not None
            assert app.session is not None
            await app.session.settled()
            await pilot.pause()
            _progress("  idle 1 s (the monitor's floor)")
            monitor.take()
            await asyncio.sleep(1.0)
            results.stalls["idle"] = monitor.take()

            gc.callbacks.append(collections)
            collections.recording = True
            _progress(f"  opening bob's and carol's conversations, {OPEN_ROUNDS} times each")
            for _ in range(OPEN_ROUNDS):
                for peer in (CAROL, BOB):
                    started = time.perf_counter()
                    screen.open_conversation(peer)
                    called = time.perf_counter()
                    await _drawn(pilot)
                    results.open_calls_s.append(called - started)
                    results.opens_s.append(time.perf_counter() - started)
                    await pilot.pause()
                    _check_open(screen, peer, results.messages)
            results.stalls["open"] = monitor.take()

            _progress(f"  bob sends {results.burst:,} messages to alice's open chat")
            before, options = _shown(screen, BOB), screen.messages.option_count
            conn.send(("burst", results.burst))
            reply = asyncio.create_task(asyncio.to_thread(conn.recv))
            # Every new message adds at least one option (and maybe a day separator):
            # counting options is cheap, counting messages only when it may be done.
            await _until(
                lambda: (
                    screen.messages.option_count - options >= results.burst
                    and _shown(screen, BOB) >= before + results.burst
                ),
                "the burst",
                every=0.01,
            )
            shown_at = time.monotonic()
            _tag, first, last = await reply
            # One clock for both processes: CLOCK_MONOTONIC is system-wide on Linux.
            results.burst_s = shown_at - first
            results.bob_sent_s = last - first
            results.stalls["burst"] = monitor.take()
            collections.recording = False
            results.full_collections_s = collections.durations
            collecting = time.perf_counter()
            gc.collect()
            results.quiet_collection_s = time.perf_counter() - collecting
        finally:
            with contextlib.suppress(ValueError):
                gc.callbacks.remove(collections)
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
    # Leaving run_test ends the app, which closes the session (ChatApp.on_unmount).


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _table(results: Results) -> str:
    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    opens = results.opens_s
    lines = [
        f"Terminal chat: {results.messages:,}-message conversations, burst of "
        f"{results.burst:,}, headless {SIZE[0]}x{SIZE[1]}, loopback TLS, "
        f"{'quiet' if results.quiet_gc else 'CPython'} garbage collection",
        f"  {'figure':<46} {'value':>12}   goal",
        f"  {'open a conversation, median (s)':<46} {results.open_median:>12.3f}",
        f"  {'open a conversation, max (s)':<46} {results.open_max:>12.3f}   "
        f"< {OPEN_GOAL:g} s  {verdict(results.open_max < OPEN_GOAL)}",
        f"  {'  of which open_conversation() itself, max (s)':<46} "
        f"{max(results.open_calls_s):>12.3f}",
        f"  {'burst: first send until all shown (s)':<46} {results.burst_s:>12.3f}",
        f"  {'burst: shown per second':<46} {results.burst_rate:>12,.0f}",
        f"  {'burst: bob had sent all after (s)':<46} {results.bob_sent_s:>12.3f}",
    ]
    for phase in ("idle", "open", "burst"):
        stall = results.stalls[phase]
        goal = (
            f"< {STALL_GOAL * 1000:g} ms  {verdict(stall['max'] < STALL_GOAL)}"
            if phase != "idle"
            else ""
        )
        lines.append(
            f"  {f'longest stall while {phase}, max / p99 (ms)':<46} "
            f"{stall['max'] * 1000:>6.1f} / {stall['p99'] * 1000:>4.1f}   {goal}"
        )
    full = results.full_collections_s
    lines.append(
        f"  {'full collections opening + burst, n / max (ms)':<46} "
        f"{len(full):>6} / {max(full, default=0.0) * 1000:>4.0f}"
    )
    lines.append(
        f"  {'one full collection after the burst (ms)':<46} "
        f"{results.quiet_collection_s * 1000:>12.0f}   (when quiet: nobody waits)"
    )
    lines.append(f"  (opens, s: {' '.join(f'{s:.3f}' for s in opens)})")
    return "\n".join(lines)


def _wait_ready(world: multiprocessing.process.BaseProcess, conn: Connection) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not conn.poll(0.2):
        if not world.is_alive():
            raise RuntimeError(f"the server process ended (exit code {world.exitcode})")
        if time.monotonic() > deadline:
            raise TimeoutError("the server and accounts were not ready in time")
    conn.recv()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="per conversation")
    parser.add_argument("--burst", type=int, default=1_000, help="messages bob sends")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--python-gc",
        action="store_true",
        help="leave garbage collection to CPython (as `ironwall chat` did before its quiet collector)",
    )
    args = parser.parse_args(argv)
    if args.messages < 0 or args.burst < 1:
        parser.error("--messages must be at least 0 and --burst at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the phases and print the figures; 0 unless the bench itself failed."""
    args = _parse_args(argv)
    results = Results(messages=args.messages, burst=args.burst, quiet_gc=not args.python_gc)
    started = time.monotonic()
    # spawn: a fresh interpreter for the child, not a fork of this one's state.
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="ironwall-tui-bench-") as temp:
        home = Path(temp)
        ours, theirs = context.Pipe()
        world = context.Process(target=_world_process, args=(home, theirs), daemon=True)
        _progress("== server, accounts alice, bob, carol (contacts), bob online")
        world.start()
        try:
            _wait_ready(world, ours)
            _progress(f"== seeding {args.messages:,} messages with bob and with carol")
            seeding = time.perf_counter()
            asyncio.run(_seed_alice(home, args.messages))
            results.seed_s = time.perf_counter() - seeding
            _progress("== the chat (alice)")
            asyncio.run(_chat(home, ours, results))
        finally:
            with contextlib.suppress(OSError):
                ours.send(("stop",))
            world.join(30)
            if world.is_alive():
                world.terminate()
                world.join(10)
    _progress(f"== done in {time.monotonic() - started:.0f} s")
    if args.json:
        print(json.dumps(results.as_json(), indent=2))
    else:
        print(_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One load-generator process: logs in its share of users, then obeys the runner's commands.

The runner (``runner.py``) talks to each worker over a pipe, one command at a time; every
command is bounded in time and answers with a dict of plain numbers and lists. Partners
of a pair always live in the same worker, so a message's latency is measured with one
process's monotonic clock, and in the e2e mode both identities are at hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from servers.common import BENCH_PASSWORD, DOMAIN, LOOPBACK, raise_fd_limit, user_name

from .xmpp import LoginError, Session, login

__all__ = ["WorkerSpec", "worker_main"]

_FILLER = "The quick brown fox jumps over the lazy dog; a chat-sized message body."
_MARK = re.compile(rb"#b(\d+):(\d+):(\d+)#")
_OPENPGP = re.compile(rb"<openpgp\b[^>]*>([^<]+)</openpgp>")
_END = b"</message>"
_TICK = 0.002


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to know at start: where the server is and how to reach it."""

    port: int
    tls: bool
    login_concurrency: int = 50
    login_timeout: float = 60.0


@dataclass
class _Pair:
    """One session of a pair in the messages benchmark: it sends to ``partner`` and keeps
    its unparsed input in ``buffer``."""

    session: Session
    partner: Session
    prefix: bytes
    buffer: bytearray = field(default_factory=bytearray)


class _Worker:
    def __init__(self, conn: Connection, spec: WorkerSpec) -> None:
        self._conn = conn
        self._spec = spec
        self._tls: ssl.SSLContext | None = None
        if spec.tls:
            # Loopback benchmark against throwaway certificates: encryption, no verification.
            self._tls = ssl.create_default_context()
            self._tls.check_hostname = False
            self._tls.verify_mode = ssl.CERT_NONE
        self._sessions: list[Session] = []
        self._pairs: list[_Pair] = []
        self._received: Counter[int] = Counter()
        self._latency: dict[int, array[int]] = {}
        self._last_receive: dict[int, float] = {}
        self._e2e: dict[int, Any] = {}
        self._opened_us = 0.0
        self._sealed_us = 0.0
        self._open_failures = 0
        # (step, count) whose arrival sets _all_received: the end of a step's drain.
        self._awaited = (-1, 0)
        self._all_received = asyncio.Event()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            command: dict[str, Any] = await loop.run_in_executor(None, self._conn.recv)
            name = command.pop("cmd")
            if name == "exit":
                self._close_all()
                self._conn.send({"ok": True})
                return
            cpu0, wall0 = _cpu(), time.monotonic()
            result: dict[str, Any] = await getattr(self, f"_cmd_{name}")(**command)
            result["cpu_s"] = _cpu() - cpu0
            result["wall_s"] = time.monotonic() - wall0
            self._conn.send(result)

    # ------------------------------------------------------------- sessions

    async def _cmd_login(self, users: list[int]) -> dict[str, Any]:
        limit = asyncio.Semaphore(self._spec.login_concurrency)
        errors: Counter[str] = Counter()
        latencies: list[float] = []

        async def one(index: int) -> None:
            async with limit:
                started = time.monotonic()
                try:
                    session = await login(
                        LOOPBACK,
                        self._spec.port,
                        index=index,
                        user=user_name(index),
                        domain=DOMAIN,
                        password=BENCH_PASSWORD,
                        tls=self._tls,
                        limit_s=self._spec.login_timeout,
                    )
                except LoginError as exc:
                    errors[str(exc)] += 1
                    return
                latencies.append(time.monotonic() - started)
                self._sessions.append(session)

        started = time.monotonic()
        await asyncio.gather(*(one(index) for index in users))
        self._sessions.sort(key=lambda s: s.index)
        return {
            "ok": len(latencies),
            "failed": sum(errors.values()),
            "errors": dict(errors),
            "started": started,
            "finished": time.monotonic(),
            "latencies": latencies,
        }

    async def _cmd_ping(self, limit_s: float) -> dict[str, Any]:
        alive = [s for s in self._sessions if not s.protocol.lost.done()]

        async def one(session: Session) -> bool:
            marker = f"hp{session.index}x".encode()
            session.protocol.buffer.clear()
            session.protocol.send(
                b"<iq type='get' id='" + marker + b"' to='" + DOMAIN.encode() + b"'>"
                b"<ping xmlns='urn:xmpp:ping'/></iq>"
            )
            try:
                await session.protocol.expect(re.compile(re.escape(marker)), "ping", limit_s)
            except LoginError:
                return False
            return True

        answers = await asyncio.gather(*(one(s) for s in alive))
        return {"alive": len(alive), "answered": sum(answers)}

    def _close_all(self) -> None:
        sessions, self._sessions, self._pairs = self._sessions, [], []
        for session in sessions:
            session.protocol.on_data = None
            session.protocol.close()

    # ------------------------------------------------------------- messages

    async def _cmd_pair(self, e2e: bool) -> dict[str, Any]:
        """Pair consecutive sessions; in e2e mode give every session an OpenPGP identity."""
        sessions = self._sessions[: len(self._sessions) // 2 * 2]
        self._pairs = []
        for a, b in zip(sessions[::2], sessions[1::2], strict=True):
            self._pairs.append(self._receiver(a, b))
            self._pairs.append(self._receiver(b, a))
        if e2e and not self._e2e:
            from ironwall.e2e import Identity, MemoryReplayCache

            for session in sessions:
                self._e2e[session.index] = (Identity.generate(session.bare), MemoryReplayCache())
        for pair in self._pairs:
            pair.session.protocol.on_data = self._make_handler(pair, e2e)
        return {"pairs": len(self._pairs) // 2}

    def _receiver(self, me: Session, partner: Session) -> _Pair:
        prefix = f"<message to='{partner.bare}' type='chat' id='".encode()
        return _Pair(session=me, partner=partner, prefix=prefix)

    def _make_handler(self, pair: _Pair, e2e: bool) -> Callable[[bytes], None]:
        buffer = pair.buffer
        buffer.clear()
        record = self._record

        def plain(data: bytes) -> None:
            buffer.extend(data)
            end = buffer.rfind(_END)
            if end < 0:
                return
            chunk = bytes(buffer[:end])
            del buffer[: end + len(_END)]
            now = time.monotonic_ns()
            for found in _MARK.finditer(chunk):
                record(int(found.group(1)), now - int(found.group(3)))

        if not e2e:
            return plain
        from ironwall.e2e import UntrustedMessage, open_message

        me, cache = self._e2e[pair.session.index]
        partner_key = self._e2e[pair.partner.index][0].public_key
        outer_from, outer_to = pair.partner.bare, pair.session.bare

        def sealed(data: bytes) -> None:
            buffer.extend(data)
            end = buffer.rfind(_END)
            if end < 0:
                return
            chunk = bytes(buffer[:end])
            del buffer[: end + len(_END)]
            for found in _OPENPGP.finditer(chunk):
                started = time.perf_counter()
                try:
                    opened = open_message(
                        me,
                        found.group(1).decode(),
                        outer_from=outer_from,
                        outer_to=outer_to,
                        sender_keys=[partner_key],
                        replay_cache=cache,
                    )
                except UntrustedMessage:
                    self._open_failures += 1
                    continue
                self._opened_us += (time.perf_counter() - started) * 1e6
                now = time.monotonic_ns()
                mark = _MARK.search(opened.body.encode())
                if mark is not None:
                    record(int(mark.group(1)), now - int(mark.group(3)))

        return sealed

    def _record(self, step: int, latency_ns: int) -> None:
        latencies = self._latency.get(step)
        if latencies is None:
            return  # a straggler of a step already reported: it counted as lost there
        self._received[step] += 1
        latencies.append(latency_ns // 1000)
        if step == self._awaited[0] and self._received[step] >= self._awaited[1]:
            self._all_received.set()
        self._last_receive[step] = time.monotonic()

    async def _cmd_step(
        self, step: int, rate: float, duration: float, drain: float, e2e: bool
    ) -> dict[str, Any]:
        """Send ``rate`` messages/s round-robin over the pairs for ``duration`` s, then wait
        up to ``drain`` s for the last ones; report counts and latencies (µs)."""
        self._latency[step] = array("q")
        self._opened_us = self._sealed_us = 0.0
        self._open_failures = 0
        pairs = self._pairs
        seal = None
        if e2e:
            from ironwall.e2e import seal_message

            seal = seal_message
        count = len(pairs)
        position = 0
        sent = 0
        started = time.monotonic()
        end = started + duration
        while True:
            now = time.monotonic()
            if now >= end:
                break
            due = int((now - started) * rate) - sent
            for _ in range(due):
                pair = pairs[position]
                position = (position + 1) % count
                stamp = time.monotonic_ns()
                body = f"#b{step}:{sent}:{stamp}# {_FILLER}"
                if seal is None:
                    payload = f"<body>{body}</body>"
                else:
                    before = time.perf_counter()
                    me = self._e2e[pair.session.index][0]
                    peer = self._e2e[pair.partner.index][0]
                    text = seal(me, {peer.jid: [peer.public_key]}, body).text
                    self._sealed_us += (time.perf_counter() - before) * 1e6
                    payload = (
                        f"<openpgp xmlns='urn:xmpp:openpgp:0'>{text}</openpgp>"
                        "<encryption xmlns='urn:xmpp:eme:0' namespace='urn:xmpp:openpgp:0'/>"
                        "<body>This message is encrypted.</body>"
                    )
                pair.session.protocol.send(
                    pair.prefix + f"s{step}-{sent}'>{payload}</message>".encode()
                )
                sent += 1
            await asyncio.sleep(_TICK)
        send_end = time.monotonic()
        self._all_received.clear()
        self._awaited = (step, sent)
        if self._received[step] < sent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_received.wait(), drain)
        self._awaited = (-1, 0)
        received = self._received[step]
        return {
            "sent": sent,
            "received": received,
            "started": started,
            "send_end": send_end,
            "last_receive": self._last_receive.get(step, send_end),
            "latency_us": self._latency.pop(step).tobytes(),
            "sealed_us": self._sealed_us,
            "opened_us": self._opened_us,
            "open_failures": self._open_failures,
            "lost_connections": sum(1 for p in pairs if p.session.protocol.lost.done()),
        }


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def worker_main(conn: Connection, spec: WorkerSpec) -> None:
    """Process entry point: run the worker's command loop on uvloop if installed."""
    raise_fd_limit()
    worker = _Worker(conn, spec)
    try:
        import uvloop
    except ImportError:
        asyncio.run(worker.serve())
    else:
        uvloop.run(worker.serve())

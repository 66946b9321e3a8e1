"""The benchmarks: connections, messages (plain and end-to-end), run against one server.

The runner forks the load-generator workers (``worker.py``), hands each its share of users
and, per measured phase, reads the server's CPU and memory from /proc (``procstat.py``).
Every phase is bounded in count and time; only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from servers.common import RunningServer

from .procstat import GroupSampler, group_usage, machine_busy_seconds
from .worker import WorkerSpec, worker_main

__all__ = [
    "ConnectionsResult",
    "LoadGenerator",
    "MessagesResult",
    "MessagesRun",
    "StepResult",
    "run_connections",
    "run_messages",
]

_MIB = 1024 * 1024


class LoadGenerator:
    """A set of worker processes logged in to one server; closed with ``close()``."""

    def __init__(self, server: RunningServer, workers: int) -> None:
        spec = WorkerSpec(port=server.port, tls=server.tls)
        context = multiprocessing.get_context("fork")
        self._pipes: list[Connection] = []
        self._procs: list[multiprocessing.process.BaseProcess] = []
        for _ in range(workers):
            mine, theirs = context.Pipe()
            proc = context.Process(target=worker_main, args=(theirs, spec), daemon=True)
            proc.start()
            theirs.close()
            self._pipes.append(mine)
            self._procs.append(proc)

    @property
    def workers(self) -> int:
        """How many worker processes there are."""
        return len(self._procs)

    def command(self, commands: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
        """Send one command to each worker and wait up to ``timeout`` s for every answer."""
        for pipe, command in zip(self._pipes, commands, strict=True):
            pipe.send(command)
        deadline = time.monotonic() + timeout
        answers = []
        for pipe, proc in zip(self._pipes, self._procs, strict=True):
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                self.close()
                raise RuntimeError(f"a load-generator worker did not answer within {timeout:.0f} s")
            try:
                answers.append(pipe.recv())
            except EOFError:
                self.close()
                raise RuntimeError(
                    f"a load-generator worker died (exit code {proc.exitcode})"
                ) from None
        return answers

    def broadcast(self, command: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        """The same command to every worker."""
        return self.command([dict(command) for _ in self._procs], timeout)

    def login(self, users: range) -> dict[str, Any]:
        """Log ``users`` in, split evenly (in pairs) over the workers; sum up the answers."""
        per = (len(users) // self.workers + 1) // 2 * 2
        shares = [list(users[i * per : (i + 1) * per]) for i in range(self.workers)]
        shares[-1] = list(users[(self.workers - 1) * per :])
        answers = self.command(
            [{"cmd": "login", "users": share} for share in shares], timeout=120 + len(users) / 20
        )
        errors: Counter[str] = Counter()
        for answer in answers:
            errors.update(answer["errors"])
        latencies = sorted(x for answer in answers for x in answer["latencies"])
        return {
            "ok": sum(a["ok"] for a in answers),
            "failed": sum(a["failed"] for a in answers),
            "errors": dict(errors.most_common(3)),
            "seconds": max(a["finished"] for a in answers) - min(a["started"] for a in answers),
            "client_cpu_s": sum(a["cpu_s"] for a in answers),
            "p50_s": _percentile(latencies, 50) if latencies else 0.0,
            "p99_s": _percentile(latencies, 99) if latencies else 0.0,
        }

    def close(self) -> None:
        """Ask the workers to close their sessions and exit; terminate any that hang."""
        for pipe in self._pipes:
            with contextlib.suppress(BrokenPipeError, OSError):
                pipe.send({"cmd": "exit"})
        for proc in self._procs:
            proc.join(timeout=10.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5.0)
        for pipe in self._pipes:
            pipe.close()
        self._pipes, self._procs = [], []


def _percentile(ordered: list[float] | list[int], pct: float) -> float:
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return float(ordered[index])


# ------------------------------------------------------------------- messages


@dataclass
class StepResult:
    """One offered rate of the messages benchmark."""

    offered: float
    sent_per_s: float
    delivered_per_s: float
    sent: int
    lost: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_pct: float
    server_rss_mib: float
    client_cpu_pct: float
    other_cpu_pct: float
    seal_us: float = 0.0
    open_us: float = 0.0
    verdict: str = "ok"


@dataclass
class MessagesResult:
    """Every step run, and the highest one that lost nothing within the latency bound."""

    mode: str
    users: int
    workers: int
    steps: list[StepResult] = field(default_factory=list)
    stop_reason: str = "all steps passed"

    @property
    def best(self) -> StepResult | None:
        """The last passing step: the highest sustained rate."""
        passing = [s for s in self.steps if s.verdict == "ok"]
        return passing[-1] if passing else None

    def best_within(self, p99_ms: float) -> StepResult | None:
        """The highest passing step whose p99 latency was at most ``p99_ms``."""
        passing = [s for s in self.steps if s.verdict == "ok" and s.p99_ms <= p99_ms]
        return passing[-1] if passing else None


class MessagesRun:
    """The messages benchmark on one server, one step at a time.

    Steps of several servers can be interleaved (``compare.py`` does), so that a
    disturbance on a shared machine hits all of them alike rather than one server's
    whole run. ``open()`` logs the users in; ``step()`` runs one offered rate unless an
    earlier one already failed; ``close()`` logs out.
    """

    def __init__(
        self,
        server: RunningServer,
        *,
        users: int,
        workers: int,
        e2e: bool,
        step_seconds: float,
        p99_bound_ms: float,
        drain_seconds: float = 5.0,
    ) -> None:
        self.server = server
        self.result = MessagesResult(mode="e2e" if e2e else "plain", users=users, workers=workers)
        self.done = False
        self._e2e = e2e
        self._seconds = step_seconds
        self._bound = p99_bound_ms
        self._drain = drain_seconds
        self._generator: LoadGenerator | None = None
        self._sampler: GroupSampler | None = None

    def open(self) -> None:
        """Start the generator processes, log the users in and pair them."""
        self._generator = LoadGenerator(self.server, self.result.workers)
        login = self._generator.login(range(self.result.users))
        if login["failed"]:
            self.result.stop_reason = f"{login['failed']} logins failed: {login['errors']}"
            self.done = True
            return
        self._generator.broadcast({"cmd": "pair", "e2e": self._e2e}, timeout=120)
        self._sampler = GroupSampler(self.server.pid).__enter__()

    def step(self, number: int, rate: float) -> StepResult | None:
        """Run step ``number`` at ``rate`` messages/s; None once the run has stopped."""
        if self.done or self._generator is None or self._sampler is None:
            return None
        result = self.result
        step = _run_step(
            self._generator, self._sampler, number, rate, self._seconds, self._drain, self._e2e
        )
        result.steps.append(step)
        if step.lost:
            step.verdict = "lost"
            result.stop_reason = f"{step.lost} messages lost at {rate:,.0f}/s"
        elif step.sent_per_s < 0.95 * rate:
            # Checked before latency: a starved generator also delays its own receiving.
            step.verdict = "generator"
            result.stop_reason = (
                f"the load generator offered only {step.sent_per_s:,.0f} of {rate:,.0f}/s "
                f"(its CPU: {step.client_cpu_pct:.0f}%; p99 {step.p99_ms:,.0f} ms)"
            )
        elif step.p99_ms > self._bound:
            step.verdict = "slow"
            result.stop_reason = (
                f"p99 {step.p99_ms:,.0f} ms > {self._bound:,.0f} ms at {rate:,.0f}/s"
            )
        elif not self.server.alive():
            step.verdict = "exited"
            result.stop_reason = "the server exited"
        self.done = step.verdict != "ok"
        return step

    def close(self) -> None:
        """Stop sampling, log out and end the generator processes."""
        self.done = True
        if self._sampler is not None:
            self._sampler.__exit__()
            self._sampler = None
        if self._generator is not None:
            self._generator.close()
            self._generator = None


def run_messages(
    server: RunningServer,
    *,
    users: int,
    rates: list[float],
    step_seconds: float,
    p99_bound_ms: float,
    workers: int,
    e2e: bool,
) -> MessagesResult:
    """Log ``users`` in (pairs), then run the stepped rates until one loses messages or
    its p99 latency passes ``p99_bound_ms``, or the generator cannot offer the rate."""
    run = MessagesRun(
        server,
        users=users,
        workers=workers,
        e2e=e2e,
        step_seconds=step_seconds,
        p99_bound_ms=p99_bound_ms,
    )
    try:
        run.open()
        for number, rate in enumerate(rates):
            if run.step(number, rate) is None or run.done:
                break
            time.sleep(1.0)
    finally:
        run.close()
    return run.result


def _run_step(
    generator: LoadGenerator,
    sampler: GroupSampler,
    number: int,
    rate: float,
    seconds: float,
    drain: float,
    e2e: bool,
) -> StepResult:
    before, _peak, started = sampler.mark()
    busy_before = machine_busy_seconds()
    answers = generator.broadcast(
        {
            "cmd": "step",
            "step": number,
            "rate": rate / generator.workers,
            "duration": seconds,
            "drain": drain,
            "e2e": e2e,
        },
        timeout=seconds + drain + 60,
    )
    after, peak, finished = sampler.mark()
    wall = finished - started
    busy = machine_busy_seconds() - busy_before
    latencies: list[int] = []
    for answer in answers:
        chunk = array("q")
        chunk.frombytes(answer["latency_us"])
        latencies.extend(chunk)
    latencies.sort()
    sent = sum(a["sent"] for a in answers)
    received = sum(a["received"] for a in answers)
    send_window = max(a["send_end"] for a in answers) - min(a["started"] for a in answers)
    delivery_window = max(a["last_receive"] for a in answers) - min(a["started"] for a in answers)
    server_cpu = after.cpu_s - before.cpu_s
    client_cpu = sum(a["cpu_s"] for a in answers)

    def pct(p: float) -> float:
        return _percentile(latencies, p) / 1000 if latencies else 0.0

    return StepResult(
        offered=rate,
        sent_per_s=sent / send_window if send_window > 0 else 0.0,
        delivered_per_s=received / delivery_window if delivery_window > 0 else 0.0,
        sent=sent,
        lost=sent - received,
        p50_ms=pct(50),
        p90_ms=pct(90),
        p99_ms=pct(99),
        max_ms=latencies[-1] / 1000 if latencies else 0.0,
        server_cpu_pct=100 * server_cpu / wall,
        server_rss_mib=peak / _MIB,
        client_cpu_pct=100 * client_cpu / wall,
        other_cpu_pct=max(0.0, 100 * (busy - server_cpu - client_cpu) / wall),
        seal_us=sum(a["sealed_us"] for a in answers) / sent if e2e and sent else 0.0,
        open_us=sum(a["opened_us"] for a in answers) / received if e2e and received else 0.0,
    )


# ---------------------------------------------------------------- connections


@dataclass
class ConnectionsResult:
    """Logging in and holding many sessions."""

    target: int
    logged_in: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    login_seconds: float = 0.0
    login_p99_s: float = 0.0
    login_server_cpu_pct: float = 0.0
    login_client_cpu_pct: float = 0.0
    hold_seconds: float = 0.0
    alive: int = 0
    held: int = 0
    rss_idle_mib: float = 0.0
    rss_held_mib: float = 0.0
    hold_server_cpu_pct: float = 0.0
    other_cpu_pct: float = 0.0

    @property
    def login_rate(self) -> float:
        """Logins completed per second."""
        return self.logged_in / self.login_seconds if self.login_seconds else 0.0

    @property
    def mib_per_1000(self) -> float:
        """Server memory the sessions added, per 1,000 sessions."""
        if not self.logged_in:
            return 0.0
        return (self.rss_held_mib - self.rss_idle_mib) / self.logged_in * 1000

    @property
    def total_mib_per_1000(self) -> float:
        """The server's whole memory while holding them, per 1,000 sessions."""
        return self.rss_held_mib / self.logged_in * 1000 if self.logged_in else 0.0


def run_connections(
    server: RunningServer, *, count: int, hold_seconds: float, workers: int
) -> ConnectionsResult:
    """Log ``count`` users in (each: SASL, bind, roster, presence), hold them
    ``hold_seconds``, then check with a ping which sessions still answer."""
    result = ConnectionsResult(target=count)
    time.sleep(1.0)
    idle = group_usage(server.pid)
    result.rss_idle_mib = idle.rss_bytes / _MIB
    generator = LoadGenerator(server, workers)
    try:
        busy_before = machine_busy_seconds()
        login = generator.login(range(count))
        during = group_usage(server.pid)
        result.logged_in, result.failed = login["ok"], login["failed"]
        result.errors = login["errors"]
        result.login_seconds = login["seconds"]
        result.login_p99_s = login["p99_s"]
        result.login_server_cpu_pct = 100 * (during.cpu_s - idle.cpu_s) / login["seconds"]
        result.login_client_cpu_pct = 100 * login["client_cpu_s"] / login["seconds"]
        with GroupSampler(server.pid, interval=1.0) as sampler:
            sampler.mark()
            deadline = time.monotonic() + hold_seconds
            while time.monotonic() < deadline and server.alive():
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            held, _peak, _now = sampler.mark()
        busy = machine_busy_seconds() - busy_before
        result.hold_seconds = hold_seconds
        result.rss_held_mib = held.rss_bytes / _MIB
        result.hold_server_cpu_pct = 100 * (held.cpu_s - during.cpu_s) / hold_seconds
        # Everything but the server and the workers' login work (workers idle while holding).
        used = held.cpu_s - idle.cpu_s + login["client_cpu_s"]
        result.other_cpu_pct = max(0.0, 100 * (busy - used) / (login["seconds"] + hold_seconds))
        answers = generator.broadcast({"cmd": "ping", "limit_s": 30.0}, timeout=90)
        result.alive = sum(a["alive"] for a in answers)
        result.held = sum(a["answered"] for a in answers)
    finally:
        generator.close()
    return result

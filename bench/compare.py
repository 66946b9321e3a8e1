"""Ironwall side by side with Prosody and ejabberd: one command, one table.

Starts each server in turn on loopback (Debian's Prosody and ejabberd, and Ironwall from
this tree) with the same transport settings (TLS off on all of them unless ``--tls``),
runs every benchmark against it, and prints the results with the ratios
Ironwall/Prosody and Ironwall/ejabberd:

- messages: USERS online users in pairs exchange chat messages at stepped offered rates,
  until a step loses messages or its p99 latency passes the bound;
- e2e: the same with every message sealed and opened by the Ironwall client library;
- connections: CONNECTIONS users log in (SASL, bind, roster, initial presence) and are
  held for a minute; how many still answer a ping, the login rate, server memory.

Run (as root, with prosody and ejabberd installed: scripts/install-peers.sh):
    .venv/bin/python bench/compare.py --users 1000 --connections 10000
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from load.runner import (
    ConnectionsResult,
    MessagesResult,
    MessagesRun,
    StepResult,
    run_connections,
)
from servers.common import RunningServer, raise_fd_limit
from servers.ejabberd import start_ejabberd
from servers.ironwall import start_ironwall
from servers.prosody import start_prosody

STARTERS: dict[str, Callable[..., RunningServer]] = {
    "ironwall": start_ironwall,
    "prosody": start_prosody,
    "ejabberd": start_ejabberd,
}
DEFAULT_RATES = "1000,2000,3000,4000,5000,6000,8000,10000,12000,15000,20000,25000,30000"
DEFAULT_E2E_RATES = "250,500,1000,1500,2000,3000,4000"


@dataclasses.dataclass
class ServerResults:
    """Everything measured on one server."""

    kind: str
    software: str
    notes: list[str]
    messages: MessagesResult | None = None
    e2e: MessagesResult | None = None
    connections: ConnectionsResult | None = None
    error: str = ""


def _rates(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark Ironwall side by side with Prosody and ejabberd (loopback only)."
    )
    parser.add_argument("--servers", default="ironwall,prosody,ejabberd")
    parser.add_argument(
        "--benchmarks", default="messages,e2e,connections", help="any of messages,e2e,connections"
    )
    parser.add_argument("--users", type=int, default=1000, help="online users (in pairs)")
    parser.add_argument("--connections", type=int, default=10000, help="sessions to hold")
    parser.add_argument("--hold", type=float, default=60.0, help="seconds to hold them")
    parser.add_argument("--rates", default=DEFAULT_RATES, help="offered messages/s per step")
    parser.add_argument("--e2e-rates", default=DEFAULT_E2E_RATES)
    parser.add_argument("--step-seconds", type=float, default=8.0)
    parser.add_argument("--p99-bound-ms", type=float, default=500.0)
    parser.add_argument(
        "--tight-p99-ms",
        type=float,
        default=100.0,
        help="second, tighter bound in the summary (the goal's, 100 ms)",
    )
    parser.add_argument(
        "--ironwall-modules",
        choices=("bench", "default"),
        default="bench",
        help="bench: what Prosody and ejabberd load; default: Ironwall's defaults (archive on)",
    )
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    parser.add_argument("--tls", action="store_true", help="STARTTLS on every server")
    parser.add_argument("--workdir", type=Path, help="where servers keep data (default: temp)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    args.benchmarks = {b.strip() for b in args.benchmarks.split(",") if b.strip()}
    unknown = [s for s in args.servers if s not in STARTERS]
    if unknown:
        parser.error(f"unknown server(s) {unknown}; choose from {sorted(STARTERS)}")
    if args.users < 2 or args.users % 2:
        parser.error("--users must be an even number of at least 2 (users talk in pairs)")
    return args


def _machine() -> str:
    load = Path("/proc/loadavg").read_text(encoding="ascii").split()[:3]
    tree = subprocess.run(
        ["git", "-C", str(Path(__file__).parent), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout.strip()
    try:
        loop = f"uvloop {importlib.metadata.version('uvloop')}"
    except importlib.metadata.PackageNotFoundError:
        loop = "asyncio"
    return (
        f"{os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}; "
        f"load average {' '.join(load)}; tree {tree or 'unknown'}; load generator on {loop}"
    )


def _start_all(
    args: argparse.Namespace, workdir: Path
) -> tuple[dict[str, RunningServer], dict[str, ServerResults]]:
    accounts = max(args.users, args.connections if "connections" in args.benchmarks else 0)
    servers: dict[str, RunningServer] = {}
    results: dict[str, ServerResults] = {}
    for kind in args.servers:
        print(f"== {kind}: creating {accounts:,} accounts and starting", flush=True)
        try:
            options: dict[str, Any] = {"tls": args.tls}
            if kind == "ironwall" and args.ironwall_modules == "default":
                # With the default modules, messages between non-contacts are rate-limited
                # (strangers.py): the pairs are contacts, as chat partners are.
                options["modules"] = None
                options["contacts"] = args.users
            server = STARTERS[kind](workdir / kind, accounts, **options)
        except Exception as exc:  # one server failing must not lose the others' results
            results[kind] = ServerResults(kind=kind, software="?", notes=[], error=str(exc))
            print(f"== {kind}: FAILED to start: {exc}", flush=True)
            continue
        servers[kind] = server
        results[kind] = ServerResults(kind=kind, software=server.software, notes=server.notes)
    return servers, results


def _interleaved(
    mode: str,
    servers: dict[str, RunningServer],
    results: dict[str, ServerResults],
    args: argparse.Namespace,
) -> None:
    """Run one messages benchmark on every server, step by step in turn, so that other
    work on a shared machine disturbs every server's steps rather than one whole run."""
    runs: dict[str, MessagesRun] = {}
    try:
        for kind, server in servers.items():
            run = MessagesRun(
                server,
                users=args.users,
                workers=args.workers,
                e2e=mode == "e2e",
                step_seconds=args.step_seconds,
                p99_bound_ms=args.p99_bound_ms,
            )
            runs[kind] = run
            try:
                run.open()
            except Exception as exc:
                run.done = True
                results[kind].error = f"{mode}: {type(exc).__name__}: {exc}"
        print(f"== {mode}: steps taken in turn on {', '.join(runs)}", flush=True)
        order = list(runs)
        for number, rate in enumerate(_rates(args.e2e_rates if mode == "e2e" else args.rates)):
            if all(run.done for run in runs.values()):
                break
            # Who goes first rotates, so no server always follows the same one.
            shift = number % len(order)
            for kind in order[shift:] + order[:shift]:
                run = runs[kind]
                try:
                    step = run.step(number, rate)
                except Exception as exc:
                    run.done = True
                    results[kind].error = f"{mode}: {type(exc).__name__}: {exc}"
                    continue
                if step is None:
                    continue
                print(
                    f"  {kind:<9} {rate:>7,.0f}/s offered: {step.delivered_per_s:>7,.0f}/s "
                    f"delivered, p99 {step.p99_ms:,.1f} ms, lost {step.lost}, other CPU "
                    f"{step.other_cpu_pct:.0f}%  {step.verdict}",
                    flush=True,
                )
                time.sleep(1.0)
    finally:
        for kind, run in runs.items():
            run.close()
            setattr(results[kind], mode, run.result)
            print(f"== {kind}: {mode}\n{_steps_table(run.result)}", flush=True)


def _connections_each(
    servers: dict[str, RunningServer], results: dict[str, ServerResults], args: argparse.Namespace
) -> None:
    """The connections benchmark on each server in turn, each on a fresh server process
    and with the others stopped (their memory would blur nothing, but their CPU might)."""
    for server in servers.values():
        server.stop()
    for kind, server in servers.items():
        print(f"== {kind}: connections (fresh server process)", flush=True)
        try:
            server.start()
            measured = run_connections(
                server, count=args.connections, hold_seconds=args.hold, workers=args.workers
            )
            results[kind].connections = measured
            print(_connections_line(measured), flush=True)
        except Exception as exc:
            results[kind].error = f"connections: {type(exc).__name__}: {exc}"
            print(f"== {kind}: FAILED: {results[kind].error}", flush=True)
        finally:
            server.stop()


def _run_all(args: argparse.Namespace, workdir: Path) -> list[ServerResults]:
    servers, results = _start_all(args, workdir)
    try:
        for mode in ("messages", "e2e"):
            if mode in args.benchmarks:
                _interleaved(mode, servers, results, args)
        if "connections" in args.benchmarks:
            _connections_each(servers, results, args)
    finally:
        for server in servers.values():
            server.stop()
    return [results[kind] for kind in args.servers]


def _steps_table(result: MessagesResult) -> str:
    head = (
        f"  {'offered/s':>9} {'sent/s':>8} {'deliv/s':>8} {'lost':>6} {'p50 ms':>8} "
        f"{'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'srv CPU%':>8} {'srv MiB':>8} "
        f"{'gen CPU%':>8} {'other%':>6}"
    )
    if result.mode == "e2e":
        head += f" {'seal µs':>7} {'open µs':>7}"
    lines = [f"  {result.mode}: {result.users} users, {result.workers} generator processes", head]
    for s in result.steps:
        line = (
            f"  {s.offered:>9,.0f} {s.sent_per_s:>8,.0f} {s.delivered_per_s:>8,.0f} {s.lost:>6,} "
            f"{s.p50_ms:>8.1f} {s.p90_ms:>8.1f} {s.p99_ms:>8.1f} {s.max_ms:>8.1f} "
            f"{s.server_cpu_pct:>8.0f} {s.server_rss_mib:>8.1f} {s.client_cpu_pct:>8.0f} "
            f"{s.other_cpu_pct:>6.0f}"
        )
        if result.mode == "e2e":
            line += f" {s.seal_us:>7.0f} {s.open_us:>7.0f}"
        lines.append(line + ("" if s.verdict == "ok" else f"  <- {s.verdict}"))
    lines.append(f"  stopped: {result.stop_reason}")
    return "\n".join(lines)


def _connections_line(c: ConnectionsResult) -> str:
    errors = f"; errors {c.errors}" if c.errors else ""
    return (
        f"  {c.logged_in:,}/{c.target:,} logged in in {c.login_seconds:.1f} s "
        f"({c.login_rate:,.0f}/s, p99 {c.login_p99_s * 1000:,.0f} ms; server CPU "
        f"{c.login_server_cpu_pct:.0f}%, generator {c.login_client_cpu_pct:.0f}%){errors}\n"
        f"  held {c.hold_seconds:.0f} s: {c.alive:,} open, {c.held:,} answered a ping; "
        f"server RSS {c.rss_idle_mib:.0f} MiB idle -> {c.rss_held_mib:.0f} MiB held = "
        f"{c.mib_per_1000:.1f} MiB per 1,000 sessions added ({c.total_mib_per_1000:.1f} whole); "
        f"server CPU while holding {c.hold_server_cpu_pct:.1f}%; other processes "
        f"{c.other_cpu_pct:.0f}%"
    )


Row = tuple[str, dict[str, float | None], str]


def _common_rate(runs: list[MessagesResult]) -> float | None:
    passed = [{s.offered for s in r.steps if s.verdict == "ok"} for r in runs]
    common = set.intersection(*passed) if passed else set()
    return max(common) if common else None


def _at(run: MessagesResult, rate: float) -> StepResult | None:
    return next((s for s in run.steps if s.offered == rate), None)


def _messages_rows(mode: str, runs: dict[str, MessagesResult], tight_ms: float) -> list[Row]:
    name = "chat messages" if mode == "messages" else "e2e messages"
    best = {k: r.best for k, r in runs.items()}
    within = {k: r.best_within(tight_ms) for k, r in runs.items()}
    rows: list[Row] = [
        (
            f"{name}/s sustained (delivered)",
            {k: b.delivered_per_s if b else None for k, b in best.items()},
            "higher",
        ),
        ("  p99 ms at that rate", {k: b.p99_ms if b else None for k, b in best.items()}, "lower"),
        (
            f"{name}/s with p99 <= {tight_ms:g} ms",
            {k: b.delivered_per_s if b else None for k, b in within.items()},
            "higher",
        ),
    ]
    common = _common_rate(list(runs.values()))
    if common is not None:
        at = {k: _at(r, common) for k, r in runs.items()}
        rows.append(
            (
                f"  p99 ms at {common:,.0f}/s (all passed)",
                {k: s.p99_ms if s else None for k, s in at.items()},
                "lower",
            )
        )
        rows.append(
            (
                f"  server CPU% at {common:,.0f}/s",
                {k: s.server_cpu_pct if s else None for k, s in at.items()},
                "lower",
            )
        )
    rows.append(
        (
            "  other processes' CPU% (mean of steps)",
            {
                k: sum(s.other_cpu_pct for s in r.steps) / len(r.steps) if r.steps else None
                for k, r in runs.items()
            },
            "lower",
        )
    )
    if mode == "e2e":
        rows.append(
            (
                "  client crypto µs per message (seal+open)",
                {k: b.seal_us + b.open_us if b else None for k, b in best.items()},
                "lower",
            )
        )
    return rows


def _e2e_added_row(by_kind: dict[str, ServerResults], kinds: Sequence[str]) -> Row | None:
    """What sealing and opening add to the median latency: e2e p50 minus plain p50 at the
    lowest offered rate both modes passed on that server."""
    values: dict[str, float | None] = {}
    rates: set[float] = set()
    for kind in kinds:
        plain, e2e = by_kind[kind].messages, by_kind[kind].e2e
        if plain is None or e2e is None:
            return None
        passed = {s.offered for s in plain.steps if s.verdict == "ok"}
        common = sorted(passed & {s.offered for s in e2e.steps if s.verdict == "ok"})
        if not common:
            values[kind] = None
            continue
        rate = common[0]
        rates.add(rate)
        plain_step, e2e_step = _at(plain, rate), _at(e2e, rate)
        assert plain_step is not None
        assert e2e_step is not None
        values[kind] = e2e_step.p50_ms - plain_step.p50_ms
    where = "/".join(f"{r:,.0f}" for r in sorted(rates)) or "-"
    return (f"  e2e adds to p50 latency, ms (at {where}/s)", values, "lower")


def _connections_rows(runs: dict[str, ConnectionsResult], target: int) -> list[Row]:
    def row(label: str, better: str, get: Callable[[ConnectionsResult], float]) -> Row:
        return (label, {k: get(c) for k, c in runs.items()}, better)

    return [
        row(f"sessions held of {target:,}", "higher", lambda c: c.held),
        row("  logins/s", "higher", lambda c: c.login_rate),
        row("  MiB RSS per 1,000 sessions (added)", "lower", lambda c: c.mib_per_1000),
        row("  MiB RSS per 1,000 sessions (whole)", "lower", lambda c: c.total_mib_per_1000),
        row("  other processes' CPU% (login and hold)", "lower", lambda c: c.other_cpu_pct),
    ]


def _summary(all_results: list[ServerResults], args: argparse.Namespace) -> str:
    by_kind = {r.kind: r for r in all_results}
    kinds = [k for k in ("ironwall", "prosody", "ejabberd") if k in by_kind]
    rows: list[Row] = []
    for mode in ("messages", "e2e"):
        runs: dict[str, MessagesResult] = {}
        for kind in kinds:
            run = by_kind[kind].messages if mode == "messages" else by_kind[kind].e2e
            if run is not None:
                runs[kind] = run
        if len(runs) == len(kinds):
            rows += _messages_rows(mode, runs, args.tight_p99_ms)
    added = _e2e_added_row(by_kind, kinds)
    if added is not None:
        rows.append(added)
    connections = {k: by_kind[k].connections for k in kinds}
    if all(c is not None for c in connections.values()):
        rows += _connections_rows(
            {k: c for k, c in connections.items() if c is not None}, args.connections
        )
    ratios = [k for k in ("prosody", "ejabberd") if k in kinds and "ironwall" in kinds]
    header = f"{'':<44}" + "".join(f"{k:>11}" for k in kinds)
    header += "".join(f"{'IW/' + k[:4]:>11}" for k in ratios) + "  better"
    lines = [header]
    for label, values, better in rows:
        line = f"{label:<44}" + "".join(
            f"{values[k]:>11,.1f}" if values[k] is not None else f"{'-':>11}" for k in kinds
        )
        for other in ratios:
            mine, theirs = values["ironwall"], values[other]
            line += f"{mine / theirs:>10.2f}x" if mine is not None and theirs else f"{'-':>11}"
        lines.append(line + f"  {better}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; print the table; return 0, or 1 if a server failed."""
    args = _parse_args(argv)
    raise_fd_limit()
    # Stopped with SIGTERM, still stop every server started (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    transport = "TLS ON (STARTTLS) on every server" if args.tls else "TLS OFF on every server"
    print(f"Ironwall vs Prosody vs ejabberd, loopback only; {transport}")
    print(f"machine: {_machine()}")
    print(
        f"messages: {args.users} users in pairs, {args.step_seconds:g} s per step, stop at the "
        f"first step that loses a message or has p99 > {args.p99_bound_ms:g} ms; "
        f"connections: {args.connections:,} held {args.hold:g} s"
    )
    with tempfile.TemporaryDirectory(prefix="ironwall-bench-") as temp:
        workdir = args.workdir or Path(temp)
        all_results = _run_all(args, workdir)
    minutes = (time.monotonic() - started) / 60
    print(f"\n== Summary ({transport}; whole run {minutes:.1f} min)")
    for r in all_results:
        extra = f"; {', '.join(r.notes)}" if r.notes else ""
        failed = f"; FAILED: {r.error}" if r.error else ""
        print(f"  {r.kind}: {r.software}{extra}{failed}")
    print(_summary(all_results, args))
    if args.json:
        payload: dict[str, Any] = {
            "tls": args.tls,
            "machine": _machine(),
            "args": {
                k: (sorted(v) if isinstance(v, set) else str(v)) for k, v in vars(args).items()
            },
            "servers": [dataclasses.asdict(r) for r in all_results],
        }
        args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        print(f"results written to {args.json}")
    return 1 if any(r.error for r in all_results) else 0


if __name__ == "__main__":
    sys.exit(main())

"""What the limits for strangers and the storage quotas cost Ironwall: messages/s, same run.

Two Ironwall servers with the default modules (archive on), the same users, talking in
pairs that are roster contacts (as chat partners are); the messages benchmark of
``compare.py`` steps through the rates on both in turn:

- "limits on": the limits as shipped: every message is checked for a stranger (one
  roster lookup), counted against the recipient's and the sender's archive quota, and
  offline messages against the queue's shares;
- "limits off": the strangers module not loaded, quotas of 2**62 bytes, shares of 1.

It prints both step tables, then per rate that both passed the delivered rate, p99
latency and server CPU per 1,000 messages, with the ratio on/off, and the highest
rate each sustained.

Run (a few minutes; while nothing else runs on the machine):
    .venv/bin/python bench/limits_cost.py --rates 1000,2000,3000,4000,5000
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

from compare import DEFAULT_RATES, ServerResults, _interleaved
from ironwall.server.config import DEFAULT_MODULES
from load.runner import MessagesResult
from servers.common import RunningServer, raise_fd_limit
from servers.ironwall import start_ironwall

UNLIMITED = 2**62
LIMITS_OFF: dict[str, int | float] = {
    "max_offline_messages": UNLIMITED,
    "max_offline_bytes": UNLIMITED,
    "offline_share_per_sender": 1.0,
    "offline_share_strangers": 1.0,
    "offline_share_per_stranger": 1.0,
    "max_archive_bytes": UNLIMITED,
    "archive_share_strangers": 1.0,
}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000, help="online users (in pairs)")
    parser.add_argument("--rates", default=DEFAULT_RATES, help="offered messages/s per step")
    parser.add_argument("--step-seconds", type=float, default=8.0)
    parser.add_argument("--p99-bound-ms", type=float, default=500.0)
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    parser.add_argument("--workdir", type=Path, help="where servers keep data (default: temp)")
    args = parser.parse_args(argv)
    if args.users < 2 or args.users % 2:
        parser.error("--users must be an even number of at least 2 (users talk in pairs)")
    return args


def _ratio(on: float, off: float) -> str:
    return f"{on / off:.3f}" if off else "-"


def _summary(on: MessagesResult, off: MessagesResult) -> str:
    lines = [
        f"  {'offered/s':>9} | {'delivered/s on':>14} {'off':>8} {'ratio':>6} | "
        f"{'p99 ms on':>9} {'off':>7} | {'CPU s/1k msgs on':>16} {'off':>7} {'ratio':>6}"
    ]
    off_steps = {s.offered: s for s in off.steps if s.verdict == "ok"}
    for step in on.steps:
        other = off_steps.get(step.offered)
        if step.verdict != "ok" or other is None:
            continue
        cpu_on = step.server_cpu_pct / 100 / step.delivered_per_s * 1000
        cpu_off = other.server_cpu_pct / 100 / other.delivered_per_s * 1000
        lines.append(
            f"  {step.offered:>9,.0f} | {step.delivered_per_s:>14,.0f} "
            f"{other.delivered_per_s:>8,.0f} {_ratio(step.delivered_per_s, other.delivered_per_s):>6} | "
            f"{step.p99_ms:>9.1f} {other.p99_ms:>7.1f} | {cpu_on:>16.3f} {cpu_off:>7.3f} "
            f"{_ratio(cpu_on, cpu_off):>6}"
        )
    best_on, best_off = on.best, off.best
    if best_on is not None and best_off is not None:
        lines.append(
            f"  sustained: on {best_on.delivered_per_s:,.0f}/s (p99 {best_on.p99_ms:.1f} ms), "
            f"off {best_off.delivered_per_s:,.0f}/s (p99 {best_off.p99_ms:.1f} ms): ratio "
            f"{_ratio(best_on.delivered_per_s, best_off.delivered_per_s)}"
        )
    lines.append(f"  limits on stopped: {on.stop_reason}; limits off stopped: {off.stop_reason}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run both servers' steps in turn and print what the limits cost."""
    args = _parse_args(argv)
    raise_fd_limit()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    print(
        f"Ironwall limits on vs off: default modules, {args.users} users in pairs that are "
        f"roster contacts, {args.step_seconds:g} s per step, loopback, TLS off"
    )
    off_modules = tuple(m for m in DEFAULT_MODULES if m != "strangers")
    servers: dict[str, RunningServer] = {}
    results: dict[str, ServerResults] = {}
    with tempfile.TemporaryDirectory(prefix="ironwall-limits-") as temp:
        workdir = args.workdir or Path(temp)
        try:
            for label, options in (
                ("limits on", {"modules": None}),
                ("limits off", {"modules": off_modules, "limits": LIMITS_OFF}),
            ):
                print(f"== {label}: creating {args.users:,} accounts and starting", flush=True)
                server = start_ironwall(
                    workdir / label.replace(" ", "-"), args.users, contacts=args.users, **options
                )
                servers[label] = server
                results[label] = ServerResults(
                    kind=label, software=server.software, notes=server.notes
                )
            run_args = argparse.Namespace(
                users=args.users,
                workers=args.workers,
                step_seconds=args.step_seconds,
                p99_bound_ms=args.p99_bound_ms,
                rates=args.rates,
                e2e_rates="",
            )
            _interleaved("messages", servers, results, run_args)
        finally:
            for server in servers.values():
                server.stop()
    on, off = results["limits on"].messages, results["limits off"].messages
    minutes = (time.monotonic() - started) / 60
    print(f"\n== What the limits cost (whole run {minutes:.1f} min)")
    for label, result in results.items():
        print(
            f"  {label}: {', '.join(result.notes)}{'; FAILED: ' + result.error if result.error else ''}"
        )
    if on is None or off is None:
        print("  no result to compare")
        return 1
    print(_summary(on, off))
    return 1 if any(r.error for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

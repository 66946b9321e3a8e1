"""CPU time and resident memory of a server's whole process group, read from /proc.

A server is started as the leader of its own process group (session), so summing every
process whose group id is the leader's pid counts its helpers too (Erlang's
``erl_child_setup``, for instance).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "GroupSampler",
    "GroupUsage",
    "group_usage",
    "machine_busy_seconds",
    "self_cpu_seconds",
]

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class GroupUsage:
    """CPU seconds (user + system) and resident bytes of a process group at one moment."""

    cpu_s: float
    rss_bytes: int
    processes: int


def _stat_fields(pid: str) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces; everything after its ")" splits cleanly.
    return raw[raw.rfind(")") + 2 :].split()


def group_usage(pgid: int) -> GroupUsage:
    """Sum CPU time and RSS over every live process of group ``pgid``."""
    cpu_ticks = 0
    rss_pages = 0
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        # After the name: state(0) ppid(1) pgrp(2) ... utime(11) stime(12) ... rss(21)
        if fields is None or int(fields[2]) != pgid:
            continue
        cpu_ticks += int(fields[11]) + int(fields[12])
        rss_pages += int(fields[21])
        count += 1
    return GroupUsage(cpu_s=cpu_ticks / _TICKS, rss_bytes=rss_pages * _PAGE, processes=count)


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used since boot (every core)."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = fh.readline().split()[1:]
    # user nice system idle ...: processes' time only; interrupt time (loopback traffic
    # is handled there) belongs to no process and would blur "other processes".
    busy = sum(int(fields[i]) for i in (0, 1, 2))
    return busy / _TICKS


def self_cpu_seconds() -> float:
    """CPU seconds this process has used (user + system)."""
    times = os.times()
    return times.user + times.system


class GroupSampler:
    """Samples a process group every ``interval`` s in a thread; keeps the peak RSS.

    ``mark()`` returns the usage now and resets the peak, so each measured phase gets
    its own CPU delta and peak memory.
    """

    def __init__(self, pgid: int, interval: float = 0.5) -> None:
        self._pgid = pgid
        self._interval = interval
        self._peak = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> GroupSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            rss = group_usage(self._pgid).rss_bytes
            with self._lock:
                self._peak = max(self._peak, rss)

    def mark(self) -> tuple[GroupUsage, int, float]:
        """(usage now, peak RSS since the last mark, monotonic time now)."""
        usage = group_usage(self._pgid)
        with self._lock:
            peak = max(self._peak, usage.rss_bytes)
            self._peak = usage.rss_bytes
        return usage, peak, time.monotonic()

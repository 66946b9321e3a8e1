"""Subprocess plumbing for the interop harness: bounded runs, bounded waits, clean stops.

Every helper here takes a time bound, and every error message passes through
``redact`` so that passwords and passphrases handed to a peer on its command
line never reach a test report.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

__all__ = [
    "LOOPBACK",
    "LinePump",
    "PeerError",
    "free_port",
    "redact",
    "run",
    "spawn",
    "stop_process",
    "tail",
    "wait_for_port",
]

LOOPBACK = "127.0.0.1"


class PeerError(RuntimeError):
    """A third-party peer failed: did not start, exited badly, or timed out."""


def redact(text: str, secrets: Iterable[str]) -> str:
    """Return ``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that was free on ``host`` a moment ago (bind port 0, release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, max_bytes: int = 4000) -> str:
    """Return the last ``max_bytes`` of a log file, or a note that it is missing."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            return fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"<{path} does not exist>"


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input_text: str | None = None,
    secrets: Iterable[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion within ``timeout`` seconds; raise PeerError unless it exits 0."""
    hidden = tuple(secrets)
    shown = redact(" ".join(argv), hidden)
    try:
        done = subprocess.run(
            list(argv),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        err = redact(err[-2000:], hidden)
        raise PeerError(f"{shown!r} timed out after {timeout:g} s; stderr tail:\n{err}") from None
    if done.returncode != 0:
        err = redact(done.stderr[-2000:], hidden)
        out = redact(done.stdout[-2000:], hidden)
        raise PeerError(
            f"{shown!r} exited with {done.returncode}; stderr tail:\n{err}\nstdout tail:\n{out}"
        )
    return done


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    output: Path,
) -> subprocess.Popen[bytes]:
    """Start a long-running server in its own process group, stdout+stderr to ``output``.

    The own group (session) lets ``stop_process`` end the server and every child it
    started (Erlang's helpers, for instance) by the group id, and nothing else.
    """
    with output.open("ab") as sink:
        return subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for_port(
    host: str,
    port: int,
    *,
    timeout: float,
    proc: subprocess.Popen[bytes],
    describe: Callable[[], str],
) -> None:
    """Wait until ``host:port`` accepts TCP connections; fail early if ``proc`` exits.

    ``describe`` is called only on failure and should return a log tail.
    """
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            raise PeerError(f"process exited with {code} before listening on {port}:\n{describe()}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise PeerError(
                f"nothing listening on {host}:{port} after {timeout:.0f} s:\n{describe()}"
            )
        time.sleep(0.05)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_process(proc: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """Stop a process started by ``spawn``: SIGTERM to its group, SIGKILL after ``grace`` s."""
    pgid = proc.pid
    if proc.poll() is None:
        _signal_group(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(pgid, signal.SIGKILL)
            proc.wait(timeout=5.0)
    # Children that outlived the leader (a wedged Erlang helper) still carry our group id.
    _signal_group(pgid, signal.SIGKILL)


class LinePump:
    """Read a child's pipe in a thread into a bounded buffer that callers can wait on.

    Only the last ``max_lines`` lines are kept, so a child that floods its output
    cannot exhaust memory; ``total`` still counts every line seen.
    """

    def __init__(
        self,
        stream: IO[bytes],
        *,
        max_lines: int = 5000,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        self._stream = stream
        self._lines: collections.deque[str] = collections.deque(maxlen=max_lines)
        self._on_line = on_line
        self._cond = threading.Condition()
        self.total = 0
        self.closed = False
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for raw in self._stream:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                with self._cond:
                    self._lines.append(line)
                    self.total += 1
                    self._cond.notify_all()
                if self._on_line is not None:
                    self._on_line(line)
        except ValueError:
            pass  # the pipe was closed under us by stop(); nothing more to read
        finally:
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    def lines(self) -> list[str]:
        """Return the lines kept so far."""
        with self._cond:
            return list(self._lines)

    def wait(self, predicate: Callable[[list[str]], bool], timeout: float) -> bool:
        """Wait up to ``timeout`` s until ``predicate(lines)`` holds or the pipe closes."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if predicate(list(self._lines)):
                    return True
                remaining = deadline - time.monotonic()
                if self.closed or remaining <= 0:
                    return False
                self._cond.wait(remaining)

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the reader thread to finish."""
        self._thread.join(timeout)

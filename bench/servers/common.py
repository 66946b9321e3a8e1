"""What the three server launchers share: bounded process plumbing and a running-server handle.

Adapted from the interop harness (tests/interop/procs.py), which bench must not import:
every wait is bounded, every server runs in its own session (process group) so that it
and every helper it starts are stopped by that group id, and nothing else.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "BENCH_PASSWORD",
    "DOMAIN",
    "LOOPBACK",
    "RunningServer",
    "ServerError",
    "TlsFiles",
    "free_port",
    "fresh_directory",
    "make_tls",
    "raise_fd_limit",
    "run",
    "spawn",
    "stop_process",
    "tail",
    "user_name",
    "wait_for_port",
]

LOOPBACK = "127.0.0.1"
DOMAIN = "localhost"
#: Every bench account has this password: accounts are throwaway and loopback-only, and one
#: password with one salt lets each load-generator process derive the SCRAM key once.
BENCH_PASSWORD = "bench-password-not-secret"


class ServerError(RuntimeError):
    """A server did not start, did not stop, or a setup command failed."""


def user_name(index: int) -> str:
    """Local part of bench account ``index`` (0-based): ``u00000``, ``u00001``, ..."""
    return f"u{index:05d}"


def fresh_directory(path: Path) -> Path:
    """Create ``path`` (absolute) for a new server; refuse one that already holds files."""
    path = path.resolve()
    if path.exists() and any(path.iterdir()):
        raise ServerError(f"{path} is not empty: give each server a fresh working directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


def raise_fd_limit() -> int:
    """Raise this process's open-file soft limit to its hard limit; return the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that was free on ``host`` a moment ago (bind port 0, release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, max_bytes: int = 3000) -> str:
    """Return the last ``max_bytes`` of a log file, or a note that it is missing."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - max_bytes))
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
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion within ``timeout`` s; raise ServerError unless it exits 0."""
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
    except subprocess.TimeoutExpired:
        raise ServerError(f"{argv[0]} timed out after {timeout:g} s") from None
    if done.returncode != 0:
        raise ServerError(
            f"{argv[0]} exited with {done.returncode}:\n{done.stderr[-2000:]}\n{done.stdout[-2000:]}"
        )
    return done


def spawn(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, output: Path
) -> subprocess.Popen[bytes]:
    """Start a server in its own session, stdout+stderr to ``output``, open files at the maximum."""
    with output.open("ab") as sink:
        return subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=raise_fd_limit,
        )


def wait_for_port(
    port: int, *, timeout: float, proc: subprocess.Popen[bytes], describe: Callable[[], str]
) -> None:
    """Wait until ``LOOPBACK:port`` accepts connections; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            raise ServerError(f"exited with {code} before listening on {port}:\n{describe()}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise ServerError(
                f"nothing listening on port {port} after {timeout:.0f} s:\n{describe()}"
            )
        time.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """SIGTERM the process group led by ``proc``; SIGKILL it after ``grace`` s."""
    pgid = proc.pid
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            proc.wait(timeout=5.0)
    # Helpers that outlived the leader (Erlang's) still carry the group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a throwaway CA and a server certificate issued by it."""

    ca_pem: Path
    cert_pem: Path
    key_pem: Path
    key_and_cert_pem: Path


def make_tls(directory: Path, domain: str = DOMAIN) -> TlsFiles:
    """Issue a 30-day certificate for ``domain`` from a fresh CA (trustme) into ``directory``.

    30 days because ejabberd 23.01 crashes on trustme's default expiry (year 3000).
    """
    import trustme  # a test dependency: only needed when a benchmark runs with TLS

    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    now = datetime.datetime.now(datetime.UTC)
    leaf = ca.issue_cert(
        domain,
        not_before=now - datetime.timedelta(hours=1),
        not_after=now + datetime.timedelta(days=30),
    )
    files = TlsFiles(
        ca_pem=directory / "ca.pem",
        cert_pem=directory / "cert.pem",
        key_pem=directory / "key.pem",
        key_and_cert_pem=directory / "key-and-cert.pem",
    )
    ca.cert_pem.write_to_path(str(files.ca_pem))
    leaf.cert_chain_pems[0].write_to_path(str(files.cert_pem))
    leaf.private_key_pem.write_to_path(str(files.key_pem))
    files.key_pem.chmod(0o600)
    files.key_and_cert_pem.write_bytes(
        leaf.private_key_pem.bytes() + leaf.cert_chain_pems[0].bytes()
    )
    files.key_and_cert_pem.chmod(0o600)
    return files


@dataclass
class RunningServer:
    """A server under test: where it listens, its process group, how to stop and restart it."""

    kind: str
    software: str
    port: int
    tls: bool
    log_path: Path
    _start: Callable[[], subprocess.Popen[bytes]] = field(repr=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """Process id of the server, leader of its own process group."""
        if self._proc is None:
            raise ServerError(f"{self.kind} is not running")
        return self._proc.pid

    def start(self) -> None:
        """Start the server (on the same port, configuration and data as before)."""
        if self._proc is None:
            self._proc = self._start()

    def alive(self) -> bool:
        """True while the server process runs."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Stop the server and its helpers; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc, grace=15.0)

    def restart(self) -> None:
        """Stop and start again: a clean process for the next measurement."""
        self.stop()
        self.start()

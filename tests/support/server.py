"""Start the real Ironwall server for a test: in this process, or as a child process."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

from ironwall.server.app import Server
from ironwall.server.config import Config, Limits, Listener
from support.tls import test_pki


def make_config(
    data_dir: Path, *, limits: dict[str, Any] | None = None, **overrides: Any
) -> Config:
    """A loopback config on an ephemeral port with the test PKI's certificate."""
    pki = test_pki()
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "listeners": (Listener("127.0.0.1", 0),),
        "certificate": pki.cert_pem,
        "private_key": pki.key_pem,
        "limits": dataclasses.replace(Limits(), **(limits or {})),
    }
    values.update(overrides)
    return Config(**values)


@contextlib.asynccontextmanager
async def running_server(data_dir: Path, **kwargs: Any) -> AsyncIterator[Server]:
    """The server running in this event loop until the block exits."""
    server = Server(make_config(data_dir, **kwargs))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def server_port(server: Server) -> int:
    """The ephemeral port the server listens on."""
    return server.addresses[0][1]


def free_port() -> int:
    """A loopback port that was free a moment ago (for a server restarted on the same port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(directory: Path) -> Path:
    """A TOML config for ``ironwall server`` using the test PKI's certificate."""
    pki = test_pki()
    path = directory / "ironwall.toml"
    path.write_text(
        f'certificate = "{pki.cert_pem}"\nprivate_key = "{pki.key_pem}"\n', encoding="utf-8"
    )
    return path


_LISTEN_LINE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


class ServerProcess:
    """``ironwall server`` as a child process, driven by its command-line contract."""

    def __init__(
        self, data_dir: Path, *, extra_args: list[str] | None = None, config: Path | None = None
    ) -> None:
        self.data_dir = data_dir
        self.extra_args = extra_args or []
        self.config = config
        self.process: subprocess.Popen[str] | None = None
        self.port = 0
        self.output: list[str] = []
        self._drain: threading.Thread | None = None

    def start(self, port: int = 0, timeout: float = 30.0) -> int:
        """Start it and wait for its "listening" log line; return the port."""
        args = [
            sys.executable,
            "-m",
            "ironwall.cli.main",
            "server",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(port),
        ]
        if self.config is not None:
            args += ["--config", str(self.config)]
        self.process = subprocess.Popen(
            args + self.extra_args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + timeout
        stdout = self.process.stdout
        assert stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = stdout.readline()
            if not line:
                break
            self.output.append(line)
            if match := _LISTEN_LINE.search(line):
                self.port = int(match.group(1))
                # Keep reading its output, or a full pipe would block the server's logging.
                self._drain = threading.Thread(target=self._read_rest, args=(stdout,), daemon=True)
                self._drain.start()
                return self.port
        self.kill()
        raise RuntimeError("server did not start:\n" + "".join(self.output))

    def _read_rest(self, stdout: IO[str]) -> None:
        for line in stdout:
            self.output.append(line)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM it, wait for it to exit, and return its exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)
        if self._drain is not None:
            self._drain.join(timeout=timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL it (a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=15)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

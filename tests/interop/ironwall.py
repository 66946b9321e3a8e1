"""Start the Ironwall server for the interop suite, through its command-line contract."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import ironwall

from .procs import LOOPBACK, free_port, run, spawn, stop_process, tail, wait_for_port
from .xmpp_server import XmppServer, frozen_users, make_tls

__all__ = ["IronwallServer", "start_ironwall"]


class IronwallServer:
    """A running ``ironwall server``: ``server`` describes it, ``stop()`` ends it."""

    def __init__(self, server: XmppServer, proc: subprocess.Popen[bytes]) -> None:
        self.server = server
        self._proc = proc

    @property
    def pid(self) -> int:
        """Process id of the server."""
        return self._proc.pid

    def stop(self) -> None:
        """SIGTERM the server, SIGKILL after 10 s."""
        stop_process(self._proc, grace=10.0)


def start_ironwall(
    workdir: Path,
    users: Mapping[str, str],
    *,
    domain: str = "localhost",
    start_timeout: float = 30.0,
) -> IronwallServer:
    """Start ``ironwall server`` in ``workdir`` with one account per ``users`` entry."""
    workdir.mkdir(parents=True, exist_ok=True)
    tls = make_tls(workdir / "tls", domain)
    data = workdir / "data"
    port = free_port()
    config = workdir / "ironwall.toml"
    config.write_text(
        f'domains = ["{domain}"]\ncertificate = "{tls.cert_pem}"\nprivate_key = "{tls.key_pem}"\n'
        f'registration = false\n[[listen]]\nhost = "{LOOPBACK}"\nport = {port}\n',
        encoding="utf-8",
    )
    base = [sys.executable, "-m", "ironwall.cli.main"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for user, password in users.items():
        run(
            [
                *base,
                "admin",
                "--config",
                str(config),
                "--data-dir",
                str(data),
                "adduser",
                f"{user}@{domain}",
            ],
            timeout=60.0,
            env=env,
            input_text=password + "\n",
            secrets=[password],
        )
    log_path = data / "ironwall.log"
    proc = spawn(
        [*base, "server", "--config", str(config), "--data-dir", str(data)],
        env=env,
        cwd=workdir,
        output=workdir / "ironwall.out",
    )
    wait_for_port(
        LOOPBACK,
        port,
        timeout=start_timeout,
        proc=proc,
        describe=lambda: tail(workdir / "ironwall.out"),
    )
    server = XmppServer(
        kind="ironwall",
        software=f"Ironwall {ironwall.__version__}",
        domain=domain,
        host=LOOPBACK,
        port=port,
        ca_pem_path=tls.ca_pem,
        log_path=log_path,
        users=frozen_users(users),
    )
    return IronwallServer(server, proc)

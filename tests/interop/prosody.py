"""Start a throwaway Prosody (Debian package) on loopback for interop tests."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from .procs import LOOPBACK, free_port, run, spawn, stop_process, tail, wait_for_port
from .xmpp_server import XmppServer, frozen_users, make_tls

__all__ = ["ProsodyServer", "missing", "prosody_version", "start_prosody"]

_CONTROL_TIMEOUT = 30.0


def missing() -> str | None:
    """Say what is not installed for running Prosody, or None when all is there."""
    absent = [name for name in ("prosody", "prosodyctl") if shutil.which(name) is None]
    if absent:
        return (
            f"{', '.join(absent)} not found: run scripts/install-peers.sh (Debian package prosody)"
        )
    return None


@functools.cache
def prosody_version() -> str:
    """Return the first line of ``prosodyctl about``, e.g. ``Prosody 0.12.3``.

    (``prosody --version`` would start a server.)
    """
    done = run(["prosodyctl", "about"], timeout=_CONTROL_TIMEOUT)
    # It may print a banner of asterisks and a warning about optional libraries first.
    for line in done.stdout.splitlines():
        if re.match(r"Prosody \d", line.strip()):
            return line.strip()
    return "Prosody (version unknown)"


def _lua(value: str) -> str:
    """Quote a string as a Lua literal; the paths we write contain no control characters."""
    if any(ord(ch) < 0x20 for ch in value):
        raise ValueError(f"refusing to write a control character into a Lua string: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ProsodyServer:
    """A running Prosody: ``server`` describes it, ``stop()`` ends it, ``restart()`` cycles it."""

    def __init__(
        self,
        server: XmppServer,
        proc: subprocess.Popen[bytes],
        *,
        start: Callable[[], subprocess.Popen[bytes]],
    ) -> None:
        self.server = server
        self._proc = proc
        self._start = start

    @property
    def pid(self) -> int:
        """Process id of the Prosody process (leader of its own process group)."""
        return self._proc.pid

    def stop(self) -> None:
        """SIGTERM Prosody, SIGKILL after 10 s."""
        stop_process(self._proc, grace=10.0)

    def restart(self) -> None:
        """Stop Prosody and start it again on the same port, config and data."""
        self.stop()
        self._proc = self._start()


def start_prosody(
    workdir: Path,
    users: Mapping[str, str],
    *,
    domain: str = "localhost",
    allow_registration: bool = False,
    debug: bool = False,
    start_timeout: float = 30.0,
) -> ProsodyServer:
    """Start Prosody in ``workdir`` with one account per ``users`` entry (local part -> password).

    Loopback only, an ephemeral c2s port, STARTTLS required with a test CA, PEP on,
    offline messages (mod_offline, which Prosody always loads), no s2s and no HTTP,
    file storage and logs under ``workdir``. ``debug`` logs
    every stanza (including SASL PLAIN credentials: keep it off unless needed).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    tls = make_tls(workdir / "tls", domain)
    certs = workdir / "certs"
    certs.mkdir(exist_ok=True)
    shutil.copyfile(tls.cert_pem, certs / f"{domain}.crt")
    shutil.copyfile(tls.key_pem, certs / f"{domain}.key")
    (certs / f"{domain}.key").chmod(0o600)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    log_path = workdir / "prosody.log"
    port = free_port()

    modules = ["disco", "roster", "saslauth", "tls", "pep", "private", "ping"]
    if allow_registration:
        modules.append("register")
    if debug:
        modules.append("stanza_debug")
    level = "debug" if debug else "info"
    config = workdir / "prosody.cfg.lua"
    config.write_text(
        f"""-- written by tests/interop/prosody.py
run_as_root = true -- CI runs as root; the test directory is not readable by the prosody user
data_path = {_lua(str(data))}
certificates = {_lua(str(certs))}
plugin_paths = {{}}
interfaces = {{ "{LOOPBACK}" }}
local_interfaces = {{ "{LOOPBACK}" }}
c2s_ports = {{ {port} }}
c2s_direct_tls_ports = {{}}
modules_enabled = {{ {", ".join(_lua(m) for m in modules)} }}
modules_disabled = {{ "s2s" }}
c2s_require_encryption = true
allow_registration = {"true" if allow_registration else "false"}
authentication = "internal_hashed"
storage = "internal"
log = {{ {{ levels = {{ min = "{level}" }}, to = "file", filename = {_lua(str(log_path))} }} }}
VirtualHost {_lua(domain)}
""",
        encoding="utf-8",
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(data), "LANG": "C.UTF-8"}
    for user, password in users.items():
        run(
            ["prosodyctl", "--config", str(config), "register", user, domain, password],
            timeout=_CONTROL_TIMEOUT,
            env=env,
            secrets=[password],
        )

    def start() -> subprocess.Popen[bytes]:
        proc = spawn(
            ["prosody", "--config", str(config), "-F"],
            env=env,
            cwd=workdir,
            output=workdir / "prosody.stdout",
        )
        try:
            wait_for_port(
                LOOPBACK,
                port,
                timeout=start_timeout,
                proc=proc,
                describe=lambda: tail(workdir / "prosody.stdout") + "\n" + tail(log_path),
            )
        except BaseException:
            stop_process(proc)
            raise
        return proc

    proc = start()
    try:
        server = XmppServer(
            kind="prosody",
            software=prosody_version(),
            domain=domain,
            host=LOOPBACK,
            port=port,
            ca_pem_path=tls.ca_pem,
            log_path=log_path,
            users=frozen_users(users),
        )
    except BaseException:
        stop_process(proc)
        raise
    return ProsodyServer(server, proc, start=start)

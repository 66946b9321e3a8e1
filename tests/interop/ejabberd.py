"""Start a throwaway ejabberd (Debian package) on loopback for interop tests.

``ejabberdctl`` is not used: as root it re-runs itself as the ``ejabberd`` user
(who cannot read a pytest temp directory) and as anyone else it refuses to run.
So the Erlang VM is started directly, the way ``ejabberdctl foreground`` would,
with its own node name, cookie (in a temp HOME) and a fixed distribution port
(``-erl_epmd_port``, ``-start_epmd false``): no epmd daemon is started or shared,
so parallel runs cannot collide and nothing outlives the test.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .procs import LOOPBACK, PeerError, free_port, run, spawn, stop_process, tail, wait_for_port
from .xmpp_server import XmppServer, frozen_users, make_tls

__all__ = ["EjabberdServer", "ejabberd_version", "missing", "start_ejabberd"]

_CONTROL_TIMEOUT = 30.0
_APP_GLOBS = (
    "/usr/lib/*/ejabberd-*/ebin/ejabberd.app",
    "/usr/lib/erlang/lib/ejabberd-*/ebin/ejabberd.app",
)


@functools.cache
def _app_file() -> Path | None:
    for pattern in _APP_GLOBS:
        found = sorted(Path("/").glob(pattern.lstrip("/")))
        if found:
            return found[-1]
    return None


def missing() -> str | None:
    """Say what is not installed for running ejabberd, or None when all is there."""
    if shutil.which("erl") is None or _app_file() is None:
        return (
            "erl or ejabberd.app not found: run scripts/install-peers.sh (Debian package ejabberd)"
        )
    return None


@functools.cache
def ejabberd_version() -> str:
    """Return e.g. ``ejabberd 23.01-1``, read from the installed ``ejabberd.app``."""
    app = _app_file()
    if app is None:
        raise FileNotFoundError("ejabberd is not installed")
    found = re.search(r'\{vsn,\s*"([^"]+)"\}', app.read_text(encoding="utf-8"))
    return f"ejabberd {found.group(1) if found else 'unknown'}"


def _q(value: str) -> str:
    """Quote a string for YAML and for Erlang terms (JSON string syntax is valid in both)."""
    return json.dumps(value)


class EjabberdServer:
    """A running ejabberd node: ``server`` describes it, ``ctl(...)`` runs ejabberdctl commands,
    ``restart()`` stops the node and starts it again on the same Mnesia data."""

    def __init__(
        self,
        server: XmppServer,
        proc: subprocess.Popen[bytes],
        *,
        node: str,
        dist_port: int,
        env: Mapping[str, str],
        start: Callable[[], subprocess.Popen[bytes]],
    ) -> None:
        self.server = server
        self._proc = proc
        self._start = start
        self._node = node
        self._dist_port = dist_port
        self._env = dict(env)

    @property
    def pid(self) -> int:
        """Process id of the Erlang VM (leader of its own process group)."""
        return self._proc.pid

    def ctl(self, *args: str, secrets_in_args: Sequence[str] = ()) -> str:
        """Run an ejabberdctl command (e.g. ``"register", "u", "host", "pw"``) and return stdout."""
        client = f"ctl-{secrets.token_hex(4)}@localhost"
        argv = [
            "erl",
            "-sname",
            client,
            "-hidden",
            "-noinput",
            "-dist_listen",
            "false",
            "-erl_epmd_port",
            str(self._dist_port),
            "-start_epmd",
            "false",
            "-s",
            "ejabberd_ctl",
            "-extra",
            self._node,
            *args,
        ]
        done = run(argv, timeout=_CONTROL_TIMEOUT, env=self._env, secrets=secrets_in_args)
        return done.stdout

    def stop(self) -> None:
        """SIGTERM the VM (a clean ejabberd shutdown), SIGKILL its group after 15 s."""
        stop_process(self._proc, grace=15.0)

    def restart(self) -> None:
        """Stop the node cleanly and start it again (same node name, so Mnesia keeps its data)."""
        self.stop()
        self._proc = self._start()


def _config(
    *, domain: str, port: int, cert: Path, ca: Path, loglevel: str, allow_registration: bool
) -> str:
    register_rule = "  register:\n    allow: all\n" if allow_registration else ""
    register_module = (
        "  mod_register:\n    access: register\n    ip_access: all\n" if allow_registration else ""
    )
    return f"""# written by tests/interop/ejabberd.py
hosts:
  - {_q(domain)}
loglevel: {loglevel}
log_rotate_count: 0
certfiles:
  - {_q(str(cert))}
ca_file: {_q(str(ca))}
acme:
  auto: false
listen:
  -
    port: {port}
    ip: "{LOOPBACK}"
    module: ejabberd_c2s
    max_stanza_size: 262144
    access: c2s
    starttls_required: true
auth_method: internal
auth_password_format: scram
default_db: mnesia
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  pubsub_createnode:
    allow: local
{register_rule}api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
modules:
  mod_caps: {{}}
  mod_disco: {{}}
  mod_offline: {{}}
  mod_ping: {{}}
  mod_private: {{}}
  mod_roster: {{}}
  mod_pubsub:
    access_createnode: pubsub_createnode
    plugins:
      - flat
      - pep
{register_module}"""


def start_ejabberd(
    workdir: Path,
    users: Mapping[str, str],
    *,
    domain: str = "localhost",
    allow_registration: bool = False,
    debug: bool = False,
    start_timeout: float = 30.0,
) -> EjabberdServer:
    """Start ejabberd in ``workdir`` with one account per ``users`` entry (local part -> password).

    Loopback only (c2s and Erlang distribution), an ephemeral c2s port, STARTTLS
    required with a test CA, PEP on, no s2s and no HTTP, Mnesia and logs under ``workdir``.
    """
    app = _app_file()
    if app is None:
        raise FileNotFoundError("ejabberd is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    tls = make_tls(workdir / "tls", domain)
    spool = workdir / "spool"
    spool.mkdir(exist_ok=True)
    home = workdir / "erlang-home"
    home.mkdir(exist_ok=True)
    cookie = home / ".erlang.cookie"
    cookie.write_text(secrets.token_hex(16), encoding="ascii")
    cookie.chmod(0o400)
    inetrc = workdir / "inetrc"
    inetrc.write_text('{lookup,["file"]}.\n{host,{127,0,0,1},["localhost"]}.\n', encoding="ascii")
    port = free_port()
    config = workdir / "ejabberd.yml"
    config.write_text(
        _config(
            domain=domain,
            port=port,
            cert=tls.key_and_cert_pem,
            ca=tls.ca_pem,
            loglevel="debug" if debug else "info",
            allow_registration=allow_registration,
        ),
        encoding="utf-8",
    )
    log_path = workdir / "ejabberd.log"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ERL_LIBS": str(app.parent.parent.parent),
        "ERL_INETRC": str(inetrc),
        "ERL_CRASH_DUMP": str(workdir / "erl_crash.dump"),
        "ERL_CRASH_DUMP_BYTES": "0",
        "EJABBERD_CONFIG_PATH": str(config),
        "EJABBERD_LOG_PATH": str(log_path),
    }
    node = f"ejabberd-{secrets.token_hex(4)}@localhost"
    dist_port = free_port()
    argv = [
        "erl",
        "-sname",
        node,
        "-noinput",
        "-erl_epmd_port",
        str(dist_port),
        "-start_epmd",
        "false",
        "-kernel",
        "inet_dist_use_interface",
        "{127,0,0,1}",
        "-mnesia",
        "dir",
        _q(str(spool)),
        "-s",
        "ejabberd",
    ]

    def start() -> subprocess.Popen[bytes]:
        proc = spawn(argv, env=env, cwd=spool, output=workdir / "ejabberd.stdout")
        try:
            wait_for_port(
                LOOPBACK,
                port,
                timeout=start_timeout,
                proc=proc,
                describe=lambda: tail(workdir / "ejabberd.stdout") + "\n" + tail(log_path),
            )
        except BaseException:
            stop_process(proc)
            raise
        return proc

    proc = start()
    try:
        handle = EjabberdServer(
            XmppServer(
                kind="ejabberd",
                software=ejabberd_version(),
                domain=domain,
                host=LOOPBACK,
                port=port,
                ca_pem_path=tls.ca_pem,
                log_path=log_path,
                users=frozen_users(users),
            ),
            proc,
            node=node,
            dist_port=dist_port,
            env=env,
            start=start,
        )
        for user, password in users.items():
            _register(handle, user, domain, password)
    except BaseException:
        stop_process(proc)
        raise
    return handle


def _register(handle: EjabberdServer, user: str, domain: str, password: str) -> None:
    """Register an account, waiting (bounded) until ejabberd's tables exist.

    ejabberd opens its port before Mnesia has created every table; on a loaded machine a
    registration then fails with ``no_exists`` for a moment.
    """
    deadline = time.monotonic() + 30.0
    while True:
        try:
            handle.ctl("register", user, domain, password, secrets_in_args=[password])
            return
        except PeerError as exc:
            if "no_exists" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)

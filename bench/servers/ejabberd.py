"""Start ejabberd (Debian package) for a benchmark: loopback, TLS on or off, no shaper.

As in the interop harness, the Erlang VM is started directly (``ejabberdctl`` re-runs
itself as the ``ejabberd`` user), with its own node name, cookie and a fixed distribution
port, so no epmd is shared and nothing outlives the run. ``ejabberdctl register`` costs an
Erlang VM per account; instead one short-lived hidden node calls
``ejabberd_auth:try_register`` over distribution for every account, with one SCRAM record
made by ``ejabberd_auth:password_to_scram`` (every bench account shares one password).
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import subprocess
from pathlib import Path

from .common import (
    BENCH_PASSWORD,
    DOMAIN,
    LOOPBACK,
    RunningServer,
    ServerError,
    free_port,
    fresh_directory,
    make_tls,
    run,
    spawn,
    stop_process,
    tail,
    user_name,
    wait_for_port,
)

__all__ = ["ejabberd_version", "start_ejabberd"]

_APP_GLOBS = (
    "usr/lib/*/ejabberd-*/ebin/ejabberd.app",
    "usr/lib/erlang/lib/ejabberd-*/ebin/ejabberd.app",
)


@functools.cache
def _app_file() -> Path:
    for pattern in _APP_GLOBS:
        found = sorted(Path("/").glob(pattern))
        if found:
            return found[-1]
    raise ServerError("ejabberd is not installed: apt-get install ejabberd")


@functools.cache
def ejabberd_version() -> str:
    """``ejabberd 23.01-1`` or similar, read from the installed ``ejabberd.app``."""
    found = re.search(r'\{vsn,\s*"([^"]+)"\}', _app_file().read_text(encoding="utf-8"))
    return f"ejabberd {found.group(1) if found else 'unknown'}"


def _q(value: str) -> str:
    """Quote for YAML and for Erlang strings alike (JSON string syntax is valid in both)."""
    return json.dumps(value)


def _config(*, port: int, tls: bool, certfile: Path | None) -> str:
    certs = f"certfiles:\n  - {_q(str(certfile))}\n" if certfile is not None else ""
    return f"""# written by bench/servers/ejabberd.py
hosts:
  - {_q(DOMAIN)}
loglevel: warning
log_rotate_count: 0
{certs}acme:
  auto: false
max_fsm_queue: 1000000
# Caches (auth, roster, ...) sized for every bench account, not the default 1,000.
cache_size: 100000
listen:
  -
    port: {port}
    ip: "{LOOPBACK}"
    module: ejabberd_c2s
    max_stanza_size: 262144
    # The default of 5 pending connections drops logins that arrive together.
    backlog: 1024
    shaper: none
    access: c2s
    starttls: {"true" if tls else "false"}
    starttls_required: {"true" if tls else "false"}
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
modules:
  mod_disco: {{}}
  mod_offline: {{}}
  mod_ping: {{}}
  mod_roster: {{}}
"""


def _register_all(
    env: dict[str, str], node: str, dist_port: int, names_file: Path, timeout: float
) -> None:
    # One hidden node registers every account over distribution, two in flight per core.
    script = f"""
N = '{node}', H = <<"{DOMAIN}">>,
{{ok, Bin}} = file:read_file({_q(str(names_file))}),
Names = binary:split(Bin, <<"\\n">>, [global, trim_all]),
S = rpc:call(N, ejabberd_auth, password_to_scram, [H, <<{_q(BENCH_PASSWORD)}>>]),
Parent = self(),
Reg = fun(U) -> case rpc:call(N, ejabberd_auth, try_register, [U, H, S]) of
    ok -> ok; {{error, exists}} -> ok; Other -> Other end end,
Size = 1 + length(Names) div 4,
Chunks = fun Split([]) -> [];
             Split(L) -> {{A, B}} = lists:split(min(length(L), Size), L), [A | Split(B)] end,
[spawn(fun() -> Parent ! {{done, [R || U <- C, (R = Reg(U)) =/= ok]}} end) || C <- Chunks(Names)],
Errors = lists:append([receive {{done, E}} -> E end || _ <- Chunks(Names)]),
case Errors of [] -> halt(0); [First | _] -> io:format("~p errors, first: ~p~n", [length(Errors), First]), halt(1) end.
"""
    run(
        [
            "erl",
            "-sname",
            f"bench-reg-{secrets.token_hex(4)}@localhost",
            "-hidden",
            "-noinput",
            "-dist_listen",
            "false",
            "-erl_epmd_port",
            str(dist_port),
            "-start_epmd",
            "false",
            "-eval",
            script,
        ],
        timeout=timeout,
        env=env,
    )


def start_ejabberd(workdir: Path, accounts: int, *, tls: bool = False) -> RunningServer:
    """Start ejabberd in ``workdir`` on a free port and register ``accounts`` bench accounts.

    c2s without a shaper and with a large ``max_fsm_queue``, STARTTLS only when ``tls``,
    Mnesia and logs (warning level) in ``workdir``; both cores (Erlang's default schedulers).
    """
    app = _app_file()
    version = ejabberd_version()
    workdir = fresh_directory(workdir)
    spool = workdir / "spool"
    spool.mkdir(exist_ok=True)
    home = workdir / "erlang-home"
    home.mkdir(exist_ok=True)
    cookie = home / ".erlang.cookie"
    if not cookie.exists():
        cookie.write_text(secrets.token_hex(16), encoding="ascii")
        cookie.chmod(0o400)
    inetrc = workdir / "inetrc"
    inetrc.write_text('{lookup,["file"]}.\n{host,{127,0,0,1},["localhost"]}.\n', encoding="ascii")
    certfile = make_tls(workdir / "tls").key_and_cert_pem if tls else None
    port = free_port()
    config = workdir / "ejabberd.yml"
    config.write_text(_config(port=port, tls=tls, certfile=certfile), encoding="utf-8")
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
                port,
                timeout=60.0,
                proc=proc,
                describe=lambda: tail(workdir / "ejabberd.stdout") + "\n" + tail(log_path),
            )
        except BaseException:
            stop_process(proc)
            raise
        return proc

    server = RunningServer(
        kind="ejabberd", software=version, port=port, tls=tls, log_path=log_path, _start=start
    )
    server.start()
    try:
        names = workdir / "accounts.txt"
        names.write_text("".join(f"{user_name(i)}\n" for i in range(accounts)), encoding="ascii")
        _register_all(env, node, dist_port, names, timeout=60.0 + accounts / 50)
    except BaseException:
        server.stop()
        raise
    return server

"""Start Prosody (Debian package) for a benchmark: loopback, TLS on or off, limits raised.

``prosodyctl register`` costs a Lua start per account, so the accounts are written straight
into Prosody's ``internal_hashed`` store: one ``accounts/<user>.dat`` file per account
holding the SCRAM-SHA-1 verifier, computed once because every bench account shares one
password and salt.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import shutil
import subprocess
import uuid
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

__all__ = ["prosody_version", "start_prosody"]

_ITERATIONS = 4096  # as Ironwall and ejabberd use; only the client pays for it, once


@functools.cache
def prosody_version() -> str:
    """``Prosody 0.12.3`` or similar, from ``prosodyctl about`` (which starts no server)."""
    if shutil.which("prosodyctl") is None:
        raise ServerError("prosody is not installed: apt-get install prosody")
    done = run(["prosodyctl", "about"], timeout=30.0)
    return done.stdout.strip().splitlines()[0].strip()


def _lua(value: str) -> str:
    if any(ord(ch) < 0x20 for ch in value):
        raise ValueError(f"refusing to write a control character into a Lua string: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _account_file() -> str:
    salt = str(uuid.uuid4())
    salted = hashlib.pbkdf2_hmac("sha1", BENCH_PASSWORD.encode(), salt.encode(), _ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha1")
    stored_key = hashlib.sha1(client_key).hexdigest()  # noqa: S324 (SCRAM-SHA-1, RFC 5802)
    server_key = hmac.digest(salted, b"Server Key", "sha1").hex()
    return (
        "return {\n"
        f'\t["server_key"] = "{server_key}";\n'
        f'\t["salt"] = "{salt}";\n'
        f'\t["stored_key"] = "{stored_key}";\n'
        f'\t["iteration_count"] = {_ITERATIONS};\n'
        "};\n"
    )


def _write_accounts(data: Path, count: int) -> None:
    # Prosody escapes non-alphanumerics in store paths; "localhost" and u00000 need none.
    folder = data / DOMAIN / "accounts"
    folder.mkdir(parents=True, exist_ok=True)
    content = _account_file()
    for index in range(count):
        path = folder / f"{user_name(index)}.dat"
        if not path.exists():
            path.write_text(content, encoding="utf-8")


def start_prosody(workdir: Path, accounts: int, *, tls: bool = False) -> RunningServer:
    """Write ``accounts`` bench accounts and start Prosody in ``workdir`` on a free port.

    No STARTTLS offered when ``tls`` is off (mod_tls not loaded); no mod_limits (no rate
    limits), stanza size as Ironwall's, logs at warning level, file storage in ``workdir``.
    """
    version = prosody_version()
    workdir = fresh_directory(workdir)
    data = (workdir / "data").resolve()
    data.mkdir(exist_ok=True)
    certs = (workdir / "certs").resolve()
    certs.mkdir(exist_ok=True)
    if tls:
        files = make_tls(workdir / "tls")
        shutil.copyfile(files.cert_pem, certs / f"{DOMAIN}.crt")
        shutil.copyfile(files.key_pem, certs / f"{DOMAIN}.key")
        (certs / f"{DOMAIN}.key").chmod(0o600)
    _write_accounts(data, accounts)
    log_path = (workdir / "prosody.log").resolve()
    port = free_port()
    modules = ["roster", "saslauth", "disco", "ping"]
    if tls:
        modules.append("tls")
    config = workdir / "prosody.cfg.lua"
    config.write_text(
        f"""-- written by bench/servers/prosody.py
run_as_root = true
pidfile = {_lua(str(workdir.resolve() / "prosody.pid"))}
data_path = {_lua(str(data))}
certificates = {_lua(str(certs))}
plugin_paths = {{}}
interfaces = {{ "{LOOPBACK}" }}
local_interfaces = {{ "{LOOPBACK}" }}
c2s_ports = {{ {port} }}
c2s_direct_tls_ports = {{}}
modules_enabled = {{ {", ".join(_lua(m) for m in modules)} }}
modules_disabled = {{ "s2s" }}
c2s_require_encryption = {"true" if tls else "false"}
allow_registration = false
authentication = "internal_hashed"
storage = "internal"
c2s_stanza_size_limit = 262144
log = {{ {{ levels = {{ min = "warn" }}, to = "file", filename = {_lua(str(log_path))} }} }}
VirtualHost {_lua(DOMAIN)}
""",
        encoding="utf-8",
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(data), "LANG": "C.UTF-8"}

    def start() -> subprocess.Popen[bytes]:
        proc = spawn(
            ["prosody", "--config", str(config.resolve()), "-F"],
            env=env,
            cwd=workdir,
            output=workdir / "prosody.stdout",
        )
        try:
            wait_for_port(
                port,
                timeout=30.0,
                proc=proc,
                describe=lambda: tail(workdir / "prosody.stdout") + "\n" + tail(log_path),
            )
        except BaseException:
            stop_process(proc)
            raise
        return proc

    server = RunningServer(
        kind="prosody", software=version, port=port, tls=tls, log_path=log_path, _start=start
    )
    server.start()
    return server

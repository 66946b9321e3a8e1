"""Start the Ironwall server for a benchmark: loopback, TLS on or off, limits raised.

Accounts are created before the server starts, in this process, through the server's own
``Accounts.create`` on the same SQLite file (``ironwall admin adduser`` would cost one
process per account). With ``contacts``, the users who talk in pairs are each other's
roster contacts (``both``), as chat partners are: to Ironwall's default modules a
message between non-contacts is a stranger's, and strangers are rate-limited.
"""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import ironwall
import ironwall.server.accounts as accounts_module
from ironwall.proto.jid import JID
from ironwall.proto.sasl import make_verifiers
from ironwall.server.accounts import Accounts
from ironwall.server.roster_model import RosterItem
from ironwall.storage import open_driver

from .common import (
    BENCH_PASSWORD,
    DOMAIN,
    LOOPBACK,
    RunningServer,
    free_port,
    fresh_directory,
    spawn,
    stop_process,
    tail,
    user_name,
    wait_for_port,
)

__all__ = ["start_ironwall"]


# What the Prosody and ejabberd configurations load too: roster, presence, messages,
# offline storage, disco, ping.
BENCH_MODULES = ("disco", "ping", "roster", "presence", "message", "offline")


def _config(
    *,
    port: int,
    tls: bool,
    data_dir: Path,
    modules: tuple[str, ...] | None,
    limits: dict[str, int | float],
) -> str:
    listed = "" if modules is None else "modules = [" + ", ".join(f'"{m}"' for m in modules) + "]"
    extra_limits = "".join(f"{name} = {value!r}\n" for name, value in limits.items())
    return f"""# written by bench/servers/ironwall.py
domains = ["{DOMAIN}"]
data_dir = "{data_dir}"
tls_required = {"true" if tls else "false"}
registration = false
log_level = "warning"
{listed}

[[listen]]
host = "{LOOPBACK}"
port = {port}

[limits]
# One address (loopback) opens every benchmark connection.
max_connections_per_address = 1000000
max_failed_logins_per_address = 1000000
auth_timeout = 120
{extra_limits}"""


async def _create_accounts(database_url: str, count: int, contacts: int) -> None:
    driver = open_driver(database_url)
    await driver.open()
    # Every bench account has the same password: derive its SCRAM verifiers once instead
    # of 10,000 times (about 1.6 ms each); Accounts.create still does everything else.
    cached = functools.cache(make_verifiers)
    try:
        with mock.patch.object(accounts_module, "make_verifiers", cached):
            accounts = Accounts(driver)
            for index in range(count):
                await accounts.create(_jid(index), BENCH_PASSWORD)
        # The load generator pairs users 0 and 1, 2 and 3, ...
        roster = driver.map("roster")
        for index in range(contacts // 2 * 2):
            partner = _jid(index ^ 1)
            await roster.set(
                str(_jid(index)), str(partner), RosterItem(partner, "both").to_record()
            )
    finally:
        await driver.close()


def _jid(index: int) -> JID:
    return JID.parse(f"{user_name(index)}@{DOMAIN}")


def _event_loop_name(env: dict[str, str]) -> str:
    probe = subprocess.run(
        [sys.executable, "-c", "import uvloop; print(uvloop.__version__)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return f"uvloop {probe.stdout.strip()}" if probe.returncode == 0 else "asyncio"


def start_ironwall(
    workdir: Path,
    accounts: int,
    *,
    tls: bool = False,
    modules: tuple[str, ...] | None = BENCH_MODULES,
    contacts: int = 0,
    limits: dict[str, int | float] | None = None,
) -> RunningServer:
    """Create ``accounts`` bench accounts and start Ironwall in ``workdir`` on a free port.

    ``modules`` None runs Ironwall's default modules (with the XEP-0313 archive, stream
    management, carbons and the limits for strangers), which Prosody and ejabberd are
    not configured with here. The first ``contacts`` accounts are contacts in pairs;
    ``limits`` are more ``[limits]`` settings.
    """
    workdir = fresh_directory(workdir)
    data_dir = (workdir / "data").resolve()
    data_dir.mkdir(exist_ok=True)
    port = free_port()
    config = workdir / "ironwall.toml"
    config.write_text(
        _config(port=port, tls=tls, data_dir=data_dir, modules=modules, limits=limits or {}),
        encoding="utf-8",
    )
    asyncio.run(_create_accounts(f"sqlite:///{data_dir / 'ironwall.db'}", accounts, contacts))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
    }
    # PYTHONPATH passes through, so a uvloop installed outside the venv can be tried.
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    log_path = data_dir / "ironwall.log"
    argv = [
        sys.executable,
        "-m",
        "ironwall.cli.main",
        "server",
        "--config",
        str(config),
        "--data-dir",
        str(data_dir),
    ]

    def start() -> subprocess.Popen[bytes]:
        proc = spawn(argv, env=env, cwd=workdir, output=workdir / "ironwall.stdout")
        try:
            wait_for_port(
                port,
                timeout=30.0,
                proc=proc,
                describe=lambda: tail(workdir / "ironwall.stdout"),
            )
        except BaseException:
            stop_process(proc)
            raise
        return proc

    server = RunningServer(
        kind="ironwall",
        software=f"Ironwall {ironwall.__version__}",
        port=port,
        tls=tls,
        log_path=log_path,
        _start=start,
    )
    server.notes.append(f"event loop: {_event_loop_name(env)}")
    server.notes.append(
        "modules: " + ("Ironwall's defaults" if modules is None else ", ".join(modules))
    )
    if contacts:
        server.notes.append(f"the {contacts // 2 * 2:,} users in pairs are roster contacts")
    server.start()
    return server

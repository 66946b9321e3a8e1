"""``ironwall server``: run the XMPP server until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
from pathlib import Path
from typing import Any

from ironwall.cli.common import fail
from ironwall.server import datadir
from ironwall.server.app import Server, ServerError
from ironwall.server.config import Config, ConfigError, load_config
from ironwall.storage import StorageError

_YOUNG_GENERATION = 50_000

__all__ = ["config_from_args", "register"]


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every server-side command shares."""
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="TOML configuration file (see README)"
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where the database, TLS certificate and log live (default: ./ironwall-data)",
    )


def register(commands: Any) -> None:
    """Add the ``server`` subcommand."""
    parser = commands.add_parser(
        "server",
        help="run the Ironwall XMPP server",
        description=(
            "Run the Ironwall XMPP server. With no options it serves the domain 'localhost' on "
            "127.0.0.1:5222, keeps its SQLite database and a self-signed TLS certificate in "
            "./ironwall-data, and requires STARTTLS. Stops cleanly on SIGTERM or Ctrl-C."
        ),
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--domain", metavar="NAME", help="the XMPP domain to serve (default: localhost)"
    )
    parser.add_argument("--host", metavar="ADDR", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        metavar="N",
        help="port to listen on (default: 5222; 0 picks a free one)",
    )
    parser.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> Config:
    """Load the configuration file and apply the command-line overrides."""
    return load_config(
        args.config,
        data_dir=args.data_dir,
        domain=getattr(args, "domain", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
    )


def _setup_logging(config: Config) -> None:
    # The log names accounts and addresses: it is created private, in a private directory
    # (the server tightens an older, readable one as it starts, and logs that).
    datadir.make_private(config.data_dir)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(config.log_level.upper())
    with datadir.private_umask():
        log_file = logging.FileHandler(config.data_dir / "ironwall.log")
    for handler in (logging.StreamHandler(), log_file):
        handler.setFormatter(formatter)
        root.addHandler(handler)


def _tune_garbage_collector() -> None:
    """Keep Python's cycle collector from pausing a busy server.

    With the default thresholds, a collection runs every 700 allocations and finds the
    stanzas still in flight, which then age into the older generations; each full
    collection walks every object of every session (about half a second with 10,000
    sessions, measured with ``bench/compare.py``). Everything loaded at start lives as
    long as the process and is frozen out of collections; a young generation of 50,000
    lets routed stanzas die young, so the older generations grow only with sessions.
    """
    gc.freeze()
    gc.set_threshold(_YOUNG_GENERATION, 20, 10)


async def _serve(config: Config) -> int:
    server = Server(config)
    # Before the start: it logs "listening", and a SIGTERM right after that line (a
    # service manager, a test) must stop the server cleanly, not kill it.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await server.start()
    except (ServerError, StorageError) as exc:
        return fail(str(exc))
    _tune_garbage_collector()
    await stop.wait()
    await server.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry point of ``ironwall server``."""
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        return fail(str(exc))
    _setup_logging(config)
    with contextlib.suppress(ImportError):
        import uvloop

        return int(uvloop.run(_serve(config)))
    return asyncio.run(_serve(config))

"""The ``ironwall`` command: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ironwall import __version__
from ironwall.cli import (
    account_cmd,
    admin_cmd,
    chat_cmd,
    contacts_cmd,
    demo_cmd,
    messages_cmd,
    server_cmd,
)
from ironwall.cli.client_common import add_account_options

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to check that every --help is complete)."""
    parser = argparse.ArgumentParser(
        prog="ironwall",
        description="Ironwall: end-to-end encrypted instant messaging on XMPP.",
    )
    parser.add_argument("--version", action="version", version=f"ironwall {__version__}")
    add_account_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chat_cmd.register(commands)
    account_cmd.register(commands)
    contacts_cmd.register(commands)
    messages_cmd.register(commands)
    demo_cmd.register(commands)
    server_cmd.register(commands)
    admin_cmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    # Everything Ironwall writes (keys, state, logs, databases) is its user's alone.
    os.umask(0o077)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        print("ironwall: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())

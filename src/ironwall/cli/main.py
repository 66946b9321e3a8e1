"""The ``ironwall`` command: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ironwall import __version__
from ironwall.cli import account_cmd, admin_cmd, chat_cmd, demo_cmd, server_cmd

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to check that every --help is complete)."""
    parser = argparse.ArgumentParser(
        prog="ironwall",
        description="Ironwall: end-to-end encrypted instant messaging on XMPP.",
    )
    parser.add_argument("--version", action="version", version=f"ironwall {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    account_cmd.register(commands)
    chat_cmd.register(commands)
    demo_cmd.register(commands)
    server_cmd.register(commands)
    admin_cmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
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

"""``ironwall chat``: the terminal chat (Textual)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from ironwall.cli.client_common import (
    PASSPHRASE_ENV,
    add_account_options,
    home_from,
    read_line_file,
)
from ironwall.cli.common import CommandError, fail
from ironwall.client import Account, list_accounts, require_account
from ironwall.client.errors import ClientError

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add ``chat``."""
    chat = commands.add_parser(
        "chat",
        help="chat in a terminal window (the easiest way to use Ironwall)",
        description=(
            "Open the terminal chat. On first use it creates your account (or logs in to an "
            "existing one); later it asks for your passphrase once and opens where you left "
            "off. F1 lists every key."
        ),
    )
    add_account_options(chat)
    chat.set_defaults(run=_chat)


def _chat(args: argparse.Namespace) -> int:
    home = home_from(args)
    try:
        account = _account(args, home)
        passphrase = _given_passphrase(args)
    except (ClientError, CommandError) as exc:
        return fail(str(exc))
    if not sys.stdout.isatty() or (sys.stdin is not None and not sys.stdin.isatty()):
        return fail("'ironwall chat' needs a terminal; use 'send' and 'listen' in scripts")
    from ironwall.tui.app import ChatApp

    # The terminal belongs to the chat: warnings go to a file beside the account state
    # (they name failures, never content or secrets).
    home.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=home / "chat.log",
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app = ChatApp(home, account, passphrase=passphrase, quiet_gc=True)
    code = app.run()
    return code if isinstance(code, int) else 0


def _account(args: argparse.Namespace, home: Path) -> Account | None:
    """The account to open, or None for the first-run setup."""
    if getattr(args, "account", None) is None and not list_accounts(home):
        return None
    return require_account(home, getattr(args, "account", None))


def _given_passphrase(args: argparse.Namespace) -> str | None:
    if getattr(args, "passphrase_file", None) is not None:
        return read_line_file(args.passphrase_file, "passphrase")
    return os.environ.get(PASSPHRASE_ENV) or None

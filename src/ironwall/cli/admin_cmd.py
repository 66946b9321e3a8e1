"""``ironwall admin``: manage accounts directly in the server's database.

Works while the server runs: SQLite in WAL mode lets both processes use the file.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ironwall.cli.admin_invite import add_invite_parser, invite
from ironwall.cli.common import CommandError, fail, read_secret
from ironwall.cli.server_cmd import add_config_arguments, config_from_args
from ironwall.server.accounts import AccountError, Accounts, account_jid
from ironwall.server.config import ConfigError
from ironwall.storage import StorageError, open_driver

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add the ``admin`` subcommand and its actions."""
    parser = commands.add_parser(
        "admin",
        help="manage user accounts on this server",
        description="Manage user accounts in the server's database (also while the server runs).",
    )
    add_config_arguments(parser)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add_invite_parser(actions)
    adduser = actions.add_parser(
        "adduser",
        help="create an account",
        description=(
            "Create an account. The password is read from standard input, "
            "or asked for on a terminal."
        ),
    )
    adduser.add_argument("jid", metavar="JID", help="the new account, e.g. alice@localhost")
    passwd = actions.add_parser(
        "passwd",
        help="set an account's password",
        description=(
            "Set a new password. It is read from standard input, or asked for on a terminal."
        ),
    )
    passwd.add_argument("jid", metavar="JID", help="the account, e.g. alice@localhost")
    deluser = actions.add_parser(
        "deluser",
        help="delete an account",
        description="Delete an account and everything stored for it.",
    )
    deluser.add_argument("jid", metavar="JID", help="the account, e.g. alice@localhost")
    actions.add_parser(
        "users", help="list accounts", description="List every account, one per line."
    )
    parser.set_defaults(run=run)


async def _run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    driver = open_driver(config.database_url)
    await driver.open()
    try:
        accounts = Accounts(driver)
        if args.action == "invite":
            return await invite(args, config, driver)
        if args.action == "users":
            for user in await accounts.users():
                print(user)
            return 0
        jid = account_jid(args.jid)
        if jid.domain not in config.domains:
            raise CommandError(
                f"{jid.domain} is not a domain of this server ({', '.join(config.domains)})"
            )
        if args.action == "adduser":
            if await accounts.exists(jid):
                raise CommandError(
                    f"the account {jid} already exists; use 'passwd' to change its password"
                )
            await accounts.create(jid, read_secret(f"Password for {jid}: ", confirm=True))
            print(f"created {jid}")
        elif args.action == "passwd":
            if not await accounts.exists(jid):
                raise CommandError(f"the account {jid} does not exist; create it with 'adduser'")
            await accounts.set_password(jid, read_secret(f"New password for {jid}: ", confirm=True))
            print(f"password of {jid} changed")
        elif args.action == "deluser":
            await accounts.delete(jid)
            print(f"deleted {jid}")
        return 0
    finally:
        await driver.close()


def run(args: argparse.Namespace) -> int:
    """Entry point of ``ironwall admin``."""
    try:
        return asyncio.run(_run(args))
    except (CommandError, AccountError, ConfigError, StorageError) as exc:
        return fail(str(exc))

"""``ironwall admin``: manage accounts, on the running server or in its database.

Reading and creating accounts use the database directly, which works while the server
runs (SQLite in WAL mode lets both processes use the file). What must also reach the
server's live state goes through its control socket (``server/control.py``) when it
runs: a new password or a deletion ends the account's sessions, and failed-login
limits live only in the server's memory. With no server running, ``passwd`` and
``deluser`` change the database directly.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import ipaddress
import sys
from typing import Any

from ironwall.cli.admin_invite import add_invite_parser, invite
from ironwall.cli.common import CommandError, fail, read_secret
from ironwall.cli.server_cmd import add_config_arguments, config_from_args
from ironwall.proto.jid import JID
from ironwall.server import control, datadir
from ironwall.server.accounts import AccountError, Accounts, account_jid
from ironwall.server.config import Config, ConfigError
from ironwall.storage import StorageError, open_driver

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add the ``admin`` subcommand and its actions."""
    parser = commands.add_parser(
        "admin",
        help="manage user accounts on this server",
        description=(
            "Manage user accounts (also while the server runs: then a new password or a "
            "deletion also ends the account's sessions at once)."
        ),
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
        "users",
        help="list accounts",
        description="List every account, one per line; a revoked one says so.",
    )
    unblock = actions.add_parser(
        "unblock",
        help="clear failed-login limits of an address or an account",
        description=(
            "Clear the failed-login limits of an IP address (its own and those of its "
            "logins to each account), or of an account (from every address), on the "
            "running server."
        ),
    )
    unblock.add_argument(
        "target", metavar="ADDRESS|JID", help="an IP address, or an account such as alice@localhost"
    )
    parser.set_defaults(run=run)


async def _run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.action == "unblock":
        request = _unblock_request(args.target, config)
        try:
            print(await _on_server(config, request))
        except control.ServerNotRunning as exc:
            raise CommandError(
                f"{exc}; failed-login limits exist only in a running server, so nothing "
                "is limited now"
            ) from None
        return 0
    datadir.make_private(config.data_dir)
    driver = open_driver(config.database_url)
    await driver.open()
    try:
        accounts = Accounts(driver)
        if args.action == "invite":
            return await invite(args, config, driver)
        if args.action == "users":
            await _list(accounts)
            return 0
        jid = _local_account(args.jid, config)
        if args.action == "adduser":
            if await accounts.exists(jid):
                raise CommandError(
                    f"the account {jid} already exists; use 'passwd' to change its password"
                )
            await accounts.create(jid, read_secret(f"Password for {jid}: ", confirm=True))
            print(f"created {jid}")
            return 0
        if not await accounts.exists(jid):
            raise CommandError(f"the account {jid} does not exist; create it with 'adduser'")
        if args.action == "passwd":
            password = read_secret(f"New password for {jid}: ", confirm=True)
            request = {"command": "passwd", "jid": str(jid), "password": password}
            try:
                print(await _on_server(config, request))
            except control.ServerNotRunning as exc:
                _note_direct(exc)
                await accounts.set_password(jid, password)
                print(f"password of {jid} changed")
        elif args.action == "deluser":
            try:
                print(await _on_server(config, {"command": "deluser", "jid": str(jid)}))
            except control.ServerNotRunning as exc:
                _note_direct(exc)
                await accounts.delete(jid)
                print(f"deleted {jid}")
        return 0
    finally:
        await driver.close()


async def _list(accounts: Accounts) -> None:
    for user in await accounts.users():
        state = await accounts.state(account_jid(user))
        if state is not None and state.revoked is not None:
            when = dt.datetime.fromtimestamp(state.revoked, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            print(f"{user} (revoked by its owner on {when})")
        else:
            print(user)


async def _on_server(config: Config, request: dict[str, str]) -> str:
    """Run ``request`` on the running server; ServerNotRunning if there is none."""
    try:
        return await control.request(config.data_dir, request)
    except control.ServerNotRunning:
        raise
    except control.ControlError as exc:
        raise CommandError(str(exc)) from None


def _note_direct(reason: control.ServerNotRunning) -> None:
    # Only a stale socket is worth a word: with no server at all this is the usual way.
    if isinstance(reason, control.StaleSocket):
        print(f"ironwall: note: {reason}; changing the database directly", file=sys.stderr)


def _local_account(text: str, config: Config) -> JID:
    jid = account_jid(text)
    if jid.domain not in config.domains:
        raise CommandError(
            f"{jid.domain} is not a domain of this server ({', '.join(config.domains)})"
        )
    return jid


def _unblock_request(target: str, config: Config) -> dict[str, str]:
    try:
        return {"command": "unblock", "address": str(ipaddress.ip_address(target))}
    except ValueError:
        pass
    if "@" not in target:
        raise CommandError(f"'{target}' is neither an IP address nor an account (user@domain)")
    return {"command": "unblock", "jid": str(_local_account(target, config))}


def run(args: argparse.Namespace) -> int:
    """Entry point of ``ironwall admin``."""
    try:
        return asyncio.run(_run(args))
    except (CommandError, AccountError, ConfigError, StorageError) as exc:
        return fail(str(exc))

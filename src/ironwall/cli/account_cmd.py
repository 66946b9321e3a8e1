"""``ironwall account``: create, log in on a new device, change passphrase, recover, revoke, delete."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ironwall.cli.client_common import (
    account_from,
    add_account_options,
    add_server_options,
    address_from,
    home_from,
    read_passphrase,
    read_password,
    run_client,
)
from ironwall.cli.common import CommandError
from ironwall.client.core import Account
from ironwall.e2e import format_fingerprint

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add ``account`` and its actions."""
    parser = commands.add_parser(
        "account",
        help="create or manage your account and its keys",
        description=(
            "Your account and its encryption key. The key is made, published and stored on the "
            "server sealed with your passphrase: any device with the passphrase can log in and "
            "read your encrypted messages."
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = actions.add_parser(
        "create",
        help="register an account and make its keys",
        description=(
            "Register JID on its server (in-band), make its OpenPGP key, publish the public key, "
            "store the secret key sealed with your passphrase, and show a recovery code."
        ),
    )
    create.add_argument("jid", metavar="JID", help="the account, e.g. alice@localhost")
    add_account_options(create)
    add_server_options(create)
    create.add_argument(
        "--existing",
        action="store_true",
        help="the account already exists: log in with its password instead of registering",
    )
    create.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help="with --existing: the account's password (or set $IRONWALL_PASSWORD)",
    )
    create.set_defaults(run=_create)

    login = actions.add_parser(
        "login",
        help="use your account on this device",
        description="Fetch the sealed key from the server and unlock it with the passphrase.",
    )
    login.add_argument("jid", metavar="JID", help="the account, e.g. alice@localhost")
    add_account_options(login)
    add_server_options(login)
    login.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help="for accounts made with --existing: the account's password (or $IRONWALL_PASSWORD)",
    )
    login.set_defaults(run=_login)

    passphrase = actions.add_parser(
        "passphrase",
        help="change your passphrase",
        description="Seal the key under a new passphrase (the key itself stays the same).",
    )
    add_account_options(passphrase)
    passphrase.add_argument(
        "--new-passphrase-file", type=Path, metavar="FILE", help="read the new passphrase from FILE"
    )
    passphrase.set_defaults(run=_passphrase)

    recover = actions.add_parser(
        "recover",
        help="set a new passphrase with your recovery code",
        description="Unlock the key with the recovery code you were shown, and choose a new passphrase.",
    )
    add_account_options(recover)
    recover.add_argument(
        "--recovery-code-file", type=Path, metavar="FILE", help="read the code from FILE"
    )
    recover.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help="the account password, if this device never logged in (ask the server admin to set one)",
    )
    recover.set_defaults(run=_recover)

    revoke = actions.add_parser(
        "revoke",
        help="your account is compromised: revoke its key and lock it",
        description=(
            "Publish a revocation signed by your key (contacts stop encrypting to it and are told "
            "why), withdraw the key, and lock the account with a random password."
        ),
    )
    add_account_options(revoke)
    revoke.add_argument("--yes", action="store_true", help="do it without asking")
    revoke.set_defaults(run=_revoke)

    delete = actions.add_parser(
        "delete",
        help="delete your account from the server and this device",
        description="Remove the account and everything the server and this device hold for it.",
    )
    add_account_options(delete)
    delete.add_argument("--yes", action="store_true", help="do it without asking")
    delete.set_defaults(run=_delete)


def _confirm(args: argparse.Namespace, question: str) -> None:
    if args.yes:
        return
    if sys.stdin is None or not sys.stdin.isatty():
        raise CommandError("this cannot be undone: add --yes to confirm")
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise CommandError("cancelled; nothing was changed")


def _read_line(path: Path | None, prompt: str) -> str:
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError):
            raise CommandError(f"cannot read {path}") from None
    if sys.stdin is None or not sys.stdin.isatty():
        raise CommandError("give it in a file (see --help)")
    return input(prompt)


def _new_account(args: argparse.Namespace) -> Account:
    account = Account(args.jid, home_from(args))
    if account.state.get("fingerprint"):
        account.close()
        raise CommandError(f"{account.jid} is already set up on this device")
    account.remember_address(address_from(args))
    return account


def _create(args: argparse.Namespace) -> int:
    async def work() -> int:
        password = read_password(args) if args.existing else None
        if args.existing and password is None:
            raise CommandError(
                "--existing needs the account's password: --password-file FILE or $IRONWALL_PASSWORD"
            )
        passphrase = read_passphrase(args, new=True, prompt="Choose a passphrase: ")
        account = _new_account(args)
        try:
            fingerprint, code = await account.create(passphrase, existing_password=password)
        except BaseException:
            account.forget()
            raise
        print(f"Account {account.jid} is ready.")
        print(f"Your key: {format_fingerprint(fingerprint)}")
        print(f"Recovery code (write it down, it is shown once): {code}")
        account.close()
        return 0

    return run_client(work)


def _login(args: argparse.Namespace) -> int:
    async def work() -> int:
        passphrase = read_passphrase(args)
        account = _new_account(args)
        try:
            async with account.session(passphrase, password=read_password(args)) as session:
                assert session.identity is not None
                synced = await session.sync_archive()
                key = format_fingerprint(session.identity.fingerprint)
                print(f"Logged in as {account.jid}; key {key}")
                if synced:
                    print(f"{synced} messages from your archive are in 'ironwall history'.")
        except BaseException:
            account.forget()
            raise
        account.close()
        return 0

    return run_client(work)


def _passphrase(args: argparse.Namespace) -> int:
    async def work() -> int:
        account = account_from(args)
        old = read_passphrase(args, prompt="Current passphrase: ")
        if args.new_passphrase_file is not None:
            new = _read_line(args.new_passphrase_file, "")
        else:
            new = read_passphrase(
                argparse.Namespace(passphrase_file=None), new=True, prompt="New passphrase: "
            )
        derived = account.state.get("login_kind") != "given"
        async with account.session(old) as session:
            await session.change_passphrase(old, new, derived_login=derived)
        print("Passphrase changed.")
        return 0

    return run_client(work)


def _recover(args: argparse.Namespace) -> int:
    async def work() -> int:
        account = account_from(args)
        code = _read_line(args.recovery_code_file, "Recovery code: ")
        new = read_passphrase(args, new=True, prompt="New passphrase: ")
        await account.recover(code, new, password=read_password(args))
        print("Your key is unlocked and sealed under the new passphrase.")
        return 0

    return run_client(work)


def _revoke(args: argparse.Namespace) -> int:
    async def work() -> int:
        account = account_from(args)
        _confirm(args, f"Revoke the key of {account.jid} and lock the account?")
        async with account.session(read_passphrase(args)) as session:
            await session.revoke()
        print(f"The key of {account.jid} is revoked and the account is locked.")
        return 0

    return run_client(work)


def _delete(args: argparse.Namespace) -> int:
    async def work() -> int:
        account = account_from(args)
        _confirm(args, f"Delete {account.jid} from the server and this device?")
        async with account.session(read_passphrase(args)) as session:
            await session.delete_account()
        account.forget()
        print(f"{account.jid} is deleted.")
        return 0

    return run_client(work)

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
    read_line_file,
    read_passphrase,
    read_password,
    run_client,
)
from ironwall.cli.common import CommandError
from ironwall.client import Account
from ironwall.client.archive import sync_archive
from ironwall.client.invites import Invite, parse_invite
from ironwall.client.server_account import STRANGER_POLICIES, strangers_policy
from ironwall.client.text import visible
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
    create.add_argument(
        "jid",
        metavar="JID",
        nargs="?",
        help="the account, e.g. alice@localhost (may be left out if the --invite names it)",
    )
    add_account_options(create)
    add_server_options(create)
    create.add_argument(
        "--invite",
        metavar="LINK",
        help="an invite link from the server's admin (xmpp:example.org?register;preauth=...)",
    )
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

    strangers = actions.add_parser(
        "strangers",
        help="what happens to messages from people who are not your contacts",
        description=(
            "Show or set what your server does with messages and contact requests from people "
            "not in your contacts: allow them, limit them (the usual default: a few per "
            "minute), or refuse them."
        ),
    )
    strangers.add_argument("policy", nargs="?", choices=STRANGER_POLICIES, help="the new setting")
    add_account_options(strangers)
    strangers.set_defaults(run=_strangers)

    revoke = actions.add_parser(
        "revoke",
        help="your account is compromised: revoke its key and lock it",
        description=(
            "Publish a revocation signed by your key (contacts stop encrypting to it and are told "
            "why), then have the server lock the account for good: every session of it is "
            "closed and no one can log in to it again."
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


def _read_line(path: Path | None, what: str, prompt: str) -> str:
    if path is not None:
        return read_line_file(path, what)
    if sys.stdin is None or not sys.stdin.isatty():
        raise CommandError(f"no {what}: give it in a file (see --help)")
    return input(prompt)


def _progress(text: str) -> None:
    # On standard output, with the results: standard error holds only the one-line errors.
    print(text, flush=True)


def _new_account(args: argparse.Namespace, invite: Invite | None = None) -> Account:
    if args.jid is None and invite is None:
        raise CommandError("name the account to set up, e.g. alice@localhost")
    jid = args.jid if invite is None else invite.jid(_local_part(args.jid))
    account = Account(jid, home_from(args))
    if account.exists:
        raise CommandError(f"{account.jid} is already set up on this device")
    account.remember_address(address_from(args))
    return account


def _local_part(jid: str | None) -> str | None:
    return None if jid is None else jid.partition("@")[0] if "@" in jid else jid


def _create(args: argparse.Namespace) -> int:
    async def work() -> int:
        invite = parse_invite(args.invite) if args.invite else None
        account = _new_account(args, invite)
        password = read_password(args) if args.existing else None
        if args.existing and password is None:
            raise CommandError(
                "--existing needs the account's password: --password-file FILE or $IRONWALL_PASSWORD"
            )
        passphrase = read_passphrase(args, new=True, prompt="Choose a passphrase: ")
        fingerprint, code = await account.create(
            passphrase,
            existing_password=password,
            invite=invite.token if invite else None,
            progress=_progress,
        )
        print(f"Account {account.jid} is ready.")
        print(f"Your key: {format_fingerprint(fingerprint)}")
        print(f"Recovery code (write it down, it is shown once): {code}")
        print(
            "Keep the recovery code somewhere safe, away from this device: with it you can set "
            "a new passphrase if you forget this one."
        )
        return 0

    return run_client(work, changes=True)


def _login(args: argparse.Namespace) -> int:
    async def work() -> int:
        account = _new_account(args)
        passphrase = read_passphrase(args)
        password = read_password(args)
        fingerprint = await account.login(passphrase, password=password, progress=_progress)
        print(f"Logged in as {account.jid}; key {format_fingerprint(fingerprint)}")
        _progress("Reading your message archive...")
        async with account.open(passphrase, password=password) as session:
            synced = await sync_archive(session)
            unread = len(session.state.unread())
        if synced:
            print(
                f"{synced} messages came from your archive ({unread} unread): 'ironwall listen' "
                "shows the unread ones, 'ironwall history JID' a conversation."
            )
        return 0

    return run_client(work)


def _passphrase(args: argparse.Namespace) -> int:
    async def work() -> int:
        account = account_from(args)
        old = read_passphrase(args, prompt="Current passphrase: ")
        if args.new_passphrase_file is not None:
            new = read_line_file(args.new_passphrase_file, "new passphrase")
        else:
            new = read_passphrase(
                argparse.Namespace(passphrase_file=None), new=True, prompt="New passphrase: "
            )
        _progress("Sealing your key with the new passphrase...")
        await account.change_passphrase(old, new)
        print("Passphrase changed. Your other devices log in with the new one from now on.")
        return 0

    return run_client(work, changes=True)


def _recover(args: argparse.Namespace) -> int:
    async def work() -> int:
        account = account_from(args)
        code = _read_line(args.recovery_code_file, "recovery code", "Recovery code: ")
        new = read_passphrase(args, new=True, prompt="New passphrase: ")
        _progress("Unlocking your key with the recovery code...")
        fresh = await account.recover(code, new, password=read_password(args))
        print("Your key is unlocked and sealed under the new passphrase.")
        print("Your other devices log in with the new passphrase from now on.")
        print(f"New recovery code (the old one no longer works; write it down): {fresh}")
        return 0

    return run_client(work, changes=True)


def _strangers(args: argparse.Namespace) -> int:
    async def work() -> int:
        account = account_from(args)
        async with account.open(read_passphrase(args)) as session:
            policy = await strangers_policy(session.connection, args.policy)
        if policy is None:
            raise CommandError("your server does not offer this setting")
        words = {
            "allow": "delivered like your contacts' messages",
            "limit": "delivered, a few per minute at most",
            "refuse": "refused",
        }
        print(f"Messages and requests from people not in your contacts: {words[policy]}.")
        return 0

    return run_client(work, changes=args.policy is not None)


def _revoke(args: argparse.Namespace) -> int:
    async def work() -> int:
        account = account_from(args)
        _confirm(args, f"Revoke the key of {account.jid} and lock the account for good?")
        locked = await account.revoke(read_passphrase(args))
        jid = visible(account.jid)
        if locked:
            print(f"The key of {jid} is revoked and the server has locked the account for good.")
        else:
            print(
                f"The key of {jid} is revoked. This server cannot lock accounts, so its password "
                "was set to a random one nobody knows; ask its admin to disable the account."
            )
        print("Contacts are told and stop encrypting to it. Create a new account to go on.")
        return 0

    return run_client(work, changes=True)


def _delete(args: argparse.Namespace) -> int:
    async def work() -> int:
        account = account_from(args)
        _confirm(args, f"Delete {account.jid} from the server and this device?")
        await account.delete(read_passphrase(args))
        print(f"{account.jid} is deleted.")
        return 0

    return run_client(work, changes=True)

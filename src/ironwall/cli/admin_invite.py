"""``ironwall admin invite``: an invite link to register one account (XEP-0401 URI).

Writes the invite to the database directly, which works while the server runs: the
server reads invites from the database whenever a token is presented.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ironwall.cli.common import CommandError
from ironwall.proto.jid import JID, InvalidJID
from ironwall.server.accounts import Accounts
from ironwall.server.config import Config
from ironwall.server.invite_tokens import InviteError, Invites, invite_uri
from ironwall.storage import StorageDriver

__all__ = ["add_invite_parser", "invite"]


def add_invite_parser(actions: Any) -> None:
    """Add the ``invite`` action to ``ironwall admin``."""
    parser = actions.add_parser(
        "invite",
        help="make an invite link to register an account",
        description=(
            "Print an invite link (xmpp:DOMAIN?register;preauth=TOKEN) that lets one person "
            'register an account, also where registration = "invite" (the recommended '
            "way to open a public server). Only a hash of the token is stored."
        ),
    )
    parser.add_argument(
        "--account-name", metavar="NAME", help="the invite registers only this username"
    )
    parser.add_argument(
        "--expires",
        metavar="HOURS",
        type=float,
        default=168.0,
        help="hours until the invite expires (default: 168, a week)",
    )
    parser.add_argument(
        "--uses", metavar="N", type=int, default=1, help="registrations it allows (default: 1)"
    )
    parser.add_argument("--domain", help="the domain to register on (default: the first served)")


async def invite(args: argparse.Namespace, config: Config, driver: StorageDriver) -> int:
    """Make the invite and print its link; CommandError says what is wrong."""
    domain = args.domain or config.domains[0]
    if domain not in config.domains:
        raise CommandError(f"{domain} is not a domain of this server ({', '.join(config.domains)})")
    account = None
    if args.account_name is not None:
        name = (
            args.account_name.partition("@")[0] if "@" in args.account_name else args.account_name
        )
        try:
            account = JID.build(name, domain).local
        except InvalidJID as exc:
            raise CommandError(f"'{args.account_name}' is not a valid username: {exc}") from None
        if await Accounts(driver).exists(JID.build(account, domain)):
            raise CommandError(f"the account {account}@{domain} already exists")
    try:
        token = await Invites(driver).create(
            domain, account=account, hours=args.expires, uses=args.uses
        )
    except InviteError as exc:
        raise CommandError(str(exc)) from None
    if config.registration_mode(domain) == "closed":
        print(
            f'note: registration is closed on {domain}; set registration = "invite" '
            "for the invite to work",
            file=sys.stderr,
        )
    print(invite_uri(domain, token, account))
    return 0

"""What the client commands share: options, the account, the passphrase, error handling."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import platformdirs

from ironwall.cli.common import CommandError, fail
from ironwall.client import Account, require_account
from ironwall.client.errors import ClientError, WrongPassphraseError
from ironwall.client.xmpp import IqFailed, ServerAddress
from ironwall.e2e import E2EError

__all__ = [
    "account_from",
    "add_account_options",
    "add_server_options",
    "home_from",
    "read_passphrase",
    "read_password",
    "run_client",
]

# Names of environment variables, not secrets.
PASSPHRASE_ENV = "IRONWALL_PASSPHRASE"  # noqa: S105
PASSWORD_ENV = "IRONWALL_PASSWORD"  # noqa: S105


def add_account_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """--home, --account and --passphrase-file, accepted before or after the subcommand.

    On the top-level parser they default to None; on subcommands they are left out unless
    given, so a value given before the subcommand is not overwritten.
    """
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--home",
        type=Path,
        metavar="DIR",
        default=default,
        help="where this device keeps its Ironwall state (default: $IRONWALL_HOME or the user data directory)",
    )
    parser.add_argument(
        "--account",
        metavar="JID",
        default=default,
        help="which account to use, if this device has several",
    )
    parser.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="FILE",
        default=default,
        help=f"read the passphrase from FILE (or set ${PASSPHRASE_ENV}); otherwise it is asked for",
    )


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """--server and --ca: how to reach the account's server."""
    parser.add_argument(
        "--server",
        metavar="HOST[:PORT]",
        help="connect here instead of looking up the JID's domain (e.g. 127.0.0.1:5222)",
    )
    parser.add_argument(
        "--ca",
        type=Path,
        metavar="FILE",
        help="trust this CA or self-signed certificate for the server (e.g. ironwall-data/tls-cert.pem)",
    )


def home_from(args: argparse.Namespace) -> Path:
    """The device's Ironwall directory."""
    if getattr(args, "home", None) is not None:
        return Path(args.home)
    if env := os.environ.get("IRONWALL_HOME"):
        return Path(env)
    return Path(platformdirs.user_data_dir("ironwall"))


def account_from(args: argparse.Namespace) -> Account:
    """The account the command works on."""
    return require_account(home_from(args), getattr(args, "account", None))


def address_from(args: argparse.Namespace) -> ServerAddress:
    """The server address given on the command line."""
    return ServerAddress.parse(args.server, args.ca)


def read_line_file(path: Path, what: str) -> str:
    """The first line of a file holding a secret."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CommandError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    if not lines or not lines[0]:
        raise CommandError(f"the {what} file {path} is empty")
    return lines[0]


def read_passphrase(
    args: argparse.Namespace, *, new: bool = False, prompt: str = "Passphrase: "
) -> str:
    """The passphrase: from --passphrase-file, $IRONWALL_PASSPHRASE, or a prompt."""
    if getattr(args, "passphrase_file", None) is not None:
        return read_line_file(args.passphrase_file, "passphrase")
    if env := os.environ.get(PASSPHRASE_ENV):
        return env
    if sys.stdin is None or not sys.stdin.isatty():
        raise CommandError(f"no passphrase: use --passphrase-file FILE or set {PASSPHRASE_ENV}")
    first = getpass.getpass(prompt)
    if new and getpass.getpass("Repeat it: ") != first:
        raise CommandError("the two entries differ; nothing was changed")
    return first


def read_password(args: argparse.Namespace) -> str | None:
    """An existing account's password, if given (--password-file or $IRONWALL_PASSWORD)."""
    if getattr(args, "password_file", None) is not None:
        return read_line_file(args.password_file, "password")
    return os.environ.get(PASSWORD_ENV)


def run_client(work: Callable[[], Awaitable[int]], *, changes: bool = False) -> int:
    """Run an async client command; every expected failure is one line and exit code 1.

    ``changes``: the command changes something, so a refusal says that nothing was.
    """
    try:
        return asyncio.run(_awaited(work))
    except WrongPassphraseError as exc:
        if changes:
            return fail(f"{exc}; nothing was changed")
        return fail(f"{exc} (try again; if it is lost, use 'ironwall account recover')")
    except (ClientError, CommandError) as exc:
        return fail(str(exc))
    except E2EError as exc:
        return fail(f"{exc}")
    except IqFailed as exc:
        return fail(f"the server refused the request ({exc.condition}); nothing was changed")


async def _awaited(work: Callable[[], Awaitable[int]]) -> int:
    # asyncio.run needs a coroutine; ``work`` may be any awaitable factory.
    return await work()

"""``ironwall contacts``, ``verify``, ``send``, ``listen`` and ``history``."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import Any

import segno

from ironwall.cli.client_common import (
    account_from,
    add_account_options,
    read_passphrase,
    run_client,
)
from ironwall.cli.common import CommandError
from ironwall.client.core import Incoming
from ironwall.e2e import TrustState, format_fingerprint

__all__ = ["format_incoming", "register"]

_STATE_WORDS = {
    TrustState.NONE: "no key",
    TrustState.UNVERIFIED: "unverified",
    TrustState.VERIFIED: "verified",
    TrustState.CHANGED: "KEY CHANGED",
    TrustState.REVOKED: "KEY REVOKED (account compromised)",
}


def register(commands: Any) -> None:
    """Add the messaging commands."""
    contacts = commands.add_parser(
        "contacts",
        help="list, add and answer contacts",
        description="Your contacts with their presence and key state; add, accept or deny contacts.",
    )
    add_account_options(contacts)
    actions = contacts.add_subparsers(dest="action", metavar="ACTION")
    for name, text in (
        ("add", "ask JID to become a contact; their key is pinned"),
        ("accept", "accept JID's contact request"),
        ("deny", "refuse JID's contact request"),
        ("accept-key", "accept JID's changed key (sending resumes)"),
        ("allow-plaintext", "let messages to JID go unencrypted when JID has no key"),
        ("forbid-plaintext", "never send unencrypted messages to JID (the default)"),
    ):
        action = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument("jid", metavar="JID", help="the contact, e.g. bob@localhost")
        add_account_options(action)
    actions.add_parser("list", help="list contacts (the default)", description="List contacts.")
    contacts.set_defaults(run=_contacts)

    verify = commands.add_parser(
        "verify",
        help="compare fingerprints with a contact and mark them verified",
        description=(
            "Show your fingerprint and JID's, as text and as a QR code. Compare them in person "
            "or over a channel you trust; if they match, JID is marked verified."
        ),
    )
    verify.add_argument("jid", metavar="JID", help="the contact, e.g. bob@localhost")
    add_account_options(verify)
    verify.add_argument(
        "--yes", action="store_true", help="they match: mark verified without asking"
    )
    verify.set_defaults(run=_verify)

    send = commands.add_parser(
        "send",
        help="send an encrypted message",
        description="Sign and encrypt a message to JID and send it. Without TEXT, it is read from standard input.",
    )
    send.add_argument("jid", metavar="JID", help="the recipient, e.g. bob@localhost")
    send.add_argument(
        "text", metavar="TEXT", nargs="?", help="the message (default: standard input)"
    )
    add_account_options(send)
    send.set_defaults(run=_send)

    listen = commands.add_parser(
        "listen",
        help="show incoming messages as they arrive",
        description=(
            "Print decrypted, verified messages with sender, time and trust state, and a warning "
            "for any message that fails a check. Messages that arrived while offline come first."
        ),
    )
    add_account_options(listen)
    listen.add_argument("--count", type=int, metavar="N", help="stop after N messages")
    listen.add_argument("--timeout", type=float, metavar="SECONDS", help="stop after SECONDS")
    listen.set_defaults(run=_listen)

    history = commands.add_parser(
        "history",
        help="show the conversation with a contact",
        description="The messages with JID that this device has seen, oldest first.",
    )
    history.add_argument("jid", metavar="JID", help="the contact, e.g. bob@localhost")
    add_account_options(history)
    history.add_argument("--limit", type=int, default=50, metavar="N", help="how many (default 50)")
    history.set_defaults(run=_history)


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def format_incoming(message: Incoming) -> str:
    """One message as ``listen`` prints it."""
    if message.status == "rejected":
        return f"{_when(message.sent_at)} {message.sender} WARNING, not shown: {message.detail}"
    if message.status == "plaintext":
        return f"{_when(message.sent_at)} {message.sender} [NOT ENCRYPTED] {message.body}"
    note = f" ({message.detail})" if message.detail else ""
    return f"{_when(message.sent_at)} {message.sender} [{message.status}{note}] {message.body}"


def _contacts(args: argparse.Namespace) -> int:
    async def work() -> int:
        account = account_from(args)
        action = args.action or "list"
        if action in ("allow-plaintext", "forbid-plaintext"):
            account.state.allow_plaintext(args.jid, action == "allow-plaintext")
            choice = "allowed when they have no key" if action == "allow-plaintext" else "never"
            print(f"Plaintext to {args.jid}: {choice}.")
            return 0
        # Listing needs presence (contacts' status, pending requests); the rest does not.
        async with account.session(
            read_passphrase(args), available=action == "list", showing=False
        ) as session:
            if action == "add":
                trust = await session.add_contact(args.jid)
                print(f"Asked {args.jid} to be a contact; their key: {_STATE_WORDS[trust.state]}.")
            elif action == "accept":
                trust = await session.accept_contact(args.jid)
                print(f"{args.jid} is a contact; their key: {_STATE_WORDS[trust.state]}.")
            elif action == "deny":
                session.deny_contact(args.jid)
                print(f"Refused {args.jid}.")
            elif action == "accept-key":
                session.accept_change(args.jid)
                print(
                    f"Accepted the new key of {args.jid}; check it with 'ironwall verify {args.jid}'."
                )
            else:
                await asyncio.sleep(0.5)
                roster = session.roster()
                pending = []
                while not session.requests.empty():
                    pending.append(session.requests.get_nowait())
                names = sorted(set(roster) | set(account.state.contacts()))
                if not names and not pending:
                    print("No contacts yet: add one with 'ironwall contacts add JID'.")
                for jid in names:
                    entry = roster.get(jid, {})
                    trust = account.state.trust(jid)
                    presence = "online" if entry.get("online") else "offline"
                    subscription = entry.get("subscription", "none")
                    if entry.get("pending_out"):
                        subscription += ", request sent"
                    print(f"{jid}  {presence}  [{subscription}]  key: {_STATE_WORDS[trust.state]}")
                if unread := account.state.unseen_count():
                    print(f"{unread} new message(s): run 'ironwall listen' to read them")
                for jid in pending:
                    print(
                        f"{jid} wants to be your contact: 'ironwall contacts accept {jid}' or 'deny'"
                    )
        return 0

    return run_client(work)


def _verify(args: argparse.Namespace) -> int:
    async def work() -> int:
        account = account_from(args)
        async with account.session(read_passphrase(args)) as session:
            trust = await session.refresh_keys(args.jid)
            theirs = sorted(trust.offered or trust.pinned - trust.revoked)
            if not theirs:
                raise CommandError(f"{args.jid} has no key to verify")
            assert session.identity is not None
            mine = session.identity.fingerprint
            print(f"Your key ({account.jid}):\n  {format_fingerprint(mine)}")
            for fingerprint in theirs:
                print(f"Key of {args.jid}:\n  {format_fingerprint(fingerprint)}")
                qr = segno.make(f"OPENPGP4FPR:{fingerprint}", error="m")
                qr.terminal(compact=True)
            if not args.yes:
                if sys.stdin is None or not sys.stdin.isatty():
                    raise CommandError(
                        "compare the fingerprints, then run again with --yes if they match"
                    )
                question = "Do both fingerprints match what your contact sees? [y/N] "
                answer = await asyncio.to_thread(input, question)
                if answer.strip().lower() not in ("y", "yes"):
                    print("Not verified.")
                    return 1
            session.verify(args.jid)
            print(f"{args.jid} is verified.")
        return 0

    return run_client(work)


def _send(args: argparse.Namespace) -> int:
    async def work() -> int:
        account = account_from(args)
        text = args.text if args.text is not None else sys.stdin.read()
        if not text.strip():
            raise CommandError("the message is empty; nothing was sent")
        async with account.session(read_passphrase(args)) as session:
            await session.send(args.jid, text.rstrip("\n"))
            # A ping round trip makes sure the server has taken the message before we leave.
            await session.sync()
        print(f"Sent to {args.jid}.")
        return 0

    return run_client(work)


def _listen(args: argparse.Namespace) -> int:
    async def work() -> int:
        account = account_from(args)
        seen = 0
        async with account.session(read_passphrase(args), available=True) as session:
            # First what arrived while no one was listening (or came from the archive).
            for entry in account.state.take_unseen():
                if args.count is not None and seen >= args.count:
                    break
                status, detail = entry.status, entry.detail
                print(
                    format_incoming(
                        Incoming(entry.peer, entry.body, status, detail, entry.sent_at)
                    ),
                    flush=True,
                )
                seen += 1
            loop = asyncio.get_running_loop()
            deadline = None if args.timeout is None else loop.time() + args.timeout
            while args.count is None or seen < args.count:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                try:
                    message = await asyncio.wait_for(session.incoming.get(), remaining)
                except TimeoutError:
                    break
                print(format_incoming(message), flush=True)
                seen += 1
        return 0

    return run_client(work)


def _history(args: argparse.Namespace) -> int:
    account = account_from(args)
    entries = account.state.history(args.jid, args.limit)
    if not entries:
        print(f"No messages with {args.jid} on this device.")
    for entry in entries:
        arrow = "->" if entry.direction == "out" else "<-"
        if entry.status == "rejected":
            print(f"{_when(entry.sent_at)} {arrow} WARNING, not shown: {entry.detail}")
        else:
            print(f"{_when(entry.sent_at)} {arrow} [{entry.status}] {entry.body}")
    return 0

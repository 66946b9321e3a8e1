"""``ironwall contacts`` and ``ironwall verify``: who you talk to, and how far to trust their keys."""

from __future__ import annotations

import argparse
import asyncio
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
from ironwall.cli.render import TRUST_WORDS
from ironwall.client.addresses import contact_address
from ironwall.client.text import visible
from ironwall.e2e import TrustError, TrustState, UserAcceptedChange, format_fingerprint

__all__ = ["register"]

_ACTIONS = (
    ("add", "ask JID to become a contact; their key is pinned"),
    ("accept", "accept JID's contact request"),
    ("deny", "refuse JID's contact request"),
    ("remove", "remove JID from your contacts (your history with them stays on this device)"),
    ("accept-key", "accept JID's changed key (sending resumes)"),
    ("allow-plaintext", "let messages to JID go unencrypted when JID has no key"),
    ("forbid-plaintext", "never send unencrypted messages to JID (the default)"),
)
# Actions that only change what this device decided, so they work offline.
_LOCAL = frozenset({"accept-key", "allow-plaintext", "forbid-plaintext"})


def register(commands: Any) -> None:
    """Add ``contacts`` and ``verify``."""
    contacts = commands.add_parser(
        "contacts",
        help="list, add and answer contacts",
        description="Your contacts with their presence and key state; add, accept or deny contacts.",
    )
    add_account_options(contacts)
    actions = contacts.add_subparsers(dest="action", metavar="ACTION")
    for name, text in _ACTIONS:
        action = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument("jid", metavar="JID", help="the contact, e.g. bob@localhost")
        add_account_options(action)
    listing = actions.add_parser(
        "list", help="list contacts (the default)", description="List contacts."
    )
    add_account_options(listing)
    contacts.set_defaults(run=_contacts)

    verify = commands.add_parser(
        "verify",
        help="compare fingerprints with a contact and mark them verified",
        description=(
            "Show your fingerprint and JID's, as text and as a QR code. Compare them in person "
            "or over a channel you trust; if they match, JID is marked verified (on all your "
            "devices)."
        ),
    )
    verify.add_argument("jid", metavar="JID", help="the contact, e.g. bob@localhost")
    add_account_options(verify)
    verify.add_argument(
        "--yes", action="store_true", help="they match: mark verified without asking"
    )
    verify.set_defaults(run=_verify)


def _contacts(args: argparse.Namespace) -> int:
    action = getattr(args, "action", None) or "list"

    async def work() -> int:
        jid = contact_address(args.jid) if action != "list" else ""
        account = account_from(args)
        passphrase = read_passphrase(args)
        if action in _LOCAL:
            _identity, state, _login = await account.unlock(passphrase)
            try:
                if action == "accept-key":
                    try:
                        state.set_trust(jid, state.trust(jid).apply(UserAcceptedChange()))
                    except TrustError:
                        raise CommandError(
                            f"{jid}'s key has not changed; there is nothing to accept"
                        ) from None
                    print(f"Accepted the new key of {jid}; check it with 'ironwall verify {jid}'.")
                else:
                    allowed = action == "allow-plaintext"
                    state.allow_plaintext(jid, allowed)
                    choice = "allowed when they have no key" if allowed else "never"
                    print(f"Plaintext to {jid}: {choice}.")
            finally:
                state.close()
            return 0
        # Listing needs presence (contacts' status, pending requests); the rest does not.
        async with account.open(passphrase, available=action == "list") as session:
            if action == "add":
                trust = await session.add_contact(jid)
                await session.ping()
                print(f"Asked {jid} to be a contact; their key: {TRUST_WORDS[trust.state]}.")
            elif action == "accept":
                trust = await session.accept_contact(jid)
                await session.ping()
                print(f"{jid} is a contact; their key: {TRUST_WORDS[trust.state]}.")
            elif action == "deny":
                session.deny_contact(jid)
                await session.ping()
                print(f"Refused {jid}.")
            elif action == "remove":
                await session.remove_contact(jid)
                print(f"Removed {jid} from your contacts.")
            else:
                await _list(session)
        return 0

    return run_client(work, changes=action != "list")


async def _list(session: Any) -> None:
    # Presence and requests arrive just after login; every key is read again, so a
    # revocation or a change shows here.
    await asyncio.sleep(0.5)
    contacts = session.contacts()
    await session.keyring.refresh_all([contact.jid for contact in contacts])
    contacts = session.contacts()
    pending = session.pending_requests()
    if not contacts and not pending:
        print("No contacts yet: add one with 'ironwall contacts add JID'.")
    for contact in contacts:
        presence = "online" if contact.online else "offline"
        subscription = contact.subscription + (", request sent" if contact.request_sent else "")
        key = TRUST_WORDS[contact.trust]
        if contact.trust is TrustState.NONE and contact.plaintext_allowed:
            key += ", plaintext allowed"
        unread = f"  {contact.unread} unread" if contact.unread else ""
        print(f"{visible(contact.jid)}  {presence}  [{subscription}]  key: {key}{unread}")
    if unread := sum(session.unread_counts().values()):
        print(f"{unread} unread message(s): 'ironwall listen' shows them")
    for jid in pending:
        safe = visible(jid)
        print(f"{safe} wants to be your contact: 'ironwall contacts accept {safe}' or 'deny'")


def _verify(args: argparse.Namespace) -> int:
    async def work() -> int:
        jid = contact_address(args.jid)
        account = account_from(args)
        async with account.open(read_passphrase(args)) as session:
            trust = await session.refresh_keys(jid)
            theirs = sorted(trust.offered or trust.pinned - trust.revoked)
            if not theirs:
                raise CommandError(f"{jid} has no key to verify")
            mine = session.identity.fingerprint
            print(f"Your key ({account.jid}):\n  {format_fingerprint(mine)}")
            for fingerprint in theirs:
                print(f"Key of {jid}:\n  {format_fingerprint(fingerprint)}")
                print(f"QR code of {jid}'s key (scan it with their device to compare):")
                qr = segno.make(f"OPENPGP4FPR:{fingerprint}", error="m")
                qr.terminal(compact=True)
            if not args.yes:
                if sys.stdin is None or not sys.stdin.isatty():
                    raise CommandError(
                        "compare the fingerprints, then run again with --yes if they match"
                    )
                question = f"Do both fingerprints match what {jid} sees on their device? [y/N] "
                answer = await asyncio.to_thread(input, question)
                if answer.strip().lower() not in ("y", "yes"):
                    print("Not verified.")
                    return 1
            await session.verify(jid)
            print(f"{jid} is verified (on all your devices).")
        return 0

    return run_client(work, changes=True)
